"""ASGI middleware: request ids with an access log line, and a bound on request body size."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from seoul_wallet.logging_setup import request_id_var

access_log = logging.getLogger("seoul_wallet.access")
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# Paths that are capabilities: whoever has the URL can redeem the offer (credential_offer_uri) or
# read the request object and answer the check. The access log keeps their shape, never the secret.
_CAPABILITY_PATHS = (
    re.compile(r"^(/issuers/[^/]+/credential-offers/)[^/]+$"),
    re.compile(r"^(/verifiers/[^/]+/requests/)[^/]+(/object)$"),
)


def loggable_path(path: str) -> str:
    """The request path as the access log may hold it: capability segments replaced by `…`."""
    for pattern in _CAPABILITY_PATHS:
        matched = pattern.match(path)
        if matched:
            return "…".join(matched.groups()) if len(matched.groups()) > 1 else matched.group(1) + "…"
    return path


class RequestIdMiddleware:
    """Takes a safe `X-Request-ID` from the client or makes one, echoes it, and logs each request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        supplied = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        # fullmatch: `$` in match() would let a trailing newline through into a response header.
        request_id = supplied if _SAFE_REQUEST_ID.fullmatch(supplied) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            access_log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": loggable_path(scope["path"]),
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
            request_id_var.reset(token)


_BASE_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)
# For what is not a page: nothing may run, load or frame it. Pages set their own (the wallet's, the
# provider's, the API docs' in seoul_wallet/api_docs.py), which this one never replaces.
_API_CSP = b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
_HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")


class SecurityHeadersMiddleware:
    """Headers every response carries unless it set its own: no MIME sniffing, no referrer, a CSP
    that lets nothing run or frame an API answer, and HSTS outside development (the platform is
    https-only there; in development it serves plain http on 127.0.0.1)."""

    def __init__(self, app: ASGIApp, *, development: bool) -> None:
        self.app = app
        self.hsts = not development

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                present = {name.lower() for name, _ in headers}
                wanted = [*_BASE_HEADERS, (b"content-security-policy", _API_CSP)]
                if self.hsts:
                    wanted.append(_HSTS)
                headers.extend((name, value) for name, value in wanted if name not in present)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodySizeLimitMiddleware:
    """Refuses bodies above `max_bytes` with 413 Problem Details, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _reject(self, send: Send) -> None:
        body = json.dumps(
            {
                "type": "/problems/body-too-large",
                "title": "Request body too large",
                "status": 413,
                "detail": f"the request body exceeds {self.max_bytes} bytes",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # FastAPI re-raises HTTPException from body reading, so the problem handler answers.
                    raise HTTPException(413, f"the request body exceeds {self.max_bytes} bytes")
            return message

        await self.app(scope, limited_receive, send)
