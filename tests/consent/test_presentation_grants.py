"""The consent a verifier records from a presentation: one transaction, so never half recorded, and
one record per request however many posts of it race. Real threads on the real test database."""

from __future__ import annotations

import threading

from sqlalchemy import text

from consent.presentations import PresentationConsentRefused, record_presentation_grant
from consent.service import StateConflict
from tests.support.grants import grant_body

VERIFIER = "verifier:seoul-youth"


def _events(ledger) -> list[tuple[str, str]]:
    with ledger.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT record_id, type FROM consent_events ORDER BY leaf_index"))]


def test_a_presentation_grant_is_requested_granted_and_used_at_once(ledger) -> None:
    out = record_presentation_grant(ledger, VERIFIER, grant_body())
    assert out.recorded_by == "verifier" and out.receipt
    assert _events(ledger) == [(out.record_id, "requested"), (out.record_id, "granted"), (out.record_id, "used")]


def test_racing_posts_of_one_presentation_record_one_consent(ledger) -> None:
    barrier = threading.Barrier(8)
    results: list = []

    def post() -> None:
        barrier.wait()
        try:
            results.append(record_presentation_grant(ledger, VERIFIER, grant_body()))
        except Exception as exc:  # collected: asserted below
            results.append(exc)

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not [r for r in results if isinstance(r, Exception)], results
    record_ids = {r.record_id for r in results}
    assert len(record_ids) == 1
    # No orphan `requested` record from a losing post: one record, three events, all of it.
    (record_id,) = record_ids
    assert _events(ledger) == [(record_id, "requested"), (record_id, "granted"), (record_id, "used")]
    with ledger.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM consent_records")).scalar() == 1


def test_a_failure_inside_the_grant_leaves_nothing(ledger, monkeypatch) -> None:
    # Whatever fails after the record was inserted (here the use check) undoes the whole consent.
    def refuse(conn, row, now) -> None:
        raise StateConflict("refused for the test", "granted")

    monkeypatch.setattr(type(ledger), "check_use", staticmethod(refuse))
    try:
        record_presentation_grant(ledger, VERIFIER, grant_body())
    except PresentationConsentRefused as exc:
        assert exc.reason == "consent_granted"
    else:
        raise AssertionError("the grant should have been refused")
    assert _events(ledger) == []
    with ledger.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM consent_records")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM consent_presentation_links")).scalar() == 0


def test_a_grant_is_the_citizens_and_refuses_what_is_not_a_platform_id(client, platform) -> None:
    """Over HTTP: the record is `citizen:<subject>` with the holder keys as evidence; a subject that
    is a resident registration number (or not a platform id at all) is a 422 that records nothing."""
    from tests.conftest import bearer_for

    verifier = bearer_for(client, platform, VERIFIER, ["consent:record"])
    body = grant_body().model_dump()
    for subject in ("990501-1234567", "citizen-9905011234567", "short", None):
        refused = client.post("/consent/presentation-grants", json={**body, "subject": subject}, headers=verifier)
        assert refused.status_code == 422, refused.text
    with platform.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM consent_records")).scalar() == 0
    recorded = client.post("/consent/presentation-grants", json=body, headers=verifier)
    assert recorded.status_code == 200, recorded.text
    citizen = bearer_for(client, platform, "citizen:citizen-grants-1", ["consent:read"])
    (mine,) = client.get("/consent/me", headers=citizen).json()["consents"]
    assert mine["id"] == recorded.json()["record_id"]
    assert mine["record"]["evidence"] == {"holder_keys": ["holder-key:" + "A" * 43], "presentation_sha256": "a" * 64}


def test_a_grant_the_consent_record_cannot_hold_is_a_422_that_records_nothing(client, platform) -> None:
    """Found by the contract fuzzing (issue 14): a purpose that is not a DPV purpose code, or an empty
    claim path, passed the grant's own schema and failed building the consent record: a 500."""
    from tests.conftest import bearer_for

    verifier = bearer_for(client, platform, VERIFIER, ["consent:record"])
    body = grant_body().model_dump()
    for change in ({"purpose": ""}, {"purpose": "Marketing<script>"}, {"data_items": [[]]}):
        refused = client.post("/consent/presentation-grants", json={**body, **change}, headers=verifier)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
    with platform.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM consent_records")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM consent_events")).scalar() == 0
