"""The resource-server side: a FastAPI dependency that demands a valid bearer token with scopes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from anyio import to_thread
from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oauth2.rfc6750.errors import InsufficientScopeError
from fastapi import HTTPException, Request

from auth.tokens import AccessToken, AccessTokenService
from storage.threads import LoopThreads

# Threads of their own for the rare check that reads the platform keys: never the pool the
# synchronous routes share, which may be full of requests that wait on a route this check guards.
KEY_READ_THREADS = 4
_key_read_limiter = LoopThreads("bearer_key_read_threads", KEY_READ_THREADS)


class BearerAuth:
    """`Depends(auth.require("credentials:offer"))` yields the caller's AccessToken, or answers
    401 (missing or invalid token) / 403 (insufficient scope) with an RFC 6750 WWW-Authenticate."""

    def __init__(self, tokens: AccessTokenService) -> None:
        self.tokens = tokens

    def require(self, *scopes: str) -> Callable[[Request], Awaitable[AccessToken]]:
        wanted = list(scopes)
        scope_hint = f', scope="{" ".join(wanted)}"' if wanted else ""

        def check(token: str) -> AccessToken:
            try:
                return self.tokens.validate(token, wanted)
            except InsufficientScopeError:
                raise HTTPException(
                    403,
                    f"the access token lacks a required scope: {' '.join(wanted)}",
                    headers={"WWW-Authenticate": f'Bearer error="insufficient_scope"{scope_hint}'},
                ) from None
            except OAuth2Error:
                raise HTTPException(
                    401,
                    "the access token is invalid or expired",
                    headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
                ) from None

        async def dependency(request: Request) -> AccessToken:
            header = request.headers.get("authorization", "")
            kind, _, token = header.partition(" ")
            if kind.lower() != "bearer" or not token.strip():
                raise HTTPException(
                    401, "a bearer access token is required", headers={"WWW-Authenticate": f"Bearer{scope_hint[1:]}"}
                )
            # A signature check (~0.1 ms) runs on the event loop: a thread hand-off for it would
            # cost more than the check. Only when the platform keys must be read (every 30 s, or
            # for a kid not seen yet) does it go to a worker thread, off the loop.
            if self.tokens.validates_without_io(token.strip()):
                return check(token.strip())
            return await to_thread.run_sync(check, token.strip(), limiter=_key_read_limiter())

        # What the OpenAPI document states for the route (seoul_wallet/openapi_errors.py).
        dependency.required_scopes = tuple(wanted)  # type: ignore[attr-defined]
        return dependency
