"""The rows the ledger writes: a consent record's body and row, and a sealed event (its salt, the
commitment its log leaf carries and its row). Pure functions of their inputs, so a caller can
prepare them before it takes the log lock."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from consent.receipts import commitment
from consent.schemas import SCHEMA_VERSION, ConsentRecordIn, to_timestamp
from keys.jwk import b64url_encode
from vc.canonical_json import canonical_json


def record_body(record_id: str, record: ConsentRecordIn) -> dict[str, Any]:
    """The record as every receipt carries it."""
    named = record.model_dump(mode="json", exclude={"citizen_at_recipient"})
    if record.citizen_at_recipient is not None:
        # The body travels to the recipient in every receipt: it names her as the recipient knows
        # her. Who owns the record (the citizen_id column, her own lists) stays `record.citizen`.
        named["citizen"] = f"pairwise:{record.citizen_at_recipient}"
    return {"id": record_id, "schema_version": SCHEMA_VERSION, **named}


def record_row(
    record_id: str, record: ConsentRecordIn, body: dict[str, Any], status_index: int, state: str, now: float
) -> dict[str, Any]:
    """The `consent_records` row of a new record."""
    return {
        "id": record_id,
        "citizen_id": record.citizen,
        "verifier_id": record.recipient,
        "status_index": status_index,
        "state": state,
        "one_time": record.frequency.kind == "one_time",
        "valid_from": to_timestamp(record.validity.start),
        "valid_until": to_timestamp(record.validity.end),
        "notice_version": record.notice.version,
        "body": canonical_json(body).decode("utf-8"),
        "created_at": int(now),
        "updated_at": int(now),
    }


@dataclass(frozen=True, slots=True)
class SealedEvent:
    """An event before it has a leaf: what its receipt opens, and the commitment its leaf carries."""

    type: str
    time_ms: int
    actor: str
    details: dict[str, Any] | None
    salt: bytes
    commitment: str

    @property
    def opened(self) -> dict[str, Any]:
        """What a receipt reveals of the event, so anyone can recompute the leaf's commitment."""
        return {
            "type": self.type,
            "time": self.time_ms,
            "actor": self.actor,
            "details": self.details,
            "salt": b64url_encode(self.salt),
            "commitment": self.commitment,
        }

    def row(self, record_id: str, leaf_index: int) -> dict[str, Any]:
        """The `consent_events` row, once the event has its leaf."""
        return {
            "record_id": record_id,
            "type": self.type,
            "time_ms": self.time_ms,
            "actor": self.actor,
            "details": json.dumps(self.details, ensure_ascii=False) if self.details is not None else None,
            "salt": self.salt,
            "leaf_index": leaf_index,
        }


def seal_event(
    body: dict[str, Any], event_type: str, actor: str, details: dict[str, Any] | None, now_ms: int
) -> SealedEvent:
    salt = secrets.token_bytes(32)
    opened = {"type": event_type, "time": now_ms, "actor": actor, "details": details}
    return SealedEvent(event_type, now_ms, actor, details, salt, commitment(salt, body, opened))
