"""Where a consent sits in its verifier's status list: the n-th consent a verifier receives gets the
n-th index of a keyed permutation (keys/permutation.py), as the agencies' credentials do.

Handed out in order, indexes told a verifier (and anyone it shows a list and a few indexes to) the
order and the pace in which citizens consented, and let it tell two citizens' consents apart by
their neighbours. Permuted, an index says nothing without the key, every index is still used once,
and no retry loop is needed as the list fills.

A verifier's list grows in blocks of BLOCK entries: its n-th consent lands in block n // BLOCK,
at a position permuted with that block's own key. Indexes handed out in order before this module
existed stay where they are (receipts carry them); permuted allocation starts in the first block
above them, so the two never meet.
"""

from __future__ import annotations

import hashlib
import hmac

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection

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
    """The next status index of `verifier_id`'s list, in the caller's transaction. The caller holds
    the log lock (every ledger change does), so no two allocations of a verifier interleave."""
    advanced = conn.execute(
        update(_ALLOCATIONS)
        .where(_ALLOCATIONS.c.verifier_id == verifier_id)
        .values(allocated=_ALLOCATIONS.c.allocated + 1)
        .returning(_ALLOCATIONS.c.allocated, _ALLOCATIONS.c.first_index)
    ).first()
    if advanced is None:
        # The verifier's first consent since its list was permuted: start above whatever it holds.
        highest = conn.execute(
            select(func.max(_RECORDS.c.status_index)).where(_RECORDS.c.verifier_id == verifier_id)
        ).scalar()
        first_index = 0 if highest is None else list_size(highest)
        conn.execute(insert(_ALLOCATIONS).values(verifier_id=verifier_id, allocated=1, first_index=first_index))
        counter = 0
    else:
        counter, first_index = advanced.allocated - 1, advanced.first_index
    block, position = divmod(counter, BLOCK)
    block_key = hmac.new(key, f"{verifier_id}\x00{block}".encode(), hashlib.sha256).digest()
    return first_index + block * BLOCK + permuted_index(block_key, position, BLOCK)
