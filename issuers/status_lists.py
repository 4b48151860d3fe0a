"""Agency status lists (IETF Token Status List): index allocation, status changes, signed tokens.

Indexes come from a keyed permutation of a per-list counter (keys/permutation.py): every index is
used once, no retry loop is needed as the list fills, and without the key neighbouring indexes say
nothing about issuance order, so they do not link citizens.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from issuers.models import StatusListRecord
from issuers.sealing import IssuerSecrets, new_id
from keys.keyring import KeyRing
from keys.permutation import permuted_index
from vc.status_list import INVALID, SUSPENDED, VALID, StatusList, build_status_list_token

LIST_BITS = 2  # VALID / INVALID / SUSPENDED need two bits
LIST_SIZE = 1 << 17  # 131,072 entries: at least 100,000 per list
RESERVE_BLOCK = 16  # indexes reserved per transaction by take()
STATUS_TTL = 300  # seconds a relying party may cache a status list token
STATUS_TOKEN_LIFETIME = 24 * 3600

STATUS_NAMES = {VALID: "valid", INVALID: "revoked", SUSPENDED: "suspended"}


@dataclass(frozen=True, slots=True)
class Allocation:
    list_id: str
    index: int


class StatusLists:
    """Allocation and updates go through the caller's transaction; tokens are signed on demand."""

    def __init__(self, keyring: KeyRing, secrets: IssuerSecrets, public_url: str) -> None:
        self._keyring = keyring
        self._secrets = secrets
        self._public_url = public_url
        # Signed token per list, reused until the list's version changes or the token ages.
        self._tokens: dict[str, tuple[int, int, str]] = {}
        self._reserve: dict[str, list[Allocation]] = {}  # per agency, reserved indexes not yet used
        self._lock = threading.Lock()

    def uri(self, agency: str, list_id: str) -> str:
        return f"{self._public_url}/issuers/{agency}/status-lists/{list_id}"

    def allocate(self, connection: Connection, agency: str, count: int = 1) -> list[Allocation]:
        """Take the next `count` indexes of the agency's open list (fewer only as a list fills; a new
        list opens when it is full), in the caller's transaction."""
        table = StatusListRecord.__table__
        for _ in range(3):
            current = connection.execute(
                select(table.c.id, table.c.sequence)
                .where(table.c.agency == agency)
                .order_by(col(table.c.sequence).desc())
                .limit(1)
            ).first()
            if current is not None:
                for wanted in dict.fromkeys((count, 1)):
                    # The conditional increment is atomic on SQLite and PostgreSQL alike: two workers
                    # never receive the same counter value.
                    result = connection.execute(
                        update(table)
                        .where(table.c.id == current.id, table.c.allocated + wanted <= table.c.size)
                        .values(allocated=table.c.allocated + wanted)
                        .returning(table.c.allocated)
                    ).first()
                    if result is not None:
                        key = self._secrets.status_list_key(current.id)
                        first = result.allocated - wanted
                        return [
                            Allocation(current.id, permuted_index(key, n, LIST_SIZE))
                            for n in range(first, result.allocated)
                        ]
            sequence = 1 if current is None else current.sequence + 1
            now = int(time.time())
            list_id = new_id()
            connection.execute(
                table.insert().values(
                    id=list_id,
                    agency=agency,
                    sequence=sequence,
                    bits=LIST_BITS,
                    size=LIST_SIZE,
                    allocated=0,
                    version=0,
                    statuses=StatusList(LIST_SIZE, LIST_BITS).to_bytes(),
                    created_at=now,
                    updated_at=now,
                )
            )
        raise RuntimeError("could not allocate a status list index")

    def take(self, engine: Engine, agency: str) -> Allocation:
        """One index for a credential about to be signed, from this process's reserve.

        Indexes are reserved RESERVE_BLOCK at a time in a short transaction of their own, so the
        credential endpoint signs without holding the database's write lock (on SQLite, a waiting
        worker sleeps whole milliseconds). A reserved index that is never used is a gap: it stays
        VALID and is referenced by nothing."""
        with self._lock:
            pool = self._reserve.setdefault(agency, [])
            if pool:
                return pool.pop()
        for attempt in range(3):
            try:
                with engine.begin() as connection:
                    reserved = self.allocate(connection, agency, RESERVE_BLOCK)
                break
            except IntegrityError:
                # Another worker opened the agency's next list at the same moment: use theirs.
                if attempt == 2:
                    raise
        with self._lock:
            allocation, *rest = reserved
            self._reserve.setdefault(agency, []).extend(reversed(rest))
        return allocation

    @staticmethod
    def set_status(session: Session, list_id: str, index: int, status: int) -> None:
        """Change one entry inside the caller's transaction (row-locked on PostgreSQL)."""
        record = session.exec(select(StatusListRecord).where(StatusListRecord.id == list_id).with_for_update()).one()
        entries = StatusList.from_bytes(record.statuses, record.bits)
        entries.set(index, status)
        record.statuses = entries.to_bytes()
        record.version += 1
        record.updated_at = int(time.time())
        session.add(record)

    def token(self, session: Session, agency: str, list_id: str) -> tuple[str, int] | None:
        """The signed status list token and the list version, or None if the agency has no such list."""
        version_row = session.exec(
            select(StatusListRecord.version).where(StatusListRecord.id == list_id, StatusListRecord.agency == agency)
        ).first()
        if version_row is None:
            return None
        version = int(version_row)
        now = int(time.time())
        with self._lock:
            cached = self._tokens.get(list_id)
        # Re-sign when the list changed or the cached token has lived half its lifetime.
        if cached is not None and cached[0] == version and now - cached[1] < STATUS_TOKEN_LIFETIME // 2:
            return cached[2], version
        record = session.get(StatusListRecord, list_id)
        assert record is not None
        owner = f"agency:{agency}"
        key = self._keyring.active_key(owner)
        token = build_status_list_token(
            StatusList.from_bytes(record.statuses, record.bits),
            key.private_key,
            uri=self.uri(agency, list_id),
            iat=now,
            exp=now + STATUS_TOKEN_LIFETIME,
            ttl=STATUS_TTL,
            kid=key.kid,
        )
        with self._lock:
            self._tokens[list_id] = (record.version, now, token)
        return token, record.version
