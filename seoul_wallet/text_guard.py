"""Text no endpoint can store: NUL characters and unpaired UTF-16 surrogates, refused at the door.

A JSON string may spell "\\u0000" or a lone "\\ud800"; Python decodes both, and then PostgreSQL
refuses the NUL, the UTF-8 encoder the surrogate, and the request answered 500 (one endpoint after
committing its row, so a list answered 500 until the row was removed). Neither is ever meaningful in
a name, a subject, a claim or a form field here, so every JSON and form body is checked once, before
any endpoint reads it (issue 14 defect 9): it is refused with 400, in the protocol's error format
on the OAuth, OpenID4VCI and OpenID4VP endpoints (`invalid_request`) and as Problem Details elsewhere.
Invalid UTF-8 in a form is refused the same way; JSON is read from the bytes as the endpoints
read it (a BOM, UTF-16), multipart fields are scanned, and so are the path and the query (a NUL
in a path id was a 500 on PostgreSQL). Bodies are already bounded by BodySizeLimitMiddleware.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_BAD = re.compile("[\x00\ud800-\udfff]")
# Endpoints whose errors a protocol defines: OAuth 2.0 token endpoints (RFC 6749 §5.2), OpenID4VCI
# (§6.3, §8.3.1), and the OpenID4VP response endpoint (its error response).
_PROTOCOL_PATHS = re.compile(
    r"^(/oauth/token|/idp/token|/issuers/[^/]+/(token|nonce|credential)|/verifiers/[^/]+/response)$"
)
_CHECKED_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _holds_bad_text(value: Any) -> bool:
    if isinstance(value, str):
        return _BAD.search(value) is not None
    if isinstance(value, dict):
        return any(_holds_bad_text(k) or _holds_bad_text(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_bad_text(v) for v in value)
    return False


# In raw or percent-decoded bytes: a NUL, or the UTF-8 encoding of a surrogate (ED A0..BF xx).
_BAD_BYTES = re.compile(rb"\x00|\xed[\xa0-\xbf]")
_PERCENT = re.compile(rb"%([0-9a-fA-F]{2})")


def _decoded_bytes(raw: bytes) -> bytes:
    return _PERCENT.sub(lambda m: bytes([int(m.group(1), 16)]), raw.replace(b"+", b" "))


def refusal_of(content_type: str, body: bytes) -> str | None:
    """Why this body is refused, or None when it may go on (also when it is not JSON at all: the
    endpoint then answers its own 422)."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind in ("", "application/json") or kind.endswith("+json"):
        # Parsed from the bytes exactly as Starlette does (json.loads detects UTF-8 with or without
        # a BOM, UTF-16 and UTF-32, and lets encoded surrogates through): what the endpoint will see.
        if not body.strip():
            return None
        try:
            parsed = json.loads(body)
        except (ValueError, RecursionError):
            return None
        return "a text holds a NUL character or an unpaired surrogate" if _holds_bad_text(parsed) else None
    if kind == "application/x-www-form-urlencoded":
        try:
            fields = parse_qsl(body.decode("ascii"), keep_blank_values=True, encoding="utf-8", errors="strict")
        except UnicodeError:
            return "the form is not UTF-8"
        return "a field holds a NUL character" if any(_holds_bad_text([k, v]) for k, v in fields) else None
    if kind == "multipart/form-data" and _BAD_BYTES.search(body):
        return "a field holds a NUL character or an unpaired surrogate"
    return None


def refusal_of_target(scope: Scope) -> str | None:
    """A NUL or an encoded surrogate in the path or the query: no id, slug or parameter holds one,
    and PostgreSQL refuses them (a 500 when a path id reached a query)."""
    raw_path = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogatepass")
    for part in (raw_path, scope.get("query_string", b"")):
        if _BAD_BYTES.search(_decoded_bytes(part)):
            return "the address holds a NUL character or an unpaired surrogate"
    return None


class TextGuardMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        reason = refusal_of_target(scope)
        if reason is not None:
            await _refuse(scope["path"], reason, send)
            return
        if scope["method"] not in _CHECKED_METHODS:
            await self.app(scope, receive, send)
            return
        content_type = dict(scope["headers"]).get(b"content-type", b"").decode("latin-1")
        messages: list[Message] = []
        body = bytearray()
        while True:
            try:
                message = await receive()
            except HTTPException as exc:  # the body-size limit, while the body streams in
                await _respond(exc.status_code, _problem(exc.status_code, "Request body too large", exc.detail), send)
                return
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        reason = refusal_of(content_type, bytes(body))
        if reason is not None:
            await _refuse(scope["path"], reason, send)
            return
        replay = iter(messages)

        async def replayed() -> Message:
            return next(replay, None) or await receive()

        await self.app(scope, replayed, send)


def _problem(status: int, title: str, detail: str) -> tuple[dict[str, Any], bytes]:
    return {
        "type": f"/problems/{title.lower().replace(' ', '-')}",
        "title": title,
        "status": status,
        "detail": detail,
    }, (b"application/problem+json")


async def _refuse(path: str, reason: str, send: Send) -> None:
    if _PROTOCOL_PATHS.match(path):
        answer = {"error": "invalid_request", "error_description": reason}, b"application/json"
    else:
        answer = _problem(400, "Invalid text", reason)
    await _respond(400, answer, send)


async def _respond(status: int, answer: tuple[dict[str, Any], bytes], send: Send) -> None:
    payload, media_type = answer
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", media_type), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
