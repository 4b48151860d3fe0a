"""Bulk issuance over HTTP is idempotent (issue 14, defect 10): a body sent again, because its
response was lost or the server died under it, returns the outcome of its rows and never creates a
second offer; the batch's counts are exactly the rows settled. Idempotency-Key follows
draft-ietf-httpapi-idempotency-key-header: 422 for a key reused with another body, 409 while the
first request is still being processed."""

from __future__ import annotations

import json

from sqlalchemy import text

from issuers.bulk import Bulk
from issuers.offers import Offers
from tests.issuers.conftest import RESIDENT, snapshot
from tests.issuers.test_bulk import cohort

JSONL = {"Content-Type": "application/jsonl"}


def _open(client, headers, **body) -> str:
    response = client.post(
        "/issuers/mois/batches", json={"credential_type": "resident_registration", **body}, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()["batch_id"]


def _post(client, headers, batch: str, body: bytes, key: str | None = None):
    extra = {"Idempotency-Key": key} if key is not None else {}
    return client.post(f"/issuers/mois/batches/{batch}/rows", content=body, headers={**headers, **JSONL, **extra})


def _offers_of(platform, batch: str) -> list[tuple[int, str]]:
    with platform.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT batch_line, id FROM issuer_offers WHERE batch_id = :b ORDER BY batch_line"), {"b": batch}
        )
        return [(line, offer_id) for line, offer_id in rows]


def _body(rows: int, start: int = 1) -> bytes:
    lines = cohort(rows + start - 1)[start - 1 :]
    return ("\n".join(lines) + "\n").encode()


def test_a_body_sent_again_returns_its_offers_and_creates_none(client, mois, platform) -> None:
    """A lost response is retried with the same bytes: the retry is that body, not a new one."""
    batch = _open(client, mois)
    body = _body(1200)  # more than one transaction of rows; lines 7 and 100 are malformed
    first = _post(client, mois, batch, body)
    assert first.status_code == 200, first.text
    again = _post(client, mois, batch, body)
    assert again.status_code == 200, again.text
    assert again.json()["results"] == first.json()["results"]
    assert again.json()["first_line"] == first.json()["first_line"] == 1
    offers = _offers_of(platform, batch)
    assert len(offers) == 1198 and len({line for line, _ in offers}) == 1198
    assert {r["offer_id"] for r in first.json()["results"] if "offer_id" in r} == {o for _, o in offers}
    progress = again.json()["batch"]
    assert (progress["lines"], progress["created"], progress["failed"], progress["pending_lines"]) == (1200, 1198, 2, 0)


def test_a_retry_with_the_same_idempotency_key_creates_no_second_offer(client, mois, platform) -> None:
    batch = _open(client, mois)
    first = _post(client, mois, batch, _body(10), key='"part-1"')
    second = _post(client, mois, batch, _body(10, start=11), key='"part-2"')
    retried = _post(client, mois, batch, _body(10), key='"part-1"')
    assert first.status_code == second.status_code == retried.status_code == 200
    assert retried.json()["results"] == first.json()["results"]
    assert [second.json()["first_line"], retried.json()["first_line"]] == [11, 1]
    assert [line for line, _ in _offers_of(platform, batch)] == [n for n in range(1, 21) if n != 7]
    progress = client.get(f"/issuers/mois/batches/{batch}", headers=mois).json()
    assert (progress["lines"], progress["created"], progress["failed"]) == (20, 19, 1)


def test_an_idempotency_key_reused_with_another_body_is_refused(client, mois, platform) -> None:
    batch = _open(client, mois)
    assert _post(client, mois, batch, _body(5), key='"k"').status_code == 200
    before = snapshot(platform.engine)
    reused = _post(client, mois, batch, _body(5, start=6), key='"k"')
    assert reused.status_code == 422
    assert reused.headers["content-type"] == "application/problem+json"
    assert "Idempotency-Key" in reused.json()["detail"]
    assert snapshot(platform.engine) == before


MALFORMED_KEYS = {
    "unterminated": '"unterminated',
    "empty": '""',
    "too long": '"' + "k" * 256 + '"',
    "control character": '"tab\there"',
    "not a string": "two words",
    "two items": '"a", "b"',
}


def test_a_malformed_idempotency_key_is_a_400_and_writes_nothing(client, mois, platform) -> None:
    batch = _open(client, mois)
    before = snapshot(platform.engine)
    for name, key in MALFORMED_KEYS.items():
        refused = _post(client, mois, batch, _body(3), key=key)
        assert refused.status_code == 400, (name, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
    assert snapshot(platform.engine) == before


def test_a_bare_token_idempotency_key_is_accepted_as_the_same_key(client, mois, platform) -> None:
    """Many clients send the key unquoted (as Stripe documents it); it names the same body."""
    batch = _open(client, mois)
    assert _post(client, mois, batch, _body(4), key="3f2a-b7").status_code == 200
    assert _post(client, mois, batch, _body(4), key='"3f2a-b7"').status_code == 200
    assert len(_offers_of(platform, batch)) == 4


def test_a_body_still_being_processed_answers_409_with_retry_after(client, mois, platform, issuer_context) -> None:
    batch = _open(client, mois)
    body = _body(3)
    bulk = Bulk(Offers(issuer_context))
    agency = issuer_context.agencies.get("mois")
    bulk.claim_part(agency, batch, "busy", Bulk.fingerprint(body), 3)  # another worker holds it
    before = snapshot(platform.engine)
    busy = _post(client, mois, batch, body, key='"busy"')
    assert busy.status_code == 409, busy.text
    assert busy.headers["content-type"] == "application/problem+json"
    assert 1 <= int(busy.headers["retry-after"]) <= 60
    assert snapshot(platform.engine) == before


def test_a_body_whose_worker_died_is_finished_by_its_retry_and_only_then_closes(
    client, mois, platform, issuer_context
) -> None:
    """A claim whose lease ran out is a worker that died: its rows are pending until the body is
    sent again, and the batch cannot be closed with rows unaccounted for."""
    batch = _open(client, mois)
    body = _body(12)
    dead = Bulk(Offers(issuer_context), lease_seconds=0)
    agency = issuer_context.agencies.get("mois")
    claim = dead.claim_part(agency, batch, "sha256:" + Bulk.fingerprint(body), Bulk.fingerprint(body), 12)
    assert claim.first_line == 1
    progress = client.get(f"/issuers/mois/batches/{batch}", headers=mois).json()
    assert (progress["lines"], progress["pending_lines"]) == (0, 12)
    closing = client.post(f"/issuers/mois/batches/{batch}/close", headers=mois)
    assert closing.status_code == 409 and "12 lines" in closing.json()["detail"]
    retried = _post(client, mois, batch, body)
    assert retried.status_code == 200, retried.text
    assert retried.json()["first_line"] == 1 and len(retried.json()["results"]) == 12
    closed = client.post(f"/issuers/mois/batches/{batch}/close", headers=mois).json()
    assert (closed["state"], closed["lines"], closed["created"], closed["failed"], closed["pending_lines"]) == (
        "closed",
        12,
        11,
        1,
        0,
    )


def test_blank_lines_are_not_counted_as_rows(client, mois) -> None:
    """`lines` is the rows settled, created + failed: a blank line is neither."""
    batch = _open(client, mois)
    good = cohort(3)
    body = (good[0] + "\n\n" + good[1] + "\n   \n" + good[2] + "\n\n").encode()
    response = _post(client, mois, batch, body)
    assert response.status_code == 200, response.text
    assert [r["line"] for r in response.json()["results"]] == [1, 3, 5]
    progress = response.json()["batch"]
    assert (progress["lines"], progress["created"], progress["failed"]) == (3, 3, 0)
    assert progress["pending_lines"] == 0


def test_a_csv_body_sent_again_keeps_its_header_and_creates_no_second_offer(client, mois, platform) -> None:
    batch = _open(client, mois, format="csv")
    body = (
        b"subject,birth_date,nationality_status,resident_sido,as_of\n"
        b"citizen-c1,2001-01-01,citizen,11,2026-11-01\n"
        b"citizen-c2,2001-01-01,citizen,11,not-a-date\n"
        b"citizen-c3,2002-02-02,citizen,11,2026-11-01\n"
    )
    headers = {**mois, "Content-Type": "text/csv"}
    first = client.post(f"/issuers/mois/batches/{batch}/rows", content=body, headers=headers)
    again = client.post(f"/issuers/mois/batches/{batch}/rows", content=body, headers=headers)
    assert first.status_code == again.status_code == 200, again.text
    assert again.json()["results"] == first.json()["results"]
    assert [r["line"] for r in first.json()["results"]] == [2, 3, 4]
    assert [line for line, _ in _offers_of(platform, batch)] == [2, 4]
    progress = again.json()["batch"]
    assert (progress["lines"], progress["created"], progress["failed"]) == (3, 2, 1)


def test_opening_a_batch_again_with_its_idempotency_key_returns_that_batch(client, mois, platform) -> None:
    key = {"Idempotency-Key": '"cohort-2026-11"'}
    body = {"credential_type": "resident_registration"}
    first = client.post("/issuers/mois/batches", json=body, headers={**mois, **key})
    again = client.post("/issuers/mois/batches", json=body, headers={**mois, **key})
    assert first.status_code == again.status_code == 201, again.text
    assert again.json()["batch_id"] == first.json()["batch_id"]
    with platform.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM issuer_batches")).scalar() == 1
    other = client.post("/issuers/mois/batches", json={**body, "format": "csv"}, headers={**mois, **key})
    assert other.status_code == 422 and "already names a batch" in other.json()["detail"]


def test_a_closed_batch_still_answers_a_retry_of_a_finished_body(client, mois, platform) -> None:
    batch = _open(client, mois)
    body = _body(3)
    first = _post(client, mois, batch, body)
    assert client.post(f"/issuers/mois/batches/{batch}/close", headers=mois).status_code == 200
    retried = _post(client, mois, batch, body)
    assert retried.status_code == 200 and retried.json()["results"] == first.json()["results"]
    late = _post(client, mois, batch, json.dumps({"subject": "citizen-late", "claims": RESIDENT}).encode())
    assert late.status_code == 409
    assert len(_offers_of(platform, batch)) == 3
