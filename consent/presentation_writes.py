"""A consent given by presenting, written so that the log lock is held only for the append, and
held once for every grant of this process that queued for it.

The record, its link to the verifier's request and its three events (requested, granted, used)
commit in one transaction, as before: a consent is never left half recorded. What changed (issue
15) is what runs while that transaction holds the log lock, which every ledger change in every
worker waits for:
- before the lock: the status index (reserved in blocks, consent/status_indexes.py), the record's
  body, the three sealed events (salts, commitments), the record and link rows (a concurrent post
  of the same request fails on the link here, holding nothing);
- under it: the head (one statement that locks and reads it), the three events with their leaves
  and subtrees (one statement per table), the new head, the checkpoint (signed once, its
  consistency with the previous one known without a proof when that one is the head it extends),
  the grant's inclusion proof (one read, checked before signing), the receipt stored;
- the record's state machine for a fresh record (requested -> granted -> used) is checked in
  Python against the same table the ledger applies elsewhere.
Before: 26 statements under the lock, each with a worker's Python around it; then 10.

Group commit (storage/group_commit.py): the grants that queue in this process while a
transaction holds the lock are written together in the next one, with the same statements for
all of them (one executemany per table, one checkpoint, one read of the subtrees for every
inclusion proof). The lock was never free under load, and its hold was mostly the holder's
Python between statements, so sharing it is what lets more grants through. A batch that fails
(one grant's link lost a race, a use refused, a lost connection) is written again one grant at a
time, so a grant fails only for its own reasons, exactly as when it was written alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy.engine import Connection

from consent import log as tlog
from consent.models import ConsentEvent, ConsentRecord
from consent.schemas import ConsentRecordIn
from consent.service import TRANSITIONS, ConsentLedger, ReceiptFor
from consent.writes import SealedEvent, record_body, record_row, seal_event

_RECORDS = ConsentRecord.__table__
_EVENTS = ConsentEvent.__table__


def presentation_state(one_time: bool) -> str:
    """The state a fresh record ends in after requested -> granted -> used, by the ledger's table."""
    state = "requested"
    for event_type in ("granted", "used"):
        allowed, target = TRANSITIONS[event_type]
        if state not in allowed:
            raise AssertionError(f"a fresh record cannot be {event_type}")  # the table changed: a bug
        state = "used_up" if event_type == "used" and one_time else target
    return state


@dataclass(frozen=True, slots=True)
class PreparedGrant:
    """One grant with everything that needs no lock done: its rows, sealed events and link."""

    record_id: str
    values: dict[str, Any]
    body: dict[str, Any]
    events: list[SealedEvent]
    link: Callable[[Connection, str], None]
    now: float


def grant_at_presentation(
    ledger: ConsentLedger, record: ConsentRecordIn, verifier_id: str, link: Callable[[Connection, str], None]
) -> tuple[str, str]:
    """Requested, granted and used in one transaction; `link(conn, record_id)` runs in it before the
    log lock, and whatever it raises (an IntegrityError when a concurrent post linked first)
    undoes everything. Returns (record id, the grant's receipt)."""
    now = ledger.clock()
    now_ms = int(now * 1000)
    record_id = str(uuid.uuid4())
    body = record_body(record_id, record)
    final_state = presentation_state(record.frequency.kind == "one_time")
    status_index = ledger.status_indexes.take(record.recipient)
    events = [
        seal_event(body, "requested", record.actor.role, None, now_ms),
        seal_event(body, "granted", "citizen", None, now_ms),
        seal_event(body, "used", "verifier", {"verifier": verifier_id}, now_ms),
    ]
    values = record_row(record_id, record, body, status_index, final_state, now)
    grant = PreparedGrant(record_id, values, body, events, link, now)
    return ledger.presentation_commits.submit(grant, lambda grants: write_grants(ledger, grants))


def write_grants(ledger: ConsentLedger, grants: Sequence[PreparedGrant]) -> list[tuple[str, str] | Exception]:
    """Write the grants in one transaction; if that fails, each alone, so each gets its own outcome."""
    if len(grants) > 1:
        try:
            return _write_together(ledger, grants)
        except Exception:  # whatever it was, each grant alone says whose it is
            pass
    outcomes: list[tuple[str, str] | Exception] = []
    for grant in grants:
        try:
            outcomes.extend(_write_together(ledger, [grant]))
        except Exception as exc:  # this grant's own failure, raised in its thread
            outcomes.append(exc)
    return outcomes


def _write_together(ledger: ConsentLedger, grants: Sequence[PreparedGrant]) -> list[tuple[str, str]]:
    signing_key = ledger.signing_key()  # before any lock: a first use may write to the key table
    with ledger.engine.begin() as conn:
        conn.execute(insert(_RECORDS), [grant.values for grant in grants])
        rows = []
        for grant in grants:
            grant.link(conn, grant.record_id)
            row = SimpleNamespace(**grant.values)
            ledger.check_use(conn, row, grant.now)  # the ledger's rule for a use, as record_use applies it
            rows.append(row)
        appender = tlog.LogAppender.lock(conn)
        event_rows, signed = [], []
        for grant, row in zip(grants, rows, strict=True):
            now_ms = grant.events[0].time_ms
            leaves = [appender.append(event.type, event.commitment, now_ms) for event in grant.events]
            event_rows += [
                event.row(grant.record_id, leaf.index) for event, leaf in zip(grant.events, leaves, strict=True)
            ]
            signed.append(ReceiptFor(row, grant.body, leaves[1], grant.events[1].opened, grant.now))
        conn.execute(insert(_EVENTS), event_rows)
        appender.flush()
        receipts = ledger.receipts(conn, appender, signing_key, signed)
        conn.execute(
            update(_RECORDS).where(_RECORDS.c.id == bindparam("record")).values(receipt=bindparam("signed")),
            [{"record": grant.record_id, "signed": receipt} for grant, receipt in zip(grants, receipts, strict=True)],
        )
    return [(grant.record_id, receipt) for grant, receipt in zip(grants, receipts, strict=True)]
