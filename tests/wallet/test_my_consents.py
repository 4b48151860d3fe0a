"""My consents in the citizen's wallet: every consent from the ledger with its history, whichever
wallet gave it; withdrawing one or all (the verifier's status list flips at once); the receipt as a
download, checked from the wallet against the ledger's public endpoints over HTTP, and that check
catching a checkpoint the ledger's key did not sign and a log that forked. Real HTTP through the
ASGI app, real signatures, the real database."""

from __future__ import annotations

import base64
import uuid

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import update

from consent import merkle
from consent.checkpoint import Checkpoint, parse_checkpoint_body, sign_checkpoint
from consent.log import make_entry
from consent.models import ConsentRecord
from consent.receipts import RECEIPT_TYP, verify_receipt
from keys import jws
from keys.jwk import load_public_jwk
from seoul_wallet.app import consent_ledger
from tests.auth.conftest import JUNHO, MINJI
from tests.conftest import bearer_for
from tests.consent.conftest import make_record
from tests.verifiers.conftest import youth_claims
from tests.wallet.hosts import Hosts
from tests.wallet.test_wallet_app import BIRTH_DATE, offer_links, open_check, receive_all, share, signed_in_token
from vc.status_list import INVALID, VALID, verify_status_list_token

RECEIPT_STEPS = ["receipt_signature", "receipt_structure", "commitment", "receipt_checkpoint", "inclusion"]
ALL_CHECKS = [*RECEIPT_STEPS, "this_consent", "current_checkpoint", "consistency"]


def wallet(platform, citizen: str) -> dict[str, str]:
    """The citizen's platform token for the wallet API (scope `wallet`), as the sign-in gives it."""
    token = platform.tokens.issue(
        f"citizen:{citizen}", "seoul-wallet-app", ["wallet", "consent:read", "consent:withdraw"]
    )
    return {"Authorization": f"Bearer {token}"}


def present_youth_allowance(client, platform, headers: dict[str, str], citizen: str) -> str:
    """The citizen receives the six youth-allowance credentials and shares them with seoul-youth;
    returns the consent record id the wallet recorded."""
    receive_all(client, headers, offer_links(client, platform, citizen, youth_claims()))
    _, link, _ = open_check(client, platform, applicant_of=citizen)
    outcome = share(client, headers, link)
    assert outcome["accepted"] is True
    return outcome["consent_record_id"]


def given_elsewhere(platform, citizen: str, *, days: int = 365, one_time: bool = False) -> str:
    """A consent the citizen gave to seoul-youth through another wallet (the ledger is the one source)."""
    ledger = consent_ledger(platform)
    record_id = ledger.request(make_record(f"citizen:{citizen}", "verifier:seoul-youth", days=days, one_time=one_time))
    ledger.grant(record_id)
    return record_id


def served_status(client, platform, consent: dict) -> int:
    """The consent's entry in the verifier's status list, as the verifier reads it."""
    response = client.get(consent["status_list"]["uri"].removeprefix(platform.settings.public_url))
    assert response.status_code == 200 and response.headers["content-type"] == "application/statuslist+jwt"
    jwk = client.get("/consent/jwks.json").json()["keys"][0]
    public = load_public_jwk({k: jwk[k] for k in ("kty", "crv", "x")})
    verified = verify_status_list_token(
        response.text, public, expected_uri=consent["status_list"]["uri"], now=int(consent_ledger(platform).clock())
    )
    return verified.status(consent["status_list"]["index"])


def assert_problem(response: httpx.Response, status: int, reason: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["reason"] == reason
    assert body["messages"]["ko"] and body["messages"]["en"]
    return body


def test_a_citizen_sees_the_youth_allowance_consent_with_its_history(client, platform, wallet_rp, browser) -> None:
    minji = signed_in_token(wallet_rp, browser, MINJI)
    record_id = present_youth_allowance(client, platform, minji, MINJI)
    elsewhere = given_elsewhere(platform, MINJI)

    listed = client.get("/wallet/api/consents", headers=minji)
    assert listed.status_code == 200, listed.text
    consents = {c["id"]: c for c in listed.json()["consents"]}
    assert set(consents) == {record_id, elsewhere}  # whichever wallet gave it
    mine = consents[record_id]
    assert [e["type"] for e in mine["history"]] == ["requested", "granted", "used"]
    assert [e["actor"] for e in mine["history"]] == ["citizen", "citizen", "verifier"]
    leaves = [e["leaf_index"] for e in mine["history"]]
    assert leaves == sorted(leaves) and len(set(leaves)) == 3
    assert mine["state"] == "used_up" and mine["has_receipt"] is True  # a one-time consent, used at once
    assert mine["verifier_id"] == "verifier:seoul-youth" and mine["service"]["id"] == "seoul_youth_allowance"
    assert mine["controller"]["name"]["ko"] and mine["purpose"]["text"]["ko"] and mine["legal_basis"]["type"]
    assert mine["frequency"]["kind"] == "one_time" and mine["retention_days"] >= 0
    assert mine["validity"]["start"] < mine["validity"]["end"]
    assert mine["created_at"] == mine["history"][0]["time"]
    # The data items are claim names: the birth date is named, its value is nowhere.
    assert ["resident_registration", "birth_date"] in mine["data_items"]
    assert BIRTH_DATE not in listed.text
    assert consents[elsewhere]["state"] == "granted" and consents[elsewhere]["frequency"]["kind"] == "periodic"

    one = client.get(f"/wallet/api/consents/{record_id}", headers=minji)
    assert one.status_code == 200 and one.json() == mine


def test_withdrawing_the_used_youth_allowance_consent_shows_in_the_verifiers_status_at_once(client, platform) -> None:
    minji = wallet(platform, MINJI)
    record_id = present_youth_allowance(client, platform, minji, MINJI)
    before = client.get(f"/wallet/api/consents/{record_id}", headers=minji).json()
    # Used once, it still covers the decision the service holds: VALID until withdrawn.
    assert before["state"] == "used_up" and served_status(client, platform, before) == VALID
    withdrawn = client.post(f"/wallet/api/consents/{record_id}/withdraw", headers=minji)
    assert withdrawn.status_code == 200 and withdrawn.json()["state"] == "withdrawn", withdrawn.text
    assert served_status(client, platform, before) == INVALID
    backend = bearer_for(client, platform, "verifier:seoul-youth", ["consent:verifier-read"])
    granted = client.get("/consent/granted", headers=backend).json()["consents"]
    assert [c["state"] for c in granted if c["id"] == record_id] == ["withdrawn"]
    refused = assert_problem(
        client.post(f"/wallet/api/consents/{record_id}/withdraw", headers=minji), 409, "consent_state_conflict"
    )
    assert refused["state"] == "withdrawn" and refused["messages"]["ko"]


def test_citizen_b_never_sees_citizen_as_consents(client, platform) -> None:
    minji, junho = wallet(platform, MINJI), wallet(platform, JUNHO)
    record_id = given_elsewhere(platform, MINJI)
    assert client.get("/wallet/api/consents", headers=junho).json() == {"consents": []}
    answers = []
    for candidate in (record_id, str(uuid.uuid4())):
        for method, path in (
            ("GET", ""),
            ("POST", "/withdraw"),
            ("GET", "/receipt"),
            ("POST", "/receipt-check"),
        ):
            answer = client.request(method, f"/wallet/api/consents/{candidate}{path}", headers=junho)
            body = assert_problem(answer, 404, "consent_not_found")
            answers.append((method, path, body["messages"], body["type"]))
    # Her id answers him exactly as an id nobody has.
    assert answers[:4] == answers[4:]
    assert client.post("/wallet/api/consents/withdraw-all", headers=junho).json() == {"withdrawn": []}
    assert client.get(f"/wallet/api/consents/{record_id}", headers=minji).json()["state"] == "granted"
    # Malformed ids are refused before anything is looked up; other parties' tokens are no citizen's.
    assert client.get("/wallet/api/consents/not-a-uuid", headers=minji).status_code == 422
    assert client.post(f"/wallet/api/consents/{record_id.upper()}/withdraw", headers=minji).status_code == 422
    assert client.get("/wallet/api/consents").status_code == 401
    agency = bearer_for(client, platform, "agency:mois", ["wallet"])
    assert client.get("/wallet/api/consents", headers=agency).status_code == 403


def test_withdrawing_a_consent_flips_the_verifiers_status_list_at_once(client, platform) -> None:
    minji = wallet(platform, MINJI)
    record_id = given_elsewhere(platform, MINJI)
    before = client.get(f"/wallet/api/consents/{record_id}", headers=minji).json()
    assert served_status(client, platform, before) == VALID

    withdrawn = client.post(f"/wallet/api/consents/{record_id}/withdraw", headers=minji)
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["state"] == "withdrawn"
    assert [(e["type"], e["actor"]) for e in withdrawn.json()["history"]][-1] == ("withdrawn", "citizen")
    assert served_status(client, platform, before) == INVALID

    again = assert_problem(
        client.post(f"/wallet/api/consents/{record_id}/withdraw", headers=minji), 409, "consent_state_conflict"
    )
    assert again["state"] == "withdrawn"
    assert [e["type"] for e in client.get(f"/wallet/api/consents/{record_id}", headers=minji).json()["history"]] == [
        "requested",
        "granted",
        "withdrawn",
    ]


def test_withdraw_all_withdraws_every_open_consent_and_only_those(client, platform) -> None:
    minji = wallet(platform, MINJI)
    open_ids = {given_elsewhere(platform, MINJI), given_elsewhere(platform, MINJI, days=30)}
    ledger = consent_ledger(platform)
    denied = ledger.request(make_record(f"citizen:{MINJI}", "verifier:seoul-youth"))
    ledger.deny(denied)
    answer = client.post("/wallet/api/consents/withdraw-all", headers=minji)
    assert answer.status_code == 200 and set(answer.json()["withdrawn"]) == open_ids
    states = {c["id"]: c["state"] for c in client.get("/wallet/api/consents", headers=minji).json()["consents"]}
    assert states == {**dict.fromkeys(open_ids, "withdrawn"), denied: "denied"}
    for consent in client.get("/wallet/api/consents", headers=minji).json()["consents"]:
        assert served_status(client, platform, consent) == INVALID
    assert client.post("/wallet/api/consents/withdraw-all", headers=minji).json() == {"withdrawn": []}
    # The denied one was never granted: it has no receipt.
    assert_problem(client.get(f"/wallet/api/consents/{denied}/receipt", headers=minji), 404, "receipt_not_found")
    assert_problem(client.post(f"/wallet/api/consents/{denied}/receipt-check", headers=minji), 404, "receipt_not_found")


def test_the_receipt_downloads_and_checks_against_the_ledger(client, platform) -> None:
    minji = wallet(platform, MINJI)
    record_id = present_youth_allowance(client, platform, minji, MINJI)
    download = client.get(f"/wallet/api/consents/{record_id}/receipt", headers=minji)
    assert download.status_code == 200 and download.headers["content-type"] == "application/jwt"
    assert download.headers["content-disposition"] == f'attachment; filename="consent-receipt-{record_id}.jwt"'
    # It is the ledger's signed receipt of this very consent, verifiable offline.
    jwks = client.get("/consent/jwks.json").json()
    origin = client.get("/consent/log/keys").json()["origin"]
    offline = verify_receipt(download.text, jwks, origin)
    assert offline.claims["sub"] == record_id and offline.claims["event"]["type"] == "granted"

    checked = client.post(f"/wallet/api/consents/{record_id}/receipt-check", headers=minji)
    assert checked.status_code == 200, checked.text
    result = checked.json()
    assert result["valid"] is True
    assert [(c["name"], c["ok"]) for c in result["checks"]] == [(name, True) for name in ALL_CHECKS]
    assert all(c["label"]["ko"] and c["detail"] for c in result["checks"])
    history = client.get(f"/wallet/api/consents/{record_id}", headers=minji).json()["history"]
    (granted,) = [e for e in history if e["type"] == "granted"]
    assert result["leaf_index"] == granted["leaf_index"]
    # The log grew since the grant (the verifier logged its use): consistency was proven, not assumed.
    assert result["receipt_tree_size"] < result["current_tree_size"]


# -- receipts the ledger's key did not make ------------------------------------------------------------


def _ledger_key(platform) -> tuple[str, ed25519.Ed25519PrivateKey]:
    active = platform.keyring.active_key("ledger", "EdDSA")
    return active.kid, active.private_key


def _resign(platform, claims: dict, key: ed25519.Ed25519PrivateKey | None = None, kid: str | None = None) -> str:
    real_kid, real_key = _ledger_key(platform)
    return jws.sign(claims, key or real_key, typ=RECEIPT_TYP, kid=kid or real_kid)


def _checkpoint_by_another_key(platform, claims: dict) -> str:
    note = claims["log"]["checkpoint"]
    body = parse_checkpoint_body(note[: note.rfind("\n\n") + 1])
    # Same log, same size, same root, same key name: only the key is not the ledger's.
    claims["log"]["checkpoint"] = sign_checkpoint(body, body.origin, ed25519.Ed25519PrivateKey.generate())
    return _resign(platform, claims)


def _signed_by_another_key(platform, claims: dict) -> str:
    return _resign(platform, claims, ed25519.Ed25519PrivateKey.generate(), _ledger_key(platform)[0])


def _record_altered(platform, claims: dict) -> str:
    claims["consent"]["retention_days"] = 1  # what the citizen agreed to, rewritten after the fact
    return _resign(platform, claims)


def _serve_receipt(platform, record_id: str, receipt: str) -> None:
    """The ledger's own row now holds this receipt: what the wallet is handed when it asks."""
    with platform.engine.begin() as connection:
        connection.execute(
            update(ConsentRecord.__table__).where(ConsentRecord.__table__.c.id == record_id).values(receipt=receipt)
        )


@pytest.mark.parametrize(
    ("tamper", "failing"),
    [
        (_checkpoint_by_another_key, "receipt_checkpoint"),
        (_signed_by_another_key, "receipt_signature"),
        (_record_altered, "commitment"),
    ],
)
def test_a_receipt_the_ledger_did_not_make_fails_the_check_naming_what_failed(
    client, platform, tamper, failing
) -> None:
    minji = wallet(platform, MINJI)
    record_id = given_elsewhere(platform, MINJI)
    genuine = client.get(f"/wallet/api/consents/{record_id}/receipt", headers=minji).text
    _serve_receipt(platform, record_id, tamper(platform, jws.read_unverified(genuine)[1]))

    result = client.post(f"/wallet/api/consents/{record_id}/receipt-check", headers=minji).json()
    assert result["valid"] is False
    passed = RECEIPT_STEPS[: RECEIPT_STEPS.index(failing)]
    assert [(c["name"], c["ok"]) for c in result["checks"]] == [*((n, True) for n in passed), (failing, False)]
    assert result["checks"][-1]["detail"]
    if failing == "receipt_checkpoint":
        assert result["checks"][-1]["detail"] == "the receipt's checkpoint: no signature by a trusted key"
    assert result["current_tree_size"] is None  # nothing is vouched for beyond the failure


@pytest.mark.parametrize("log_grew", [False, True])
def test_a_receipt_from_a_forked_log_fails_consistency(client, platform, log_grew: bool) -> None:
    """The ledger's own key signs a checkpoint of another history that includes the grant (a split
    view shown to this citizen): everything in the receipt verifies, only consistency with the log
    everyone else sees fails, whether the log has grown since (a proof that does not lead to the
    receipt's root) or not (one size, two roots)."""
    minji = wallet(platform, MINJI)
    given_elsewhere(platform, JUNHO)  # someone else's consent comes first in the log
    record_id = given_elsewhere(platform, MINJI)
    if log_grew:
        given_elsewhere(platform, JUNHO)
    genuine = client.get(f"/wallet/api/consents/{record_id}/receipt", headers=minji).text
    claims = jws.read_unverified(genuine)[1]
    note = claims["log"]["checkpoint"]
    size, index = parse_checkpoint_body(note[: note.rfind("\n\n") + 1]).tree_size, claims["log"]["leaf_index"]
    entries = [
        e["entry"].encode() for e in client.get("/consent/log/entries", params={"limit": size}).json()["entries"]
    ]
    assert index > 0 and len(entries) == size
    # The forked history: the first leaf rewritten, the grant's leaf kept.
    entries[0] = make_entry(0, 0, "requested", base64.urlsafe_b64encode(bytes(32)).decode().rstrip("="))
    hashes = [merkle.leaf_hash(e) for e in entries]

    def node(key: merkle.NodeKey) -> bytes:
        level, position = key
        return merkle.root_from_leaf_hashes(hashes[position << level : (position + 1) << level])

    origin = claims["log"]["origin"]
    _, key = _ledger_key(platform)
    claims["log"]["checkpoint"] = sign_checkpoint(
        Checkpoint(origin, size, merkle.root_from_leaf_hashes(hashes)), origin, key
    )
    proof = merkle.build_proof(merkle.inclusion_ranges(index, size), node)
    claims["log"]["inclusion_proof"] = [base64.b64encode(p).decode() for p in proof]
    _serve_receipt(platform, record_id, _resign(platform, claims))

    result = client.post(f"/wallet/api/consents/{record_id}/receipt-check", headers=minji).json()
    assert result["valid"] is False
    assert [(c["name"], c["ok"]) for c in result["checks"]] == [(n, True) for n in ALL_CHECKS[:-1]] + [
        ("consistency", False)
    ]
    assert result["receipt_tree_size"] == size and (result["current_tree_size"] > size) is log_grew
    assert ("does not lead to the" if log_grew else "forked") in result["checks"][-1]["detail"]


def test_the_ledger_unreachable_is_a_clear_502(client, app, platform) -> None:
    minji = wallet(platform, MINJI)
    record_id = given_elsewhere(platform, MINJI)
    consents = app.state.wallet.consents
    reachable = consents.http
    consents.http = httpx.Client(transport=Hosts({}))  # no route to the ledger's host
    try:
        answer = client.post(f"/wallet/api/consents/{record_id}/receipt-check", headers=minji)
        body = assert_problem(answer, 502, "ledger_unreachable")
        assert "원장" in body["messages"]["ko"]
        # Her consents are still listed and the receipt still downloads: only the check needs the log.
        assert client.get("/wallet/api/consents", headers=minji).status_code == 200
        assert client.get(f"/wallet/api/consents/{record_id}/receipt", headers=minji).status_code == 200
    finally:
        consents.http = reachable
    assert client.post(f"/wallet/api/consents/{record_id}/receipt-check", headers=minji).json()["valid"] is True


def test_expiring_consents_for_the_inbox_and_the_export(client, app, platform) -> None:
    consents = app.state.wallet.consents
    soon = given_elsewhere(platform, MINJI, days=10)
    given_elsewhere(platform, MINJI, days=365)  # not due
    given_elsewhere(platform, MINJI, days=10, one_time=True)  # used at once: no reminder
    withdrawn = given_elsewhere(platform, MINJI, days=5)
    consent_ledger(platform).withdraw(withdrawn, f"citizen:{MINJI}")
    given_elsewhere(platform, JUNHO, days=10)  # someone else's
    assert [c["id"] for c in consents.expiring_within(MINJI, 30 * 86400)] == [soon]
    assert consents.expiring_within(MINJI, 86400) == []

    exported = consents.export(MINJI)
    assert len(exported) == 4
    for item in exported:
        assert item["record"]["citizen"] == f"citizen:{MINJI}" and item["history"]
        assert item["receipt"] and jws.read_unverified(item["receipt"])[1]["sub"] == item["id"]


def test_a_genuine_receipt_of_another_consent_is_not_this_consents(client, platform) -> None:
    minji = wallet(platform, MINJI)
    first, second = given_elsewhere(platform, MINJI), given_elsewhere(platform, MINJI, days=30)
    _serve_receipt(platform, second, client.get(f"/wallet/api/consents/{first}/receipt", headers=minji).text)
    result = client.post(f"/wallet/api/consents/{second}/receipt-check", headers=minji).json()
    assert result["valid"] is False
    assert [(c["name"], c["ok"]) for c in result["checks"]] == [(n, True) for n in RECEIPT_STEPS] + [
        ("this_consent", False)
    ]


def test_the_wallet_api_asks_for_the_ledgers_own_scopes(client, platform) -> None:
    """Review finding: a token with only `wallet` could list and withdraw consents through the
    wallet's API, while the ledger's own API asks for consent:read and consent:withdraw."""
    record_id = given_elsewhere(platform, MINJI)

    def token(*scopes: str) -> dict[str, str]:
        issued = platform.tokens.issue(f"citizen:{MINJI}", "seoul-wallet-app", list(scopes))
        return {"Authorization": f"Bearer {issued}"}

    only_wallet, reading = token("wallet"), token("wallet", "consent:read")
    assert client.get("/wallet/api/consents", headers=only_wallet).status_code == 403
    assert client.post(f"/wallet/api/consents/{record_id}/withdraw", headers=only_wallet).status_code == 403
    assert client.get("/wallet/api/consents", headers=reading).status_code == 200
    assert client.post(f"/wallet/api/consents/{record_id}/withdraw", headers=reading).status_code == 403
    assert client.get(f"/wallet/api/consents/{record_id}", headers=reading).json()["state"] == "granted"
