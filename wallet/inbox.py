"""The citizen's inbox: what the wallet has to tell her. A new credential, a service she became
eligible for, a consent about to expire, a credential revoked, suspended or valid again.

Each item names its event with a `dedupe_key`, unique per citizen: announcing the same event again
(another worker, another refresh round, the next time the inbox is opened) adds nothing. Payloads
carry names and ids (credential type, issuer, service, consent id), never a claim value.

Two kinds are derived when the inbox is read rather than pushed by an event: services that became
eligible (`eligible_now`, the wallet's local evaluation, compared with those already announced) and
consents expiring within 30 days (`expiring`, from the consent ledger).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

import catalog
from wallet.history import sortable_id
from wallet.models import WalletInboxItem

log = logging.getLogger("seoul_wallet.wallet")

KINDS = (
    "credential_received",
    "service_eligible",
    "consent_expiring",
    "credential_revoked",
    "credential_suspended",
    "credential_valid_again",  # a suspension lifted
    "credential_offered",  # an agency delivered an offer (wallet/offer_delivery.py)
)
EXPIRY_WINDOW = 30 * 86400
MAX_LIMIT = 200

_TABLE = WalletInboxItem.__table__


class InboxItemNotFound(LookupError):
    """No such item of this citizen (someone else's id answers the same)."""

    reason = "inbox_item_not_found"


@dataclass(frozen=True, slots=True)
class InboxItem:
    id: str
    created_at: int
    kind: str
    payload: dict[str, Any]
    read_at: int | None

    @property
    def read(self) -> bool:
        return self.read_at is not None


def _item(row: WalletInboxItem) -> InboxItem:
    return InboxItem(
        id=row.id, created_at=row.created_at, kind=row.kind, payload=dict(row.payload), read_at=row.read_at
    )


def _seconds(value: Any) -> int | None:
    """A validity end as Unix seconds: a number, or an ISO 8601 time as the ledger's summaries give it."""
    if type(value) in (int, float) and 0 <= value < 2**53:
        return int(value)
    if isinstance(value, str):
        try:
            return int(datetime.fromisoformat(value).timestamp())
        except ValueError:
            return None
    return None


def _named(value: Any) -> dict[str, Any] | None:
    """`{id, name}` of a consent's service or controller, when it has that shape."""
    if isinstance(value, Mapping) and isinstance(value.get("id"), str):
        name = value.get("name")
        names = (
            {k: v for k, v in name.items() if k in ("ko", "en") and isinstance(v, str)}
            if isinstance(name, Mapping)
            else {}
        )
        return {"id": value["id"][:200], "name": names}
    return None


def _consent_notice(consent: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The dedupe key and payload of an expiring consent: by id and validity end, so a consent
    re-granted with a new end is announced again. Only named fields are copied (ids, names, the end):
    a summary's data items are claim names, but nothing else is needed here."""
    consent_id = consent.get("id")
    validity = consent.get("validity")
    end = consent.get("valid_until", consent.get("end"))
    if end is None and isinstance(validity, Mapping):
        end = validity.get("end")
    until = _seconds(end)
    if not isinstance(consent_id, str) or until is None:
        return None
    payload = {
        "consent_id": consent_id,
        "valid_until": until,
        "service": _named(consent.get("service")),
        "controller": _named(consent.get("controller")),
    }
    return f"consent_expiring:{consent_id}:{until}", payload


class Inbox:
    def __init__(
        self,
        engine: Engine,
        clock: Callable[[], float] = time.time,
        eligible_now: Callable[[str], set[str]] | None = None,
        expiring: Callable[[str, int], list[dict[str, Any]]] | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.eligible_now = eligible_now
        self.expiring = expiring

    def add(self, citizen_id: str, kind: str, dedupe_key: str, payload: Mapping[str, Any]) -> bool:
        """Announce an event once: True when the item is new, False when it was announced already."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        now = self.clock()
        row = WalletInboxItem(
            id=sortable_id(now),
            citizen_id=citizen_id,
            created_at=int(now),
            kind=kind,
            dedupe_key=dedupe_key[:300],
            payload=dict(payload),
        )
        with Session(self.engine) as session:
            session.add(row)
            try:
                session.commit()
            except IntegrityError:  # (citizen, dedupe_key) exists: announced before, maybe by another worker
                session.rollback()
                return False
        return True

    def _keys(self, citizen_id: str, kind: str) -> set[str]:
        with Session(self.engine) as session:
            rows = session.exec(
                select(WalletInboxItem.dedupe_key).where(
                    WalletInboxItem.citizen_id == citizen_id, WalletInboxItem.kind == kind
                )
            ).all()
        return set(rows)

    def refresh_derived(self, citizen_id: str) -> int:
        """Add the items derived from the citizen's present state; returns how many were new. A
        source that fails is logged and skipped: the inbox still opens."""
        added = 0
        if self.eligible_now is not None:
            try:
                eligible = set(self.eligible_now(citizen_id))
            except Exception:  # another party's evaluation: its failure must not close the inbox
                log.exception("inbox: eligible services unavailable")
                eligible = set()
            announced = self._keys(citizen_id, "service_eligible")
            services = catalog.services()
            for service_id in sorted(eligible):
                key = f"service_eligible:{service_id}"
                if key in announced:
                    continue
                service = services.get(service_id)
                payload = {"service_id": service_id, "name": dict(service.name) if service is not None else {}}
                added += self.add(citizen_id, "service_eligible", key, payload)
        if self.expiring is not None:
            try:
                consents = list(self.expiring(citizen_id, EXPIRY_WINDOW))
            except Exception:  # the ledger: its failure must not close the inbox
                log.exception("inbox: expiring consents unavailable")
                consents = []
            announced = self._keys(citizen_id, "consent_expiring")
            for consent in consents:
                notice = _consent_notice(consent) if isinstance(consent, Mapping) else None
                if notice is not None and notice[0] not in announced:
                    added += self.add(citizen_id, "consent_expiring", *notice)
        return added

    def list(self, citizen_id: str, limit: int = 100, *, refresh: bool = True) -> list[InboxItem]:
        """The citizen's items, newest first, after adding the derived ones."""
        if refresh:
            self.refresh_derived(citizen_id)
        limit = max(1, min(limit, MAX_LIMIT))
        with Session(self.engine) as session:
            rows = session.exec(
                select(WalletInboxItem)
                .where(WalletInboxItem.citizen_id == citizen_id)
                .order_by(col(WalletInboxItem.id).desc())
                .limit(limit)
            ).all()
            return [_item(row) for row in rows]

    def mark_read(self, citizen_id: str, item_id: str) -> InboxItem:
        """Mark one of the citizen's items read (the first time it was read is kept)."""
        with self.engine.begin() as connection:
            connection.execute(
                update(_TABLE)
                .where(_TABLE.c.id == item_id, _TABLE.c.citizen_id == citizen_id, _TABLE.c.read_at.is_(None))
                .values(read_at=int(self.clock()))
            )
        with Session(self.engine) as session:
            row = session.get(WalletInboxItem, item_id)
            if row is None or row.citizen_id != citizen_id:
                raise InboxItemNotFound("no such inbox item")
            return _item(row)

    def unread_count(self, citizen_id: str) -> int:
        with Session(self.engine) as session:
            count = session.exec(
                select(func.count())
                .select_from(WalletInboxItem)
                .where(WalletInboxItem.citizen_id == citizen_id, col(WalletInboxItem.read_at).is_(None))
            ).one()
        return int(count)

    def export(self, citizen_id: str) -> list[dict[str, Any]]:
        """Every item of the citizen, newest first, as JSON (her data export; nothing is derived)."""
        with Session(self.engine) as session:
            rows = session.exec(
                select(WalletInboxItem)
                .where(WalletInboxItem.citizen_id == citizen_id)
                .order_by(col(WalletInboxItem.id).desc())
            ).all()
            return [asdict(_item(row)) for row in rows]

    def erase(self, citizen_id: str) -> int:
        """Delete every item of the citizen; returns how many."""
        with self.engine.begin() as connection:
            result = connection.execute(delete(_TABLE).where(_TABLE.c.citizen_id == citizen_id))
        return int(result.rowcount or 0)
