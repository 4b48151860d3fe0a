"""A keyed pseudorandom permutation of [0, size): the n-th status list index a party hands out.

Status lists give herd privacy only if an index says nothing about its token: allocated in order,
neighbouring indexes are tokens issued (or consents given) one after the other, and whoever sees a
few indexes learns how busy the list is and who came when. Mapping a counter through a keyed
permutation keeps what a counter gives (every index used exactly once, no retry loop as the list
fills) and loses the order to anyone without the key. The agencies' credential status lists and the
consent ledger's per-verifier lists both allocate this way.

A balanced Feistel network (4 rounds, HMAC-SHA-256 as the round function) on the smallest even
number of bits that covers `size`, cycle-walking back into [0, size): a bijection for any size.
"""

from __future__ import annotations

import hashlib
import hmac

_ROUNDS = 4


def permuted_index(key: bytes, counter: int, size: int) -> int:
    """The `counter`-th index (0 <= counter < size) of a list of `size` entries under `key`: a
    bijection of [0, size), so distinct counters never share an index."""
    if not 0 <= counter < size:
        raise ValueError(f"counter {counter} is outside [0, {size})")
    half = max(1, ((size - 1).bit_length() + 1) // 2)
    if half > 32:
        raise ValueError("the permutation covers lists of at most 2**64 entries")
    mask = (1 << half) - 1
    value = counter
    while True:
        left, right = value >> half, value & mask
        for round_number in range(_ROUNDS):
            digest = hmac.new(key, bytes((round_number,)) + right.to_bytes(4, "big"), hashlib.sha256).digest()
            left, right = right, left ^ (int.from_bytes(digest[:4], "big") & mask)
        value = (left << half) | right
        if value < size:  # cycle-walking keeps a bijection on the smaller domain
            return value
