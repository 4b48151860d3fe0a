"""post_bounded: a POST to a URL another party named gets the outbound checks, and its answer is
read whatever the status (protocol errors are 4xx bodies), within a size limit, never redirected."""

from __future__ import annotations

import httpx
import pytest

from outbound.exchange import post_bounded
from outbound.urls import FetchFailed, UnsafeURL


def _client(handler) -> tuple[httpx.Client, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    return httpx.Client(transport=httpx.MockTransport(record)), seen


def test_an_error_answer_is_read_with_its_status() -> None:
    http, seen = _client(lambda r: httpx.Response(400, json={"error": "invalid_grant"}))
    answer = post_bounded(
        http, "http://issuer.example/token", development=True, max_bytes=1000, data={"grant_type": "x", "tx_code": "1"}
    )
    assert answer.status_code == 400 and answer.body == b'{"error":"invalid_grant"}'
    assert seen[0].method == "POST" and seen[0].content == b"grant_type=x&tx_code=1"
    assert seen[0].headers["content-type"] == "application/x-www-form-urlencoded"


def test_a_json_body_and_headers_are_sent() -> None:
    http, seen = _client(lambda r: httpx.Response(200, json={}))
    post_bounded(
        http,
        "http://issuer.example/credential",
        development=True,
        max_bytes=1000,
        json={"proofs": {}},
        headers={"Authorization": "Bearer t"},
    )
    assert seen[0].headers["authorization"] == "Bearer t" and seen[0].headers["accept"] == "application/json"
    assert seen[0].content == b'{"proofs":{}}'


@pytest.mark.parametrize(
    "url",
    [
        "http://issuer.example/token",  # http outside development
        "https://127.0.0.1/token",  # this machine
        "https://10.1.2.3/token",  # a private network
        "https://[::1]/token",
        "https://localhost/token",
        "https://user:pw@issuer.example/token",
    ],
)
def test_a_url_that_must_not_be_called_is_refused_before_connecting(url) -> None:
    http, seen = _client(lambda r: httpx.Response(200))
    with pytest.raises(UnsafeURL):
        post_bounded(http, url, development=False, max_bytes=1000)
    assert seen == []


def test_an_answer_over_the_limit_is_refused() -> None:
    http, _ = _client(lambda r: httpx.Response(200, content=b"x" * 2001))
    with pytest.raises(FetchFailed):
        post_bounded(http, "http://issuer.example/nonce", development=True, max_bytes=2000)


def test_a_redirect_is_returned_not_followed() -> None:
    http, seen = _client(lambda r: httpx.Response(302, headers={"Location": "http://10.0.0.1/"}))
    answer = post_bounded(http, "http://issuer.example/token", development=True, max_bytes=1000)
    assert answer.status_code == 302 and len(seen) == 1


def test_a_connection_failure_is_fetch_failed() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("no route", request=request)

    http, _ = _client(refuse)
    with pytest.raises(FetchFailed):
        post_bounded(http, "http://issuer.example/token", development=True, max_bytes=1000)
