"""Browser security shared by the server-rendered pages (the OpenID provider's, later the wallet's).

- `SignedSessionCookie`: a session in a signed cookie (itsdangerous; key derived from the master
  key), HttpOnly, SameSite=Lax, Secure outside development mode, limited to one path.
- `install_csrf`: asgi-csrf over the browser form routes under /idp and /wallet. Every POST there
  must carry the `csrftoken` form field (or the `x-csrftoken` header) matching its signed cookie,
  also when the request carries no cookie at all: otherwise a cross-site form could sign a victim
  in to the attacker's account (login CSRF), since SameSite=Lax cookies are not sent cross-site.
  Requests with `Authorization: Bearer` are let through (a bearer token is not ambient authority).
- `csrf_token(request)`: the token a template puts in its hidden `csrftoken` field.

The parties receive these by injection from the composition root (imports point one way).
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any

from asgi_csrf import Errors, asgi_csrf_decorator
from fastapi import FastAPI, HTTPException, Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from keys.master import derive_key

CSRF_FIELD = "csrftoken"
# Browser form routes live under these prefixes; everything else (issuers, verifiers' direct_post,
# the consent API) is called by machines and never sees the CSRF check.
PROTECTED_PREFIXES = ("/idp", "/wallet", "/consoles")
# Protocol endpoints under /idp that relying parties call directly, or post to cross-site as the specs
# require (OpenID Connect Core §3.1.2.1, RP-Initiated Logout §2): they change nothing on the strength
# of a cookie alone (logout without a valid id_token_hint asks for confirmation in a protected form).
PROTOCOL_PATHS = ("/idp/token", "/idp/userinfo", "/idp/authorize", "/idp/logout")
# The wallet's JSON API and the agencies' offer deliveries authenticate with bearer tokens only, never a
# cookie, so a cross-site form cannot act through them: a request without a token gets their own 401
# Problem Details, not the CSRF page meant for browsers.
BEARER_PREFIXES = ("/wallet/api", "/wallet/offers")


class SignedSessionCookie:
    """A small session held in a signed, expiring cookie. The cookie is the whole session: clearing
    it ends the session in that browser."""

    def __init__(self, master_key: bytes, *, purpose: str, name: str, path: str, secure: bool, max_age: int) -> None:
        self.name, self.path, self.secure, self.max_age = name, path, secure, max_age
        self._serializer = URLSafeTimedSerializer(derive_key(master_key, purpose), salt=name)

    def read(self, request: Request) -> dict[str, Any] | None:
        """The session's data, or None if absent, tampered with or older than `max_age`."""
        raw = request.cookies.get(self.name)
        if not raw or len(raw) > 4096:
            return None
        try:
            data = self._serializer.loads(raw, max_age=self.max_age)
        except BadSignature:  # also SignatureExpired
            return None
        return data if isinstance(data, dict) else None

    def write(self, response: Response, data: dict[str, Any]) -> None:
        response.set_cookie(
            self.name,
            self._serializer.dumps(data),
            max_age=self.max_age,
            path=self.path,
            secure=self.secure,
            httponly=True,
            samesite="lax",
        )

    def clear(self, response: Response) -> None:
        response.delete_cookie(self.name, path=self.path, secure=self.secure, httponly=True, samesite="lax")


def csrf_token(request: Request) -> str:
    """The CSRF token for a form on this page (sets the signed `csrftoken` cookie if needed)."""
    get_token = request.scope.get(CSRF_FIELD)
    if get_token is None:
        raise RuntimeError("the CSRF middleware is not installed (seoul_wallet.browser.install_csrf)")
    return get_token()


class _UnderPrefixes:
    """For asgi-csrf's `always_protect` (it tests `path in always_protect`): every path under a prefix."""

    def __init__(self, prefixes: Iterable[str]) -> None:
        self._prefixes = tuple(prefixes)

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and _under(path, self._prefixes)


def _under(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in prefixes)


_REFUSED_PAGE = """<!doctype html>
<html lang="ko"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>요청을 처리할 수 없습니다 · Request refused</title></head>
<body><main>
<h1>요청을 처리할 수 없습니다 <span lang="en">· Request refused</span></h1>
<p>보안 확인(CSRF 토큰)에 실패했습니다. 이전 페이지로 돌아가 새로고침한 뒤 다시 시도해 주세요.</p>
<p lang="en">The form's security check (CSRF token) failed. Go back, reload the page and try again.</p>
<p><small>{reason}</small></p>
</main></body></html>
"""


async def _send_refusal(scope: Scope, send: Send, error: Errors) -> None:
    body = _REFUSED_PAGE.format(reason=html.escape(error.name.lower())).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [(b"content-type", b"text/html; charset=utf-8"), (b"cache-control", b"no-store")],
        }
    )
    await send({"type": "http.response.body", "body": body})


_PROGRESS = "seoul_wallet.csrf_progress"


class CSRFMiddleware:
    """asgi-csrf with one guarantee it lacks: a form it cannot read (not UTF-8, a multipart body
    without a boundary, a body over the size limit) is answered with 400/413, never a 500."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        signing_secret: str,
        secure: bool,
        protected_prefixes: Iterable[str] = PROTECTED_PREFIXES,
        exempt_paths: Iterable[str] = PROTOCOL_PATHS,
    ) -> None:
        self.app = app
        prefixes = tuple(protected_prefixes)
        self._prefixes = prefixes
        exempt = frozenset(exempt_paths)

        def skip(scope: Scope) -> bool:
            path = scope["path"]
            return path in exempt or _under(path, BEARER_PREFIXES) or not _under(path, prefixes)

        self._protected = asgi_csrf_decorator(
            signing_secret=signing_secret,
            always_protect=_UnderPrefixes(prefixes),
            skip_if_scope=skip,
            cookie_secure=secure,
            cookie_samesite="Lax",
            send_csrf_failed=_send_refusal,
        )(self._enter_app)

    async def _enter_app(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[_PROGRESS]["reached_app"] = True
        await self.app(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _under(scope["path"], self._prefixes):
            # Nothing outside the browser prefixes is checked or renders a form (issuers, verifiers,
            # the consent API): they skip asgi-csrf's per-request set-up too, ~0.6 ms of a worker's
            # time per API call, 1.2 ms per presentation (bench/RESULTS.md, issue 15).
            await self.app(scope, receive, send)
            return
        if _is_multipart(scope) and _under(scope["path"], self._prefixes):
            # asgi-csrf cannot read a multipart form with the python-multipart we install (it passes
            # a FileClass the parser no longer takes): the pages send url-encoded forms only, so a
            # multipart post is refused here, clearly, rather than failing inside the CSRF check.
            await _send_plain(send, 415, "forms here are sent as application/x-www-form-urlencoded")
            return
        progress = {"reached_app": False, "started": False}

        async def tracking_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                progress["started"] = True
            await send(message)

        try:
            await self._protected({**scope, _PROGRESS: progress}, receive, tracking_send)
        except (HTTPException, UnicodeDecodeError, ValueError, IndexError, AssertionError) as exc:
            if progress["reached_app"] or progress["started"]:
                raise  # the app's own error: the app's handlers deal with it
            # Raised while asgi-csrf was reading the form, before the app ran.
            if isinstance(exc, HTTPException):
                await _send_plain(send, exc.status_code, str(exc.detail))
            else:
                await _send_plain(send, 400, "the form could not be read")


def _is_multipart(scope: Scope) -> bool:
    content_type = dict(scope["headers"]).get(b"content-type", b"").decode("latin-1").lower()
    return scope.get("method") == "POST" and content_type.startswith("multipart/")


async def _send_plain(send: Send, status: int, text: str) -> None:
    await send(
        {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain; charset=utf-8")]}
    )
    await send({"type": "http.response.body", "body": text.encode()})


def install_csrf(
    app: FastAPI, master_key: bytes, *, secure: bool, exempt_paths: Iterable[str] = PROTOCOL_PATHS
) -> None:
    """Protect every browser form under /idp and /wallet; call before the body-size limit is added,
    so the limit applies to the body asgi-csrf reads."""
    secret = derive_key(master_key, "seoul-wallet: CSRF tokens v1").hex()
    app.add_middleware(CSRFMiddleware, signing_secret=secret, secure=secure, exempt_paths=tuple(exempt_paths))
