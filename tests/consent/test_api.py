"""The ledger over HTTP: public log endpoints, status lists, and the citizens' and verifiers' views."""

from __future__ import annotations

import base64
import uuid

import pytest

from consent import merkle
from consent.checkpoint import NoteVerifier, open_checkpoint
from keys.jwk import load_public_jwk
from vc.status_list import INVALID, VALID, verify_status_list_token

from .conftest import make_record

ALICE, BOB = "citizen:alice-0001", "citizen:bob-00000002"
VERIFIER = "verifier:youth-allowance"


def bearer(platform, subject: str, *scopes: str) -> dict[str, str]:
    token = platform.tokens.issue(subject, "seoul-wallet-app", list(scopes))
    return {"Authorization": f"Bearer {token}"}


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    return body


@pytest.fixture
def granted(ledger) -> list[str]:
    ids = []
    for _ in range(3):
        record_id = ledger.request(make_record(recipient=VERIFIER))
        ledger.grant(record_id)
        ids.append(record_id)
    bobs = ledger.request(make_record(citizen=BOB, recipient="verifier:transport"))
    ledger.grant(bobs)
    return [*ids, bobs]


def test_checkpoint_and_proofs_verify_from_public_endpoints(client, granted) -> None:
    keys = client.get("/consent/log/keys").json()
    verifiers = [NoteVerifier.parse(k) for k in keys["note_verifier_keys"]]
    response = client.get("/consent/log/checkpoint")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    checkpoint = open_checkpoint(response.text, verifiers, keys["origin"])
    size = checkpoint.tree_size
    assert size == 8
    entries = client.get("/consent/log/entries", params={"start": 0, "limit": 5}).json()
    assert entries["next"] == 5 and len(entries["entries"]) == 5
    rest = client.get("/consent/log/entries", params={"start": 5, "limit": 5}).json()
    assert rest["next"] is None and [e["index"] for e in rest["entries"]] == [5, 6, 7]
    all_entries = [e["entry"].encode() for e in entries["entries"] + rest["entries"]]
    for index, entry in enumerate(all_entries):
        leaf = merkle.leaf_hash(entry)
        for params in ({"index": index}, {"leaf_hash": base64.urlsafe_b64encode(leaf).decode()}):
            proof = client.get("/consent/log/proof/inclusion", params={"tree_size": size, **params}).json()
            assert proof["leaf_index"] == index
            hashes = [base64.b64decode(p) for p in proof["proof"]]
            merkle.verify_inclusion(leaf, index, size, hashes, checkpoint.root_hash)
    old_root = merkle.root_from_leaf_hashes([merkle.leaf_hash(e) for e in all_entries[:3]])
    proof = client.get("/consent/log/proof/consistency", params={"first": 3, "second": size}).json()
    merkle.verify_consistency(3, size, old_root, checkpoint.root_hash, [base64.b64decode(p) for p in proof["proof"]])


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/consent/log/proof/inclusion", {"tree_size": 99, "index": 0}, 400),  # beyond the log
        ("/consent/log/proof/inclusion", {"tree_size": 4, "index": 4}, 400),  # index outside the tree
        ("/consent/log/proof/inclusion", {"tree_size": 4}, 400),  # neither index nor hash
        ("/consent/log/proof/inclusion", {"tree_size": 4, "index": 0, "leaf_hash": "AAAA"}, 400),  # both
        ("/consent/log/proof/inclusion", {"tree_size": 4, "leaf_hash": "not-a-hash"}, 400),
        ("/consent/log/proof/inclusion", {"tree_size": 8, "leaf_hash": base64.b64encode(bytes(32)).decode()}, 404),
        ("/consent/log/proof/inclusion", {"tree_size": 0, "index": 0}, 422),
        ("/consent/log/proof/inclusion", {"tree_size": "x", "index": 0}, 422),
        ("/consent/log/proof/inclusion", {"tree_size": 2**80, "index": 0}, 422),
        ("/consent/log/proof/consistency", {"first": 5, "second": 3}, 400),
        ("/consent/log/proof/consistency", {"first": 1, "second": 99}, 400),
        ("/consent/log/proof/consistency", {"first": 0, "second": 3}, 422),
        ("/consent/log/entries", {"start": 0, "limit": 5000}, 422),
        ("/consent/log/entries", {"start": -1}, 422),
        ("/consent/status/Not_A_Slug", {}, 422),
    ],
)
def test_bad_log_requests_get_problem_details(client, granted, path: str, params: dict, status: int) -> None:
    assert_problem(client.get(path, params=params), status)


def test_withdrawal_shows_in_the_served_status_list_immediately(client, platform, ledger, granted) -> None:
    def served_status(index: int) -> int:
        response = client.get("/consent/status/youth-allowance")
        assert response.headers["content-type"] == "application/statuslist+jwt"
        jwk = client.get("/consent/jwks.json").json()["keys"][0]
        public = load_public_jwk({k: jwk[k] for k in ("kty", "crv", "x")})
        uri = ledger.status_list_uri(VERIFIER)
        return verify_status_list_token(response.text, public, expected_uri=uri, now=int(ledger.clock())).status(index)

    mine = client.get("/consent/me", headers=bearer(platform, ALICE, "consent:read")).json()["consents"]
    target = next(c for c in mine if c["id"] == granted[1])
    assert served_status(target["status_index"]) == VALID
    response = client.post(f"/consent/me/{granted[1]}/withdraw", headers=bearer(platform, ALICE, "consent:withdraw"))
    assert response.status_code == 200 and response.json()["state"] == "withdrawn"
    assert served_status(target["status_index"]) == INVALID
    assert [e["type"] for e in response.json()["history"]] == ["requested", "granted", "withdrawn"]
    again = client.post(f"/consent/me/{granted[1]}/withdraw", headers=bearer(platform, ALICE, "consent:withdraw"))
    assert assert_problem(again, 409)["state"] == "withdrawn"


def test_a_citizen_sees_only_their_own_consents_and_cannot_touch_anothers(client, platform, granted) -> None:
    alice_read = bearer(platform, ALICE, "consent:read", "consent:withdraw")
    bob_all = bearer(platform, BOB, "consent:read", "consent:withdraw")
    mine = client.get("/consent/me", headers=alice_read).json()["consents"]
    assert sorted(c["id"] for c in mine) == sorted(granted[:3])
    assert all(len(c["history"]) == 2 for c in mine)
    # Bob, guessing Alice's ids (and random ones), learns nothing and changes nothing.
    for record_id in [*granted[:3], str(uuid.uuid4())]:
        assert_problem(client.get(f"/consent/me/{record_id}", headers=bob_all), 404)
        assert_problem(client.post(f"/consent/me/{record_id}/withdraw", headers=bob_all), 404)
    assert client.post("/consent/me/withdraw-all", headers=bob_all).json() == {"withdrawn": [granted[3]]}
    assert all(c["state"] == "granted" for c in client.get("/consent/me", headers=alice_read).json()["consents"])
    assert_problem(client.get("/consent/me/not-a-uuid", headers=alice_read), 422)


def test_citizen_endpoints_demand_a_citizen_token_with_the_right_scope(client, platform, granted) -> None:
    body = assert_problem(client.get("/consent/me"), 401)
    assert body["status"] == 401
    assert client.get("/consent/me").headers["www-authenticate"].startswith("Bearer")
    assert_problem(client.get("/consent/me", headers={"Authorization": "Bearer not.a.token"}), 401)
    assert_problem(client.get("/consent/me", headers=bearer(platform, ALICE, "consent:withdraw")), 403)
    assert_problem(client.post("/consent/me/withdraw-all", headers=bearer(platform, ALICE, "consent:read")), 403)
    # A verifier holding the citizen scope is still not a citizen.
    assert_problem(client.get("/consent/me", headers=bearer(platform, VERIFIER, "consent:read")), 403)


def test_a_verifier_reads_the_consents_granted_to_it_and_their_receipts(client, platform, ledger, granted) -> None:
    headers = bearer(platform, VERIFIER, "consent:verifier-read")
    consents = client.get("/consent/granted", headers=headers).json()["consents"]
    assert sorted(c["id"] for c in consents) == sorted(granted[:3])
    receipt = client.get(f"/consent/granted/{granted[0]}/receipt", headers=headers).json()["receipt"]
    from consent.receipts import verify_receipt

    jwks = client.get("/consent/jwks.json").json()
    origin = client.get("/consent/log/keys").json()["origin"]
    assert verify_receipt(receipt, jwks, origin).claims["sub"] == granted[0]
    other = bearer(platform, "verifier:transport", "consent:verifier-read")
    assert [c["id"] for c in client.get("/consent/granted", headers=other).json()["consents"]] == [granted[3]]
    assert_problem(client.get(f"/consent/granted/{granted[0]}/receipt", headers=other), 404)
    assert_problem(client.get("/consent/granted", headers=bearer(platform, ALICE, "consent:verifier-read")), 403)
    assert_problem(client.get("/consent/granted", headers=bearer(platform, VERIFIER, "consent:read")), 403)


def test_the_empty_log_serves_a_checkpoint_of_size_zero(client) -> None:
    keys = client.get("/consent/log/keys").json()
    note = client.get("/consent/log/checkpoint").text
    checkpoint = open_checkpoint(note, [NoteVerifier.parse(k) for k in keys["note_verifier_keys"]], keys["origin"])
    assert checkpoint.tree_size == 0 and checkpoint.root_hash == merkle.EMPTY_ROOT
    assert client.get("/consent/log/entries").json() == {"tree_size": 0, "entries": [], "next": None}


def test_checkpoints_follow_the_empty_one(client, ledger) -> None:
    assert client.get("/consent/log/checkpoint").status_code == 200
    ledger.grant(ledger.request(make_record()))
    keys = client.get("/consent/log/keys").json()
    note = client.get("/consent/log/checkpoint").text
    verifiers = [NoteVerifier.parse(k) for k in keys["note_verifier_keys"]]
    assert open_checkpoint(note, verifiers, keys["origin"]).tree_size == 2
