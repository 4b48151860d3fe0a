"""Where a consent sits in its verifier's status list: the n-th consent a verifier receives gets the
n-th index of a keyed permutation (keys/permutation.py), as the agencies' credentials do.

Handed out in order, indexes told a verifier (and anyone it shows a list and a few indexes to) the
order and the pace in which citizens consented, and let it tell two citizens' consents apart by
their neighbours. Permuted, an index says nothing without the key, no index is used twice,
and no retry loop is needed as the list fills.

A verifier's list grows in blocks of BLOCK entries: its n-th consent lands in block n // BLOCK,
at a position permuted with that block's own key. Indexes handed out in order before this module
existed stay where they are (receipts carry them); permuted allocation starts in the first block
above them, so the two never meet.
"""

from __future__ import annotations

import hashlib
import hmac
import threading

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from consent.models import ConsentRecord, ConsentStatusAllocation
from keys.master import derive_key
from keys.permutation import permuted_index

BLOCK = 1 << 17  # entries per block of a verifier's list, as many as an agency's list holds
_PURPOSE = "seoul-wallet consent: status index permutation v1"

_RECORDS = ConsentRecord.__table__
_ALLOCATIONS = ConsentStatusAllocation.__table__


def status_index_key(master_key: bytes) -> bytes:
    """The deployment's key for consent status index permutations (HKDF from the master key)."""
    return derive_key(master_key, _PURPOSE)


def list_size(highest_index: int | None) -> int:
    """Entries in a verifier's list: whole blocks, so its size says nothing about how many consents
    it has."""
    return BLOCK * (1 if highest_index is None else highest_index // BLOCK + 1)


def allocate_status_index(conn: Connection, key: bytes, verifier_id: str) -> int:
    """The next status index of `verifier_id`'s list, in the caller's transaction."""
    counter, first_index = reserve_counters(conn, verifier_id, 1)
    return index_at(key, verifier_id, counter, first_index)


def reserve_counters(conn: Connection, verifier_id: str, count: int) -> tuple[int, int]:
    """Reserve the next `count` allocation counters of `verifier_id`'s list: returns the first and
    the list's `first_index`. One conditional statement (the verifier's allocation row is locked for
    that statement only, when the caller's transaction is short); a verifier's very first
    allocation inserts its row, and two of those at once make one of them an IntegrityError that
    the caller retries."""
    advanced = conn.execute(
        update(_ALLOCATIONS)
        .where(_ALLOCATIONS.c.verifier_id == verifier_id)
        .values(allocated=_ALLOCATIONS.c.allocated + count)
        .returning(_ALLOCATIONS.c.allocated, _ALLOCATIONS.c.first_index)
    ).first()
    if advanced is not None:
        return advanced.allocated - count, advanced.first_index
    # The verifier's first consent since its list was permuted: start above whatever it holds.
    highest = conn.execute(
        select(func.max(_RECORDS.c.status_index)).where(_RECORDS.c.verifier_id == verifier_id)
    ).scalar()
    first_index = 0 if highest is None else list_size(highest)
    conn.execute(insert(_ALLOCATIONS).values(verifier_id=verifier_id, allocated=count, first_index=first_index))
    return 0, first_index


def index_at(key: bytes, verifier_id: str, counter: int, first_index: int) -> int:
    """The status index of a verifier's `counter`-th allocation."""
    block, position = divmod(counter, BLOCK)
    block_key = hmac.new(key, f"{verifier_id}\x00{block}".encode(), hashlib.sha256).digest()
    return first_index + block * BLOCK + permuted_index(block_key, position, BLOCK)


class StatusIndexReservations:
    """Status indexes for presentation grants, reserved RESERVED_AT_ONCE at a time in a short
    transaction of their own, so a grant's transaction never locks its verifier's allocation row
    (every grant to one verifier would queue on it). A worker keeps only what it reserved and has
    not handed out yet: no two workers ever hold the same index; what a stopped worker held stays
    unused (an entry no consent points to, as in a list's unused tail)."""

    RESERVED_AT_ONCE = 16

    def __init__(self, engine: Engine, key: bytes) -> None:
        self._engine = engine
        self._key = key
        self._lock = threading.Lock()
        self._held: dict[str, tuple[int, int, int]] = {}  # verifier -> (next counter, end, first_index)

    def take(self, verifier_id: str) -> int:
        with self._lock:
            held = self._held.get(verifier_id)
            if held is None or held[0] >= held[1]:
                held = self._reserve(verifier_id)
            counter, end, first_index = held
            self._held[verifier_id] = (counter + 1, end, first_index)
        return index_at(self._key, verifier_id, counter, first_index)

    def _reserve(self, verifier_id: str) -> tuple[int, int, int]:
        for attempt in range(3):
            try:
                with self._engine.begin() as conn:
                    first, first_index = reserve_counters(conn, verifier_id, self.RESERVED_AT_ONCE)
                return first, first + self.RESERVED_AT_ONCE, first_index
            except IntegrityError:  # another worker created the verifier's row first: advance it instead
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")
