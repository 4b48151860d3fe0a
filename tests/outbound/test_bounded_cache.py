"""The bounded cache a worker keeps what others published in: entries go at their expiry, the
oldest go when a bound is reached, and nothing a stranger sends makes it grow past its bounds."""

from __future__ import annotations

import threading

import pytest

from issuers.agencies import CACHE_SECONDS, Agencies
from issuers.credential_types import load_credential_types
from outbound.bounded_cache import BoundedTTLCache


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_an_entry_is_gone_at_its_expiry_and_not_before() -> None:
    clock = Clock()
    cache: BoundedTTLCache[str, int] = BoundedTTLCache(4, clock=clock)
    assert cache.put("a", 1, clock.now + 10)
    clock.now += 9.999
    assert cache.get("a") == 1
    clock.now += 0.001  # exactly at expires_at: gone
    assert cache.get("a") is None
    assert len(cache) == 0  # dropped, not merely hidden


def test_an_entry_already_expired_is_not_kept() -> None:
    clock = Clock()
    cache: BoundedTTLCache[str, int] = BoundedTTLCache(4, clock=clock)
    assert cache.put("a", 1, clock.now + 5)
    assert not cache.put("a", 2, clock.now)  # a rewrite that is expired also forgets the old value
    assert cache.get("a") is None and len(cache) == 0


def test_never_more_entries_than_the_bound_and_the_oldest_go_first() -> None:
    clock = Clock()
    cache: BoundedTTLCache[int, int] = BoundedTTLCache(3, clock=clock)
    for key in range(1000):
        cache.put(key, key, clock.now + 60)
        assert len(cache) <= 3
    assert [cache.get(k) for k in (996, 997, 998, 999)] == [None, 997, 998, 999]


def test_a_rewritten_entry_is_the_newest() -> None:
    clock = Clock()
    cache: BoundedTTLCache[str, int] = BoundedTTLCache(2, clock=clock)
    cache.put("a", 1, clock.now + 60)
    cache.put("b", 2, clock.now + 60)
    cache.put("a", 3, clock.now + 60)  # refreshed: now "b" is the oldest
    cache.put("c", 4, clock.now + 60)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (3, None, 4)


def test_expired_entries_are_evicted_before_live_ones() -> None:
    clock = Clock()
    cache: BoundedTTLCache[str, int] = BoundedTTLCache(2, clock=clock)
    cache.put("old-but-live", 1, clock.now + 600)
    cache.put("young-but-expiring", 2, clock.now + 5)
    clock.now += 10
    cache.put("new", 3, clock.now + 60)
    assert cache.get("old-but-live") == 1 and cache.get("new") == 3


def test_the_weight_bound_holds_and_an_entry_heavier_than_the_cache_is_not_kept() -> None:
    clock = Clock()
    cache: BoundedTTLCache[str, bytes] = BoundedTTLCache(100, max_weight=10, weigh=len, clock=clock)
    for index in range(20):
        cache.put(f"k{index}", b"abcd", clock.now + 60)
        assert cache.weight <= 10
    assert len(cache) == 2 and cache.weight == 8
    assert not cache.put("huge", b"x" * 11, clock.now + 60)
    assert cache.get("huge") is None and cache.weight == 8
    cache.pop("k19")
    assert cache.weight == 4 and len(cache) == 1


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError):
        BoundedTTLCache(0)
    with pytest.raises(ValueError):
        BoundedTTLCache(10, max_weight=5)  # a weight bound needs a way to weigh
    with pytest.raises(ValueError):
        BoundedTTLCache(10, max_weight=0, weigh=len)


def test_threads_writing_at_once_never_break_the_bounds() -> None:
    cache: BoundedTTLCache[int, bytes] = BoundedTTLCache(50, max_weight=400, weigh=len)
    start = threading.Barrier(4)

    def write(offset: int) -> None:
        start.wait()
        for key in range(offset, offset + 2000):
            cache.put(key % 300, b"12345678", 1e12)
            cache.get((key * 7) % 300)

    threads = [threading.Thread(target=write, args=(n * 1000,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(cache) <= 50 and cache.weight <= 400
    assert cache.weight == 8 * len(cache)  # the running total matches what is kept


# -- the agencies' cache (issuers/agencies.py) over the real database -----------------------------------


def test_agencies_are_cached_for_a_while_then_read_again(platform) -> None:
    clock = Clock()
    agencies = Agencies(platform.engine, platform.keyring, load_credential_types(), clock=clock)
    mois = agencies.get("mois")
    assert mois is not None and agencies.cached("mois") == mois
    clock.now += CACHE_SECONDS
    assert agencies.cached("mois") is None  # past its time: only the database answers now
    assert agencies.get("mois") == mois


def test_the_agencies_cache_is_bounded_and_unknown_slugs_take_no_place(platform) -> None:
    agencies = Agencies(platform.engine, platform.keyring, load_credential_types(), max_cached=2)
    for slug in ("nobody-1", "nobody-2", "nobody-3"):
        assert agencies.get(slug) is None
    assert len(agencies._cache) == 0
    for slug in ("mois", "nts", "ssis", "sen"):
        assert agencies.get(slug) is not None
    assert len(agencies._cache) == 2
    assert agencies.cached("mois") is None and agencies.cached("sen") is not None
