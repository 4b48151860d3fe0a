"""One bounded POST to a URL another party named (a token, nonce or credential endpoint from issuer
metadata, a verifier's response URI): the same checks as `outbound.urls.fetch_bounded` (https only
outside development, public addresses only, connected to the checked address, no redirects, a size
limit), but the answer is returned whatever its status, because protocol errors (`invalid_grant`,
`invalid_proof`, …) arrive as 4xx bodies the caller must read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from outbound.urls import FetchFailed, checked_url, pinned_request

TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class BoundedResponse:
    status_code: int
    headers: httpx.Headers
    body: bytes


def post_bounded(
    http: httpx.Client,
    url: str,
    *,
    development: bool,
    max_bytes: int,
    data: Mapping[str, str] | None = None,
    json: Any = None,
    headers: Mapping[str, str] | None = None,
    accept: str = "application/json",
) -> BoundedResponse:
    """POST a form (`data`) or a JSON body (`json`), or nothing. Raises `outbound.urls.UnsafeURL`
    before any connection for a URL that must not be called, and `FetchFailed` when the exchange
    fails (connection, timeout, a body over `max_bytes`)."""
    checked, addresses = checked_url(url, development=development)
    target, host_headers, extensions = pinned_request(checked, addresses)
    try:
        with http.stream(
            "POST",
            target,
            data=dict(data) if data is not None else None,
            json=json,
            headers={"Accept": accept, **(headers or {}), **host_headers},
            extensions=extensions,
            timeout=TIMEOUT_SECONDS,
            follow_redirects=False,
        ) as response:
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise FetchFailed(f"{url}: larger than {max_bytes} bytes")
            return BoundedResponse(response.status_code, response.headers, bytes(body))
    except httpx.HTTPError as exc:
        raise FetchFailed(f"{url}: {type(exc).__name__}") from None
