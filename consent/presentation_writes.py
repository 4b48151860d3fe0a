"""A consent given by presenting, written so that the log lock is held only for the append.

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
Before: 26 statements under the lock, each with a worker's Python around it; now 10.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from types import SimpleNamespace

from sqlalchemy import insert, update
from sqlalchemy.engine import Connection

from consent import log as tlog
from consent.models import ConsentEvent, ConsentRecord
from consent.schemas import ConsentRecordIn
from consent.service import TRANSITIONS, ConsentLedger
from consent.writes import record_body, record_row, seal_event

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


def grant_at_presentation(
    ledger: ConsentLedger, record: ConsentRecordIn, verifier_id: str, link: Callable[[Connection, str], None]
) -> tuple[str, str]:
    """Requested, granted and used in one transaction; `link(conn, record_id)` runs in it before the
    log lock, and whatever it raises (an IntegrityError when a concurrent post linked first)
    undoes everything. Returns (record id, the grant's receipt)."""
    signing_key = ledger.signing_key()  # before any lock: a first use may write to the key table
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
    with ledger.engine.begin() as conn:
        values = record_row(record_id, record, body, status_index, final_state, now)
        conn.execute(insert(_RECORDS).values(values))
        link(conn, record_id)
        row = SimpleNamespace(**values)
        ledger.check_use(conn, row, now)  # the ledger's rule for a use, as record_use applies it
        appender = tlog.LogAppender.lock(conn)
        leaves = [appender.append(event.type, event.commitment, now_ms) for event in events]
        conn.execute(
            insert(_EVENTS), [event.row(record_id, leaf.index) for event, leaf in zip(events, leaves, strict=True)]
        )
        appender.flush()
        receipt = ledger.receipt(conn, appender, signing_key, row, body, leaves[1], events[1].opened, now)
        conn.execute(update(_RECORDS).where(_RECORDS.c.id == record_id).values(receipt=receipt))
    return record_id, receipt
