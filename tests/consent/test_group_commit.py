"""Grants at presentation that queue for the log lock share the next transaction (group commit), and
each still gets its own outcome: a receipt that verifies, or its own refusal with nothing written.

Real threads on the real test database (SQLite or PostgreSQL). To make the queue form, the test
holds the log's lock itself (a transaction that has written the head row), as a busy worker's
append would, starts the grants and releases the lock once all but the first are queued."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

from sqlalchemy import text

from consent.audit import LocalSource, audit
from consent.presentations import PresentationConsentRefused, record_presentation_grant
from consent.receipts import verify_receipt
from consent.service import StateConflict
from tests.support.grants import grant_body

VERIFIER = "verifier:seoul-youth"


@contextlib.contextmanager
def _log_lock_held(ledger) -> Iterator[None]:
    with ledger.engine.connect() as conn:
        transaction = conn.begin()
        conn.execute(text("UPDATE consent_log_head SET updated_at = updated_at WHERE id = 1"))
        try:
            yield
        finally:
            transaction.rollback()


def _grants_while_the_lock_is_held(ledger, bodies: list) -> list:
    """Post `bodies` from one thread each while the log lock is held elsewhere; release it once
    every grant but the first (which leads, blocked on the lock) is queued. The outcomes, in order."""
    record_presentation_grant(ledger, VERIFIER, grant_body("req-warm-up", subject="citizen-warm-up"))  # the head row
    outcomes: list = [None] * len(bodies)

    def post(position: int) -> None:
        try:
            outcomes[position] = record_presentation_grant(ledger, VERIFIER, bodies[position])
        except Exception as exc:  # collected: the test asserts on it
            outcomes[position] = exc

    threads = [threading.Thread(target=post, args=(i,)) for i in range(len(bodies))]
    with _log_lock_held(ledger):
        threads[0].start()
        _wait_for(lambda: ledger.presentation_commits.batches == 1 and _writing(ledger))
        for thread in threads[1:]:
            thread.start()
        _wait_for(lambda: ledger.presentation_commits.waiting == len(bodies) - 1)
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


def _writing(ledger) -> bool:
    # The first grant's leader is inside its transaction (blocked on the held lock), not queued.
    return ledger.presentation_commits.waiting == 0 and ledger.presentation_commits.writing


def _wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the grants did not queue for the log lock")
        time.sleep(0.01)


def _count(ledger, table: str) -> int:
    with ledger.engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def _bodies(count: int) -> list:
    return [grant_body(f"req-queued-{i}", subject=f"citizen-queued-{i}") for i in range(count)]


def test_grants_queued_behind_the_log_lock_are_written_in_one_transaction_with_one_checkpoint(ledger) -> None:
    checkpoints_before = _count(ledger, "consent_log_checkpoints") + 1  # the warm-up grant's
    outcomes = _grants_while_the_lock_is_held(ledger, _bodies(5))
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    # The first grant alone (it led while the lock was held), then the four that queued, together.
    assert ledger.presentation_commits.batches == 3  # warm-up, the first grant, the four
    assert _count(ledger, "consent_log_checkpoints") - checkpoints_before == 2
    jwks = ledger.jwks()
    receipts = [verify_receipt(o.receipt, jwks, ledger.origin) for o in outcomes]
    assert len({o.record_id for o in outcomes}) == 5
    assert [r.claims["sub"] for r in receipts] == [o.record_id for o in outcomes]
    assert [r.claims["event"]["type"] for r in receipts] == ["granted"] * 5
    # The four share the batch's checkpoint; each proves its own leaf under it.
    assert len({r.checkpoint.tree_size for r in receipts[1:]}) == 1
    assert len({r.leaf_index for r in receipts}) == 5
    assert _count(ledger, "consent_events") == 3 * 6
    audit(LocalSource(ledger))


def test_a_grant_refused_inside_a_batch_is_refused_alone_and_the_others_are_written(ledger, monkeypatch) -> None:
    check_use = ledger.check_use

    def refuse_one(conn, row, now) -> None:
        if row.citizen_id == "citizen:citizen-queued-2":
            raise StateConflict("refused for the test", "granted")
        check_use(conn, row, now)

    monkeypatch.setattr(ledger, "check_use", refuse_one)
    bodies = _bodies(4)
    # And one request posted twice in the same batch (a verifier's retry racing itself): its
    # link fails in the batch; alone, the second post answers the first one's record.
    bodies.append(bodies[3])
    outcomes = _grants_while_the_lock_is_held(ledger, bodies)
    assert isinstance(outcomes[2], PresentationConsentRefused), outcomes[2]
    written = [o for i, o in enumerate(outcomes) if i != 2]
    assert not [o for o in written if isinstance(o, Exception)], written
    assert outcomes[4].record_id == outcomes[3].record_id
    assert len({o.record_id for o in written}) == 3
    # The warm-up and three grants, nothing of the refused one: records, links and events.
    assert _count(ledger, "consent_records") == 4
    assert _count(ledger, "consent_presentation_links") == 4
    assert _count(ledger, "consent_events") == 3 * 4
    with ledger.engine.connect() as conn:
        refused = conn.execute(
            text("SELECT count(*) FROM consent_records WHERE citizen_id = 'citizen:citizen-queued-2'")
        ).scalar_one()
    assert refused == 0
    audit(LocalSource(ledger))
