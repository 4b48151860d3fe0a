"""My data: the export holds everything, decoded; deleting the account, after an explicit
confirmation, leaves nothing of the citizen readable in the wallet or the ledger, and the ledger's
audit stays green. Real HTTP through the ASGI app, the real database, searched row by row."""

from __future__ import annotations

import json

from sqlalchemy import MetaData, select

from consent.audit import LocalSource, audit
from keys.jwk import load_public_jwk
from tests.auth.conftest import JUNHO, MINJI
from tests.conftest import bearer_for
from tests.verifiers.conftest import youth_claims
from tests.wallet.test_wallet_app import BIRTH_DATE, offer_links, open_check, receive_all, share
from vc.status_list import INVALID, verify_status_list_token

WALLET_SCOPES = ["wallet", "consent:read", "consent:withdraw"]


def minji_applies(client, platform) -> tuple[dict[str, str], dict]:
    minji = bearer_for(client, platform, f"citizen:{MINJI}", WALLET_SCOPES)
    receive_all(client, minji, offer_links(client, platform, MINJI, youth_claims()))
    _, link, _ = open_check(client, platform, applicant_of=MINJI)
    return minji, share(client, minji, link)


def rows_of(engine, prefixes: tuple[str, ...] = ("",)) -> dict[str, list[str]]:
    """Every row of every table (whose name starts with one of `prefixes`) as text, bytes included."""
    metadata = MetaData()
    metadata.reflect(engine)
    out: dict[str, list[str]] = {}
    with engine.connect() as connection:
        for name, table in metadata.tables.items():
            if not name.startswith(prefixes):
                continue
            out[name] = [
                " ".join(v.decode("latin-1") if isinstance(v, bytes) else str(v) for v in row)
                for row in connection.execute(select(table))
            ]
    return out


def test_the_export_holds_every_credential_decoded_every_consent_with_its_receipt_and_the_history(
    client, platform
) -> None:
    minji, outcome = minji_applies(client, platform)
    answer = client.get("/wallet/api/export", headers=minji)
    assert answer.status_code == 200
    assert (
        answer.headers["content-disposition"].startswith("attachment;")
        and ".json" in answer.headers["content-disposition"]
    )
    document = json.loads(answer.content)
    assert document["citizen"] == MINJI and len(document["credentials"]) == 6
    (residency,) = [c for c in document["credentials"] if c["configuration_id"] == "resident_registration"]
    assert residency["claims"]["birth_date"] == BIRTH_DATE and residency["sd_jwt"].count("~") >= 2
    (consent,) = [c for c in document["consents"] if c["id"] == outcome["consent_record_id"]]
    assert consent["receipt"] and [e["type"] for e in consent["history"]][:2] == ["requested", "granted"]
    assert {entry["kind"] for entry in document["history"]} >= {"issuance", "presentation"}
    # Junho's export holds none of it.
    junho = bearer_for(client, platform, f"citizen:{JUNHO}", WALLET_SCOPES)
    theirs = client.get("/wallet/api/export", headers=junho).json()
    assert theirs["credentials"] == [] and theirs["consents"] == [] and BIRTH_DATE not in json.dumps(theirs)


def test_deleting_without_the_confirmation_deletes_nothing(client, platform) -> None:
    minji, _ = minji_applies(client, platform)
    for body in ({"confirm": "delete"}, {"confirm": ""}):
        answer = client.post("/wallet/api/account/erase", json=body, headers=minji)
        assert answer.status_code == 400 and answer.json()["reason"] == "confirmation_required"
    assert client.post("/wallet/api/account/erase", json={}, headers=minji).status_code == 422
    assert len(client.get("/wallet/api/credentials", headers=minji).json()["credentials"]) == 6


def test_after_deletion_nothing_of_the_citizen_is_readable_and_the_ledger_still_audits(
    client, platform, tmp_path
) -> None:
    minji, outcome = minji_applies(client, platform)
    junho = bearer_for(client, platform, f"citizen:{JUNHO}", WALLET_SCOPES)
    receive_all(
        client,
        junho,
        offer_links(
            client,
            platform,
            JUNHO,
            {"resident_registration": {**youth_claims()["resident_registration"], "birth_date": "1998-03-04"}},
        ),
    )
    record_id = outcome["consent_record_id"]
    audit(LocalSource(client.app.state.wallet.presenter.ledger), state_path=tmp_path / "audit.json")
    status_index = client.get(f"/consent/me/{record_id}", headers=minji).json()["status_index"]

    erased = client.post("/wallet/api/account/erase", json={"confirm": "DELETE"}, headers=minji)

    assert erased.status_code == 200, erased.text
    counts = erased.json()
    assert counts["erased"] is True and counts["credentials"] == 6 and counts["consents"] >= 1
    assert counts["history"] >= 7
    everything = rows_of(platform.engine)
    # No claim value anywhere in the database: not in the wallet, the ledger, the verifier or the issuer.
    assert not [name for name, rows in everything.items() if any(BIRTH_DATE in row for row in rows)]
    # Nothing in the wallet or the ledger names her, and her data key is gone.
    mine = rows_of(platform.engine, ("wallet_", "consent_", "data_keys"))
    assert not [name for name, rows in mine.items() if any(MINJI in row for row in rows)]
    assert any("1998-03-04" not in row for row in mine["wallet_credentials"])  # Junho's stays, sealed
    assert len(client.get("/wallet/api/credentials", headers=junho).json()["credentials"]) == 1
    # The verifier's consent status list says INVALID for her consent; the log audits as before.
    ledger = client.app.state.wallet.presenter.ledger
    jwk = client.get("/consent/jwks.json").json()["keys"][0]
    served = verify_status_list_token(
        client.get("/consent/status/seoul-youth").text,
        load_public_jwk({k: jwk[k] for k in ("kty", "crv", "x")}),
        expected_uri=ledger.status_list_uri("verifier:seoul-youth"),
        now=int(ledger.clock()),
    )
    assert served.status(status_index) == INVALID
    report = audit(LocalSource(ledger), state_path=tmp_path / "audit.json")
    assert report.tree_size > 0
    # Her wallet is empty: the same token now finds nothing.
    assert client.get("/wallet/api/credentials", headers=minji).json() == {"credentials": []}
    assert client.get("/consent/me", headers=minji).json()["consents"] == []
    assert client.get("/wallet/api/history", headers=minji).json()["entries"] == []
