"""The status list cache of a worker (outbound/status_lists.py) honours each list's `ttl`, uses the
configured default when a list has none, and stays bounded however many lists strangers publish.
A real HTTP server serves the lists; a test clock moves time."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from keys.jwk import generate_private_key
from outbound.bounded_cache import BoundedTTLCache
from outbound.status_lists import MIN_TTL, StatusCheck, StatusListClient, StatusUnavailable
from vc.status_list import StatusList, build_status_list_token

KEY = generate_private_key("ES256")
T0 = 1_800_000_000.0


class Lists:
    """Status list tokens served at /status/<name>, with a count of fetches per name."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.tokens: dict[str, str] = {}
        self.hits: dict[str, int] = {}

    def uri(self, name: str) -> str:
        return f"{self.base}/status/{name}"

    def publish(self, name: str, *, ttl: int | None, size: int = 16, exp: int | None = None) -> str:
        uri = self.uri(name)
        self.tokens[name] = build_status_list_token(
            StatusList(size, 2), KEY, uri=uri, iat=int(T0), exp=int(T0) + 86400 if exp is None else exp, ttl=ttl
        )
        return uri


@pytest.fixture
def lists() -> Iterator[Lists]:
    served: Lists | None = None

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            assert served is not None
            name = self.path.rsplit("/", 1)[1]
            served.hits[name] = served.hits.get(name, 0) + 1
            body = served.tokens.get(name, "").encode()
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "application/statuslist+jwt")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    served = Lists(f"http://127.0.0.1:{server.server_address[1]}")
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()


class Worker:
    """A worker's status list client on a test clock, checking index 0 of lists signed with KEY: the
    set-up every cache test repeats. The clock starts at T0; `at(seconds)` sets it to T0 + seconds."""

    def __init__(self, **options: Any) -> None:
        self.now = T0
        self.client = StatusListClient(httpx.Client(), allow_http=True, clock=lambda: self.now, **options)

    @property
    def cache(self) -> BoundedTTLCache[str, Any]:
        return self.client._cache  # private, but the bounds under test are those of the cache itself

    def at(self, seconds: float) -> None:
        self.now = T0 + seconds

    def check(self, uri: str) -> StatusCheck:
        return self.client.check(uri, 0, KEY.public_key())


def test_a_list_past_its_ttl_is_fetched_again(lists) -> None:
    uri = lists.publish("a", ttl=50)
    worker = Worker()
    worker.check(uri)
    worker.at(49)
    worker.check(uri)
    assert lists.hits["a"] == 1
    worker.at(50)
    worker.check(uri)
    assert lists.hits["a"] == 2


def test_a_list_without_ttl_is_cached_for_the_configured_default(lists) -> None:
    uri = lists.publish("plain", ttl=None)
    worker = Worker(default_ttl=120)
    worker.check(uri)
    worker.at(119)
    worker.check(uri)
    assert lists.hits["plain"] == 1
    worker.at(120)
    worker.check(uri)
    assert lists.hits["plain"] == 2


def test_a_silly_small_ttl_is_clamped_and_a_zero_ttl_is_refused(lists) -> None:
    tiny = lists.publish("tiny", ttl=1)
    zero = lists.publish("zero", ttl=0)
    worker = Worker()
    worker.check(tiny)
    worker.at(MIN_TTL - 1)  # a 1 s ttl would refetch on every check: held for MIN_TTL instead
    worker.check(tiny)
    assert lists.hits["tiny"] == 1
    # Status List draft -20 §5.1: ttl is a positive number; 0 makes the token malformed, and a
    # credential on it is refused (never trusted, never cached: each check asks again).
    for _ in range(2):
        with pytest.raises(StatusUnavailable):
            worker.check(zero)
    assert lists.hits["zero"] == 2


def test_the_cache_never_holds_more_lists_than_its_bound(lists) -> None:
    worker = Worker(max_lists=3)
    uris = [lists.publish(f"l{n}", ttl=3600) for n in range(10)]
    for uri in uris:
        worker.check(uri)
        assert len(worker.cache) <= 3
    worker.check(uris[-1])  # among the newest: still cached
    assert lists.hits["l9"] == 1
    worker.check(uris[0])  # evicted: fetched again
    assert lists.hits["l0"] == 2


def test_the_cache_never_holds_more_bytes_than_its_bound(lists) -> None:
    # Each list decodes to 64 KiB (262,144 two-bit entries): two do not fit in 100 KiB.
    worker = Worker(max_bytes=100 * 1024)
    big = [lists.publish(f"big{n}", ttl=3600, size=1 << 18) for n in range(3)]
    for uri in big:
        worker.check(uri)
        assert worker.cache.weight <= 100 * 1024
    assert len(worker.cache) == 1
    worker.check(big[0])
    assert lists.hits["big0"] == 2


def test_a_kept_list_is_dropped_once_it_could_no_longer_stand_in(lists) -> None:
    uri = lists.publish("a", ttl=60)
    worker = Worker(max_staleness=600)
    worker.check(uri)
    worker.at(600)  # past max_staleness: not even a fallback, so not kept
    assert worker.cache.get(uri) is None
    assert len(worker.cache) == 0


def test_a_default_ttl_outside_the_clamp_is_refused() -> None:
    with pytest.raises(ValueError):
        StatusListClient(httpx.Client(), default_ttl=0)
