"""A bounded cache whose entries expire: what a worker keeps of what others published.

A worker may keep in its memory only what it could fetch again (status lists, issuer metadata,
tokens, rows that rarely change), never what workers must agree on (nonces, replay markers,
attempts, counters: those live in the database or Redis). Even a cache must not grow with what
strangers send: a wallet fetches the status lists of any issuer that makes it an offer, so every
cache here is bounded by entries and, optionally, by a total weight (bytes), and drops an entry at
the time its caller says it stops being usable.

Eviction is oldest-written first (a re-written entry is the newest): the entries a worker uses are
fetched again within their ttl anyway, so insertion order is as good as recency here and keeps a
hit to one dictionary lookup. The lock guards dictionary operations only, never a fetch: callers
fetch outside it, so two threads may fetch the same entry at once, and the later write wins.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class BoundedTTLCache(Generic[K, V]):
    """At most `max_entries` entries (and at most `max_weight` in total when given, each entry
    weighing what `weigh` says); an entry is gone once `clock()` reaches its `expires_at`."""

    def __init__(
        self,
        max_entries: int,
        *,
        max_weight: int | None = None,
        weigh: Callable[[V], int] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        if (max_weight is None) != (weigh is None):
            raise ValueError("max_weight and weigh go together")
        if max_weight is not None and max_weight < 1:
            raise ValueError("max_weight must be at least 1")
        self.max_entries = max_entries
        self.max_weight = max_weight
        self._weigh = weigh
        self.clock = clock
        self._entries: OrderedDict[K, tuple[float, V, int]] = OrderedDict()  # key -> (expires_at, value, weight)
        self._weight = 0
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The value, if present and not expired (an expired entry is dropped)."""
        now = self.clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if now < entry[0]:
                return entry[1]
            self._remove(key)
            return None

    def put(self, key: K, value: V, expires_at: float) -> bool:
        """Keep `value` until `expires_at` (on this cache's clock). Returns False, keeping nothing,
        when the entry is already expired or alone weighs more than the whole cache may."""
        weight = self._weigh(value) if self._weigh is not None else 0
        now = self.clock()
        with self._lock:
            if key in self._entries:
                self._remove(key)
            if expires_at <= now or (self.max_weight is not None and weight > self.max_weight):
                return False
            self._entries[key] = (expires_at, value, weight)
            self._weight += weight
            self._evict()
        return True

    def pop(self, key: K) -> V | None:
        """Forget `key` (an invalidation); its value if it was kept."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._remove(key)
        return None if entry is None else entry[1]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._weight = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def weight(self) -> int:
        """The total weight of the entries kept."""
        return self._weight

    def _remove(self, key: K) -> None:
        _, _, weight = self._entries.pop(key)
        self._weight -= weight

    def _evict(self) -> None:
        # Over a bound: expired entries anywhere go first (they are useless), then the oldest.
        if not self._over():
            return
        now = self.clock()
        for key in [k for k, (expires_at, _, _) in self._entries.items() if expires_at <= now]:
            self._remove(key)
        while self._over():
            self._remove(next(iter(self._entries)))

    def _over(self) -> bool:
        return len(self._entries) > self.max_entries or (self.max_weight is not None and self._weight > self.max_weight)
