"""The citizen's history (EUDI ARF dashboard: the transaction log) over the JSON API: every issuance
and presentation with its time, the party's name and identifier, the credential types and claim
names requested and shared, the outcome and the consent record, and never a claim value. Real HTTP
through the ASGI app (and a spec verifier under a host of its own), the real database."""

from __future__ import annotations

import httpx
from sqlalchemy import text

from keys.datakeys import DataKeyStore
from seoul_wallet.app import consent_ledger
from tests.auth.conftest import JUNHO, MINJI
from tests.conftest import bearer_for
from tests.verifiers.conftest import youth_claims
from tests.wallet.hosts import Hosts
from tests.wallet.present_support import Holdings
from tests.wallet.spec_verifier import SpecVerifier
from tests.wallet.test_wallet_app import BIRTH_DATE, offer_links, open_check, receive_all, share
from wallet.history import History
from wallet.present import PlatformVerifiers, PresentationService
from wallet.receive import CredentialReceiver
from wallet.vault import Vault

RESIDENT_VCT = "urn:seoul-wallet:vct:resident-registration:1"
# Claim values of youth_claims() (not names, not enum member names the display metadata lists).
CLAIM_VALUES = (BIRTH_DATE, "2026-11-01", "nhis_premium", "university_undergrad")


def citizen(client, platform, citizen_id: str = MINJI) -> dict[str, str]:
    return bearer_for(client, platform, f"citizen:{citizen_id}", ["wallet"])


def history(client, headers, **params) -> dict:
    answer = client.get("/wallet/api/history", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


def claims_of(entry: dict, part: str) -> dict[str, list[list]]:
    return {c["type"]: c["claims"] for c in entry[part]}


def dump(platform, tables=("wallet_history", "wallet_inbox")) -> str:
    """Every row of the tables as text, as a database dump would show them."""
    out = []
    with platform.engine.connect() as connection:
        for table in tables:
            for row in connection.execute(text(f'SELECT * FROM "{table}"')):
                out.append("|".join(str(v) for v in row))
    return "\n".join(out)


def test_receiving_writes_one_issuance_entry_per_offer_naming_the_issuer_and_the_claim_names(client, platform) -> None:
    minji = citizen(client, platform)
    stored = receive_all(client, minji, offer_links(client, platform, MINJI, youth_claims()))
    entries = history(client, minji)["entries"]
    assert len(entries) == 6 and {e["kind"] for e in entries} == {"issuance"}
    assert [e["id"] for e in entries] == sorted((e["id"] for e in entries), reverse=True)  # newest first
    (residency,) = [e for e in entries if e["credential_types"][0]["type"] == "resident_registration"]
    assert residency["party_id"] == f"{platform.settings.public_url}/issuers/mois"
    assert residency["party_name"]["ko"] and residency["party_name"]["en"]
    assert residency["credential_types"] == [{"type": "resident_registration", "vct": RESIDENT_VCT}]
    names = claims_of(residency, "claims_shared")["resident_registration"]
    assert ["birth_date"] in names and ["resident_sido"] in names and ["sub"] in names
    assert ["iss"] not in names and ["cnf"] not in names  # registered claims are metadata, not claims
    assert residency["outcome"] == "received" and residency["consent_record_id"] is None
    assert residency["claims_requested"] == []
    assert sorted(i for e in entries for i in e["detail"]["credential_ids"]) == sorted(c["id"] for c in stored)
    assert isinstance(residency["time"], int) and residency["time"] > 1_700_000_000


def test_a_failed_receipt_records_nothing(client, platform) -> None:
    minji = citizen(client, platform)
    (link,) = offer_links(client, platform, MINJI, {"resident_registration": youth_claims()["resident_registration"]})
    assert client.post("/wallet/api/credentials", json={"offer": link}, headers=minji).status_code == 201
    again = client.post("/wallet/api/credentials", json={"offer": link}, headers=minji)  # the code is spent
    assert again.status_code == 400
    assert len(history(client, minji)["entries"]) == 1


def test_presenting_records_the_verifier_the_claims_asked_and_shared_the_outcome_and_the_consent(
    client, platform
) -> None:
    minji = citizen(client, platform)
    receive_all(client, minji, offer_links(client, platform, MINJI, youth_claims()))
    _, link, _ = open_check(client, platform)
    outcome = share(client, minji, link)
    newest = history(client, minji, limit=1)["entries"][0]
    assert newest["kind"] == "presentation" and newest["outcome"] == "accepted"
    assert newest["party_id"] == outcome["view"]["verifier"]["client_id"]
    assert newest["party_name"] == {k: outcome["view"]["verifier"]["name"][k] for k in ("ko", "en")}
    assert newest["consent_record_id"] == outcome["consent_record_id"]
    detail = newest["detail"]
    assert detail["verifier_id"] == "verifier:seoul-youth" and detail["verified"] is True
    assert detail["service"]["id"] == "seoul_youth_allowance" and detail["status_code"] == 200
    requested, shared = claims_of(newest, "claims_requested"), claims_of(newest, "claims_shared")
    assert ["birth_date"] in requested["resident_registration"] and ["birth_date"] in shared["resident_registration"]
    # Shared is what the view showed (one claim set of each query), within what was asked.
    shown = {
        c["candidates"][0]["configuration_id"]: c["candidates"][0]["claims"] for c in outcome["view"]["credentials"]
    }
    assert shared == {t: [c["path"] for c in claims] for t, claims in shown.items()}
    assert all(path in requested[t] for t, paths in shared.items() for path in paths)
    assert {t["type"] for t in newest["credential_types"]} == set(shared)


def test_a_denial_is_recorded_with_what_was_asked_and_nothing_shared(client, platform) -> None:
    minji = citizen(client, platform)
    receive_all(client, minji, offer_links(client, platform, MINJI, youth_claims()))
    _, link, _ = open_check(client, platform)
    denied = client.post("/wallet/api/sharing-requests/deny", json={"request": link}, headers=minji)
    assert denied.status_code == 200, denied.text
    newest = history(client, minji, limit=1)["entries"][0]
    assert newest["kind"] == "denial" and newest["outcome"] == "declined"
    assert (
        newest["claims_shared"] == []
        and ["birth_date"] in claims_of(newest, "claims_requested")["resident_registration"]
    )
    assert newest["consent_record_id"] == denied.json()["consent_record_id"]
    assert newest["detail"]["verifier_id"] == "verifier:seoul-youth"


def test_a_presentation_the_verifier_refuses_is_recorded_as_rejected(client, platform) -> None:
    """A verifier outside the platform (the spec verifier, under a host of its own) answers 400."""
    verifier = SpecVerifier()
    hosts = Hosts({verifier.host: verifier.app}, fallback=platform.http._transport)
    http = httpx.Client(transport=hosts)
    vault = Vault(platform.engine, DataKeyStore(platform.engine, platform.master_key))
    vault.ensure_account(MINJI)
    log = History(platform.engine)
    Holdings(client, platform, CredentialReceiver(vault, http, development=True, history=log)).issue(
        MINJI, {"resident_registration": youth_claims()["resident_registration"]}
    )
    wallet = PresentationService(
        vault,
        consent_ledger(platform),
        http,
        trust_anchors=[verifier.ca.pem],
        platform=PlatformVerifiers(platform.settings.public_url),
        development=True,
        history=log,
    )
    query = {
        "credentials": [
            {
                "id": "residence",
                "format": "dc+sd-jwt",
                "meta": {"vct_values": [RESIDENT_VCT]},
                "claims": [{"path": ["sub"]}, {"path": ["resident_sido"]}],
            }
        ]
    }
    sharing = wallet.open_request(MINJI, verifier.request(query))
    verifier.states.clear()  # the verifier no longer knows the request: it answers invalid_request
    outcome = wallet.approve(MINJI, sharing)
    assert outcome.accepted is False and outcome.status_code == 400
    newest = log.list(MINJI, limit=1)[0]
    assert newest.kind == "presentation" and newest.outcome == "rejected"
    assert newest.party_id == f"x509_san_dns:{verifier.host}" and newest.party_name["en"] == verifier.organization
    assert newest.detail["error"] == "invalid_request" and newest.detail["status_code"] == 400
    assert newest.claims_shared == [{"type": "resident_registration", "claims": [["sub"], ["resident_sido"]]}]
    assert newest.consent_record_id == outcome.consent_record_id
    # It is the citizen's history over the API too (one log, whichever way the wallet was used).
    kinds = [e["kind"] for e in history(client, citizen(client, platform))["entries"]]
    assert kinds == ["presentation", "issuance"]


def test_history_pages_newest_first_without_overlap(client, platform) -> None:
    minji = citizen(client, platform)
    receive_all(client, minji, offer_links(client, platform, MINJI, youth_claims()))
    _, link, _ = open_check(client, platform)
    share(client, minji, link)
    everything = history(client, minji)["entries"]
    assert len(everything) == 7 and everything[0]["kind"] == "presentation"
    seen, before = [], None
    while True:
        page = history(client, minji, limit=3, **({"before": before} if before else {}))
        seen += page["entries"]
        before = page["next_before"]
        if before is None:
            break
    assert [e["id"] for e in seen] == [e["id"] for e in everything]
    for bad in ({"limit": 0}, {"limit": 1000}, {"before": "no/such id"}):
        assert client.get("/wallet/api/history", params=bad, headers=minji).status_code == 422


def test_a_dump_of_history_and_inbox_holds_no_claim_value(client, platform) -> None:
    minji = citizen(client, platform)
    receive_all(client, minji, offer_links(client, platform, MINJI, youth_claims()))
    _, link, _ = open_check(client, platform)
    share(client, minji, link)
    _, link, _ = open_check(client, platform)
    assert client.post("/wallet/api/sharing-requests/deny", json={"request": link}, headers=minji).status_code == 200
    assert client.get("/wallet/api/inbox", headers=minji).json()["items"]
    dumped = dump(platform)
    assert "birth_date" in dumped and "presentation" in dumped and "credential_received" in dumped  # rows exist
    assert not [value for value in CLAIM_VALUES if value in dumped]


def test_citizen_b_never_sees_citizen_as_history(client, platform) -> None:
    minji, junho = citizen(client, platform), citizen(client, platform, JUNHO)
    receive_all(client, minji, offer_links(client, platform, MINJI, youth_claims()))
    assert len(history(client, minji)["entries"]) == 6
    assert history(client, junho) == {"entries": [], "next_before": None}
    first = history(client, minji)["entries"][0]["id"]
    assert history(client, junho, before="z" * 32)["entries"] == []
    assert first not in str(history(client, junho))
    assert client.get("/wallet/api/history").status_code == 401
    agency = bearer_for(client, platform, "agency:mois", ["wallet"])
    assert client.get("/wallet/api/history", headers=agency).status_code == 403


def test_erase_deletes_only_the_citizens_entries(client, platform) -> None:
    minji, junho = citizen(client, platform), citizen(client, platform, JUNHO)
    receive_all(client, minji, offer_links(client, platform, MINJI, youth_claims()))
    receive_all(
        client, junho, offer_links(client, platform, JUNHO, {"education_status": youth_claims()["education_status"]})
    )
    log = client.app.state.wallet.history
    assert log.erase(MINJI) == 6 and log.list(MINJI) == []
    assert len(log.list(JUNHO)) == 1 and log.export(JUNHO)[0]["kind"] == "issuance"
