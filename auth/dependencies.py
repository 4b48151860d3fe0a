"""The resource-server side: a FastAPI dependency that demands a valid bearer token with scopes."""

from __future__ import annotations

from collections.abc import Callable

from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oauth2.rfc6750.errors import InsufficientScopeError
from fastapi import HTTPException, Request

from auth.tokens import AccessToken, AccessTokenService


class BearerAuth:
    """`Depends(auth.require("credentials:offer"))` yields the caller's AccessToken, or answers
    401 (missing or invalid token) / 403 (insufficient scope) with an RFC 6750 WWW-Authenticate."""

    def __init__(self, tokens: AccessTokenService) -> None:
        self.tokens = tokens

    def require(self, *scopes: str) -> Callable[[Request], AccessToken]:
        wanted = list(scopes)
        scope_hint = f', scope="{" ".join(wanted)}"' if wanted else ""

        def dependency(request: Request) -> AccessToken:
            header = request.headers.get("authorization", "")
            kind, _, token = header.partition(" ")
            if kind.lower() != "bearer" or not token.strip():
                raise HTTPException(
                    401, "a bearer access token is required", headers={"WWW-Authenticate": f"Bearer{scope_hint[1:]}"}
                )
            try:
                return self.tokens.validate(token.strip(), wanted)
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

        # What the OpenAPI document states for the route (seoul_wallet/openapi_errors.py).
        dependency.required_scopes = tuple(wanted)  # type: ignore[attr-defined]
        return dependency
