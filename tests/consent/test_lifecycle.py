"""Consent records and their lifecycle: what the record must say, which transitions are allowed,
what each leaves in the log, receipts, status lists and erasure, over the real test database."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import MetaData, text

from consent import merkle
from consent.audit import LocalSource, audit
from consent.checkpoint import open_checkpoint
from consent.receipts import ReceiptError, verify_in_current_log, verify_receipt
from consent.schemas import ConsentRecordIn
from consent.service import ConsentError, ConsentNotFound, StateConflict
from keys import jws
from keys.jwk import b64url_encode
from vc.status_list import INVALID, SUSPENDED, VALID, verify_status_list_token

from .conftest import make_record, record_data


def status(ledger, verifier: str, index: int) -> int:
    token = ledger.status_list_token(verifier)
    keys = ledger.jwks()["keys"]
    from keys.jwk import load_public_jwk

    public = load_public_jwk({k: keys[0][k] for k in ("kty", "crv", "x")})
    verified = verify_status_list_token(
        token, public, expected_uri=ledger.status_list_uri(verifier), now=int(ledger.clock())
    )
    return verified.status(index)


# -- the record --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"citizen": "citizen:900101-1234567"}, "a resident registration number as the citizen id"),
        ({"citizen": "9001011234567"}, "no citizen: prefix"),
        ({"recipient": "Youth Office"}, "recipient not a verifier id"),
        ({"purpose": {"code": "Marketing", "text_ko": "광고", "text_en": "ads"}}, "not an allowed DPV purpose"),
        ({"legal_basis": {"type": "public_task"}}, "public task without its statute"),
        ({"legal_basis": {"type": "contract"}}, "unknown legal basis"),
        ({"data_items": []}, "no data items"),
        ({"data_items": [["birthdate"], ["birthdate"]]}, "a claim path twice"),
        ({"data_items": [[]]}, "an empty claim path"),
        ({"disclosure": "everything"}, "unknown disclosure mode"),
        ({"retention_days": -1}, "negative retention"),
        ({"frequency": {"kind": "periodic"}}, "periodic without a frequency"),
        ({"frequency": {"kind": "one_time", "interval_days": 3}}, "one-time with a frequency"),
        ({"notice": {"sha256": "not-a-hash", "version": "1"}}, "notice hash not SHA-256 hex"),
        ({"actor": {"role": "legal_guardian"}}, "a guardian without an id"),
        ({"language": "fr"}, "unsupported language"),
        ({"jurisdiction": "Korea"}, "jurisdiction not ISO 3166"),
        ({"surprise": 1}, "an unknown field"),
    ],
)
def test_records_that_break_a_rule_are_refused(change: dict, why: str) -> None:
    with pytest.raises(ValidationError):
        ConsentRecordIn.model_validate({**record_data(), **change})


def test_validity_is_at_most_five_years_and_ends_after_it_starts() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for end in (start + timedelta(days=5 * 366 + 3), start, start - timedelta(days=1)):
        with pytest.raises(ValidationError):
            ConsentRecordIn.model_validate(record_data(validity={"start": start.isoformat(), "end": end.isoformat()}))
    naive = {"start": "2026-01-01T00:00:00", "end": "2026-06-01T00:00:00"}
    with pytest.raises(ValidationError):
        ConsentRecordIn.model_validate(record_data(validity=naive))
    ConsentRecordIn.model_validate(
        record_data(validity={"start": start.isoformat(), "end": (start + timedelta(days=5 * 365)).isoformat()})
    )


# -- lifecycle ---------------------------------------------------------------------------------------


def test_grant_issues_a_receipt_that_verifies_offline_and_flips_status(ledger) -> None:
    record_id = ledger.request(make_record())
    index = ledger.list_for_citizen("citizen:alice-0001")[0].status_index
    assert status(ledger, "verifier:youth-allowance", index) == INVALID
    receipt = ledger.grant(record_id)
    verified = verify_receipt(receipt, ledger.jwks(), ledger.origin)
    claims = verified.claims
    assert claims["sub"] == record_id
    assert claims["consent"]["citizen"] == "citizen:alice-0001"
    assert claims["consent"]["data_items"] == [["birthdate"], ["address", "region"]]
    assert claims["event"]["type"] == "granted"
    assert verified.leaf_index == 1  # leaf 0 is the request
    assert claims["status"]["status_list"]["idx"] == index
    assert status(ledger, "verifier:youth-allowance", index) == VALID


def test_a_receipt_is_proven_in_the_current_log_after_it_grows(ledger) -> None:
    receipt = ledger.grant(ledger.request(make_record()))
    for n in range(5):
        ledger.grant(ledger.request(make_record(citizen=f"citizen:other-{n:04d}")))
    verified = verify_receipt(receipt, ledger.jwks(), ledger.origin)
    current = ledger.verified_checkpoint(ledger.checkpoint())
    assert current.tree_size > verified.checkpoint.tree_size
    proof = ledger.consistency_proof(verified.checkpoint.tree_size, current.tree_size)
    verify_in_current_log(verified, current, proof)
    inclusion = ledger.inclusion_proof(current.tree_size, index=verified.leaf_index)
    merkle.verify_inclusion(
        verified.leaf_hash, verified.leaf_index, current.tree_size, inclusion["proof"], current.root_hash
    )
    with pytest.raises(ReceiptError):
        verify_in_current_log(verified, current, proof[:-1])


def test_a_tampered_receipt_is_rejected(ledger) -> None:
    receipt = ledger.grant(ledger.request(make_record()))
    header, payload, signature = receipt.split(".")
    claims = verify_receipt(receipt, ledger.jwks(), ledger.origin).claims
    # Re-signed by another key: the signature no longer verifies against the ledger's keys.
    from keys.jwk import generate_private_key

    forged = jws.sign(
        claims,
        generate_private_key("EdDSA"),
        typ="consent-receipt+jwt",
        kid=json.loads(__import__("base64").urlsafe_b64decode(header + "=="))["kid"],
    )
    with pytest.raises(ReceiptError):
        verify_receipt(forged, ledger.jwks(), ledger.origin)
    # A payload edit breaks the signature.
    edited = copy.deepcopy(claims)
    edited["consent"]["retention_days"] = 3650
    tampered_payload = b64url_encode(json.dumps(edited).encode())
    with pytest.raises(ReceiptError):
        verify_receipt(f"{header}.{tampered_payload}.{signature}", ledger.jwks(), ledger.origin)
    # Another origin: the checkpoint is not for that log.
    with pytest.raises(ReceiptError):
        verify_receipt(receipt, ledger.jwks(), "elsewhere.example/consent")
    # Unsigned or HMAC tokens are refused before anything else.
    with pytest.raises(ReceiptError):
        verify_receipt("eyJhbGciOiJub25lIn0." + payload + ".", ledger.jwks(), ledger.origin)


def test_every_transition_the_lifecycle_forbids_is_refused(ledger) -> None:
    citizen = "citizen:alice-0001"
    verifier = "verifier:youth-allowance"
    record_id = ledger.request(make_record())
    for refused in (
        lambda: ledger.record_use(record_id, verifier),  # not granted yet
        lambda: ledger.pause(record_id, citizen),
        lambda: ledger.resume(record_id, citizen),
    ):
        with pytest.raises(StateConflict):
            refused()
    ledger.grant(record_id)
    with pytest.raises(StateConflict):
        ledger.grant(record_id)  # twice
    with pytest.raises(StateConflict):
        ledger.deny(record_id)  # after granting
    ledger.record_use(record_id, verifier)
    with pytest.raises(StateConflict, match="at most once every 30 days"):
        ledger.record_use(record_id, verifier)  # periodic: not again within its interval
    with pytest.raises(ConsentNotFound):
        ledger.record_use(record_id, "verifier:someone-else")  # not the recipient
    ledger.pause(record_id, citizen)
    index = ledger.get_for_citizen(record_id, citizen).status_index
    assert status(ledger, verifier, index) == SUSPENDED
    with pytest.raises(StateConflict):
        ledger.record_use(record_id, verifier)  # paused
    ledger.resume(record_id, citizen)
    assert status(ledger, verifier, index) == VALID
    ledger.withdraw(record_id, citizen)
    assert status(ledger, verifier, index) == INVALID
    for refused in (
        lambda: ledger.record_use(record_id, verifier),
        lambda: ledger.withdraw(record_id, citizen),
        lambda: ledger.resume(record_id, citizen),
        lambda: ledger.revoke(record_id, "too late"),
    ):
        with pytest.raises(StateConflict):
            refused()
    history = [e.type for e in ledger.get_for_citizen(record_id, citizen).history]
    assert history == ["requested", "granted", "used", "paused", "resumed", "withdrawn"]


def test_a_one_time_consent_is_used_once(ledger) -> None:
    record_id = ledger.request(make_record(one_time=True))
    ledger.grant(record_id)
    ledger.record_use(record_id, "verifier:youth-allowance")
    with pytest.raises(StateConflict):
        ledger.record_use(record_id, "verifier:youth-allowance")
    view = ledger.get_for_citizen(record_id, "citizen:alice-0001")
    assert view.state == "used_up"
    # Spent, but it still covers what the verifier received, until the citizen withdraws it.
    assert status(ledger, "verifier:youth-allowance", view.status_index) == VALID
    ledger.withdraw(record_id, "citizen:alice-0001")
    assert status(ledger, "verifier:youth-allowance", view.status_index) == INVALID
    assert [e.type for e in ledger.get_for_citizen(record_id, "citizen:alice-0001").history][-1] == "withdrawn"


def test_a_used_one_time_consent_ends_with_its_validity(ledger, clock) -> None:
    record_id = ledger.request(make_record(one_time=True))
    ledger.grant(record_id)
    ledger.record_use(record_id, "verifier:youth-allowance")
    index = ledger.get_for_citizen(record_id, "citizen:alice-0001").status_index
    clock.advance(400 * 86400)
    assert status(ledger, "verifier:youth-allowance", index) == INVALID
    # Past its validity it is expired: nothing left to withdraw or revoke, and the history says so.
    assert ledger.get_for_citizen(record_id, "citizen:alice-0001").state == "expired"
    with pytest.raises(StateConflict):
        ledger.withdraw(record_id, "citizen:alice-0001")
    assert ledger.withdraw_all("citizen:alice-0001") == []
    assert ledger.expire_due() == 1
    assert [e.type for e in ledger.get_for_citizen(record_id, "citizen:alice-0001").history][-1] == "expired"


def test_the_operator_can_revoke_a_used_one_time_consent(ledger) -> None:
    record_id = ledger.request(make_record(one_time=True))
    ledger.grant(record_id)
    ledger.record_use(record_id, "verifier:youth-allowance")
    index = ledger.get_for_citizen(record_id, "citizen:alice-0001").status_index
    ledger.revoke(record_id, "court order")
    assert status(ledger, "verifier:youth-allowance", index) == INVALID


def test_a_periodic_consent_is_usable_again_after_its_interval(ledger, clock) -> None:
    record_id = ledger.request(make_record())
    ledger.grant(record_id)
    ledger.record_use(record_id, "verifier:youth-allowance")
    clock.advance(30 * 86400 + 1)
    ledger.record_use(record_id, "verifier:youth-allowance")


def test_denial_and_revocation(ledger) -> None:
    denied = ledger.request(make_record())
    ledger.deny(denied)
    with pytest.raises(StateConflict):
        ledger.grant(denied)
    revoked = ledger.request(make_record())
    ledger.grant(revoked)
    with pytest.raises(ConsentError):
        ledger.revoke(revoked, "   ")  # a revocation says why
    ledger.revoke(revoked, "the recipient's registration was cancelled")
    view = ledger.get_for_citizen(revoked, "citizen:alice-0001")
    assert view.state == "revoked"
    assert view.history[-1].details == {"reason": "the recipient's registration was cancelled"}
    assert view.history[-1].actor == "operator"


def test_expiry_happens_without_anyone_acting(ledger, clock) -> None:
    record_id = ledger.request(make_record(days=10))
    ledger.grant(record_id)
    index = ledger.get_for_citizen(record_id, "citizen:alice-0001").status_index
    clock.advance(11 * 86400)
    assert ledger.get_for_citizen(record_id, "citizen:alice-0001").state == "expired"
    assert status(ledger, "verifier:youth-allowance", index) == INVALID
    with pytest.raises(StateConflict):
        ledger.record_use(record_id, "verifier:youth-allowance")
    assert ledger.expire_due() == 1
    assert ledger.expire_due() == 0
    history = ledger.get_for_citizen(record_id, "citizen:alice-0001").history
    assert [e.type for e in history] == ["requested", "granted", "expired"]


def test_reconsent_when_the_notice_changes(ledger) -> None:
    record_id = ledger.request(make_record())
    ledger.grant(record_id)
    with pytest.raises(StateConflict):
        ledger.reconsent(record_id, {"sha256": "ab" * 32, "version": "2026-11"})  # same version
    with pytest.raises(ValidationError):
        ledger.reconsent(record_id, {"sha256": "zz", "version": "2027-01"})
    receipt = ledger.reconsent(record_id, {"sha256": "cd" * 32, "version": "2027-01"})
    claims = verify_receipt(receipt, ledger.jwks(), ledger.origin).claims
    assert claims["event"]["details"] == {"notice": {"sha256": "cd" * 32, "version": "2027-01"}}
    view = ledger.get_for_citizen(record_id, "citizen:alice-0001")
    assert view.state == "granted"
    assert view.notice == {"sha256": "cd" * 32, "version": "2027-01"}


def test_nobody_reaches_anothers_consent_by_its_id(ledger) -> None:
    alices = ledger.request(make_record())
    ledger.grant(alices)
    bob = "citizen:bob-00000002"
    for attempt in (
        lambda: ledger.get_for_citizen(alices, bob),
        lambda: ledger.withdraw(alices, bob),
        lambda: ledger.pause(alices, bob),
        lambda: ledger.receipt_for_verifier(alices, "verifier:transport-subsidy"),
    ):
        with pytest.raises(ConsentNotFound):
            attempt()
    assert ledger.list_for_citizen(bob) == []
    assert ledger.list_for_verifier("verifier:transport-subsidy") == []
    assert ledger.withdraw_all(bob) == []
    assert ledger.get_for_citizen(alices, "citizen:alice-0001").state == "granted"


def test_withdraw_all_withdraws_every_open_consent_at_once(ledger) -> None:
    ids = [ledger.request(make_record(recipient=f"verifier:v{n}")) for n in range(3)]
    for record_id in ids[:2]:
        ledger.grant(record_id)
    ledger.deny(ids[2])
    assert sorted(ledger.withdraw_all("citizen:alice-0001")) == sorted(ids[:2])
    for n in range(2):
        index = ledger.get_for_citizen(ids[n], "citizen:alice-0001").status_index
        assert status(ledger, f"verifier:v{n}", index) == INVALID


def test_status_indexes_are_per_verifier_and_never_reused(ledger) -> None:
    first = ledger.request(make_record(recipient="verifier:a"))
    first_index = ledger.get_for_citizen(first, "citizen:alice-0001").status_index
    ledger.request(make_record(recipient="verifier:b"))
    second = ledger.request(make_record(citizen="citizen:bob-00000002", recipient="verifier:a"))
    ledger.erase_citizen("citizen:alice-0001")
    third = ledger.request(make_record(citizen="citizen:carol-0003", recipient="verifier:a"))
    indexes = {v.id: v.status_index for v in ledger.list_for_citizen("citizen:bob-00000002")}
    indexes |= {v.id: v.status_index for v in ledger.list_for_citizen("citizen:carol-0003")}
    # The erased consent's tombstone keeps its index: nobody else is given it.
    assert len({first_index, indexes[second], indexes[third]}) == 3
    assert first not in indexes


# -- erasure -----------------------------------------------------------------------------------------


def _database_text(engine) -> str:
    """Every value of every table, as text: what a database dump would show."""
    metadata = MetaData()
    metadata.reflect(engine)
    chunks = []
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(table.select()):
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        value = bytes(value).decode("latin-1")
                    chunks.append(str(value))
    return "\n".join(chunks)


def test_erasure_removes_every_trace_and_keeps_the_log_verifiable(ledger, platform, tmp_path) -> None:
    marker_path = [["secret-claim-xyzzy"], ["household", "income-plugh"]]
    erased = "citizen:erase-me-4242"
    notice = {"sha256": "9f" * 32, "version": "erase-notice-1"}
    ids = [ledger.request(make_record(citizen=erased, paths=marker_path, notice=notice)) for _ in range(2)]
    receipt = ledger.grant(ids[0])
    ledger.record_use(ids[0], "verifier:youth-allowance")
    kept = ledger.request(make_record(citizen="citizen:keep-me-0001"))
    ledger.grant(kept)
    audit(LocalSource(ledger), state_path=tmp_path / "state.json")
    verified = verify_receipt(receipt, ledger.jwks(), ledger.origin)
    index = verified.claims["status"]["status_list"]["idx"]

    assert ledger.erase_citizen(erased) == 2
    dump = _database_text(platform.engine)
    for trace in (erased, "erase-me-4242", "secret-claim-xyzzy", "income-plugh", "9f" * 32, "erase-notice-1"):
        assert trace not in dump
    for record_id in ids:
        assert record_id in dump  # the tombstone keeps the random id, nothing else of the citizen
    with platform.engine.connect() as conn:
        salts = conn.execute(
            text("SELECT COUNT(*) FROM consent_events WHERE record_id IN (:a, :b)"), {"a": ids[0], "b": ids[1]}
        ).scalar()
    assert salts == 0
    assert ledger.list_for_citizen(erased) == []
    assert status(ledger, "verifier:youth-allowance", index) == INVALID
    # The log only grew (one `erased` leaf per record), and still audits against what was seen.
    report = audit(LocalSource(ledger), state_path=tmp_path / "state.json")
    assert report.previous_size is not None and report.tree_size == report.previous_size + 2
    # The other citizen is untouched.
    assert ledger.get_for_citizen(kept, "citizen:keep-me-0001").state == "granted"


def test_log_checkpoints_are_signed_by_the_ledger_key(ledger) -> None:
    ledger.grant(ledger.request(make_record()))
    note = ledger.checkpoint()
    checkpoint = open_checkpoint(note, ledger.note_verifiers(), ledger.origin)
    assert checkpoint.tree_size == 2
    assert ledger.checkpoint() == note  # the same size is never re-signed differently
