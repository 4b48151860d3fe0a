"""Status lists are cached within their ttl, used a while longer if a refresh fails, and refused
(never trusted) once they are stale beyond the bound. A real HTTP server serves the list."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from keys.jwk import b64url_decode, b64url_encode, generate_private_key
from outbound.status_lists import CredentialRevoked, StatusListClient, StatusUnavailable
from vc.status_list import INVALID, StatusList, build_status_list_token

KEY = generate_private_key("ES256")
T0 = 1_800_000_000.0


class _Server(http.server.BaseHTTPRequestHandler):
    token = ""
    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        body = type(self).token.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/statuslist+jwt")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        return None


@pytest.fixture
def served() -> Iterator[tuple[str, type[_Server], http.server.ThreadingHTTPServer]]:
    handler = type("Handler", (_Server,), {"hits": 0})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    uri = f"http://127.0.0.1:{server.server_address[1]}/status/1"
    statuses = StatusList(16, 2)
    statuses.set(3, INVALID)
    handler.token = build_status_list_token(statuses, KEY, uri=uri, iat=int(T0), exp=int(T0) + 86400, ttl=300)
    try:
        yield uri, handler, server
    finally:
        server.shutdown()
        server.server_close()


def test_cached_within_ttl_then_stale_then_refused(served) -> None:
    uri, handler, server = served
    now = [T0]
    client = StatusListClient(httpx.Client(), max_staleness=3600, allow_http=True, clock=lambda: now[0])
    assert client.check(uri, 0, KEY.public_key()).status == 0
    with pytest.raises(CredentialRevoked):
        client.check(uri, 3, KEY.public_key())
    assert handler.hits == 1  # the second check used the cached list

    now[0] = T0 + 301  # past the ttl: refetched
    client.check(uri, 0, KEY.public_key())
    assert handler.hits == 2

    server.shutdown()
    server.server_close()
    now[0] = T0 + 301 + 600  # refresh fails, but the list is 10 minutes old: still used
    assert client.check(uri, 0, KEY.public_key()).list_fetched_at == int(T0 + 301)
    now[0] = T0 + 301 + 3601  # refresh fails and the list is older than the bound: refused
    with pytest.raises(StatusUnavailable):
        client.check(uri, 0, KEY.public_key())


def test_unreachable_and_never_fetched_is_refused() -> None:
    client = StatusListClient(httpx.Client(), allow_http=True)
    with pytest.raises(StatusUnavailable):
        client.check("http://127.0.0.1:9/status/none", 0, KEY.public_key())


def test_production_refuses_http_and_private_addresses(served) -> None:
    uri, _, _ = served
    client = StatusListClient(httpx.Client(), allow_http=False)
    with pytest.raises(StatusUnavailable):
        client.check(uri, 0, KEY.public_key())
    with pytest.raises(StatusUnavailable):
        client.check(uri.replace("http://", "https://"), 0, KEY.public_key())


def test_a_cached_list_is_never_used_past_its_own_exp(served) -> None:
    """Status List §8.3: when a refresh fails, a cached token may stand in only while it is itself
    unexpired, however young the cache entry is."""
    uri, handler, server = served
    handler.token = build_status_list_token(StatusList(16, 2), KEY, uri=uri, iat=int(T0), exp=int(T0) + 120, ttl=300)
    now = [T0]
    client = StatusListClient(httpx.Client(), max_staleness=3600, allow_http=True, clock=lambda: now[0])
    assert client.check(uri, 0, KEY.public_key()).status == 0
    server.shutdown()
    server.server_close()
    now[0] = T0 + 119  # cached until exp (before the ttl): still used
    assert client.check(uri, 0, KEY.public_key()).status == 0
    now[0] = T0 + 121  # the refresh fails and the cached token has expired: refused
    with pytest.raises(StatusUnavailable):
        client.check(uri, 0, KEY.public_key())


def test_an_infinite_ttl_is_clamped_not_a_crash(served) -> None:
    uri, handler, _ = served
    token = build_status_list_token(StatusList(16, 2), KEY, uri=uri, iat=int(T0), exp=int(T0) + 86400)
    header, payload, signature = token.split(".")
    # 1e400 is a valid JSON number that Python reads as infinity: re-sign a payload carrying it.
    body = b64url_decode(payload).decode().replace("}", ',"ttl":1e400}', 1)
    assert "1e400" in body and signature
    signing_input = f"{header}.{b64url_encode(body.encode())}"
    r, s = decode_dss_signature(KEY.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    handler.token = f"{signing_input}.{b64url_encode(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"
    now = [T0]
    client = StatusListClient(httpx.Client(), allow_http=True, clock=lambda: now[0])
    assert client.check(uri, 0, KEY.public_key()).status == 0
    now[0] = T0 + 3601  # clamped to the longest ttl, an hour: refetched
    client.check(uri, 0, KEY.public_key())
    assert handler.hits == 2
