"""Officers' sign-in: the consoles are an OpenID Connect relying party of their own (client
`seoul-wallet-consoles` at the built-in provider in development), with their own session cookie.

The same flow as the wallet's (wallet/signin.py): Authlib's Starlette client, authorization code
with PKCE S256, `state` and `nonce`, the ID token checked against the provider's JWKS (`iss`,
`aud`, `exp`, `nonce`), the provider's metadata naming exactly the configured issuer, ES256 or EdDSA
only. It is not `WalletSignIn` itself because that one asks for the wallet's platform scopes, sends
everyone back to /wallet and keeps its state in the wallet's session; the consoles ask for `openid
profile` only and keep everything in a cookie of their own (path /consoles), so an officer's
session and a citizen's in the same browser never meet.

Authlib keeps the login's state, nonce and PKCE verifier in `request.session`; each step here hands
it a request whose session is the consoles' cookie, never the wallet's.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode

import httpx
from authlib.integrations.starlette_client import OAuth, OAuthError
from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from joserfc.errors import JoseError
from starlette.concurrency import run_in_threadpool

from auth.rate_limits import SIGNIN_ADDRESS, current_caller

log = logging.getLogger("seoul_wallet.consoles")

SCOPES = "openid profile"
ID_TOKEN_ALGORITHMS = ("ES256", "EdDSA")
_SUB = re.compile(r"[\x21-\x7e]{1,255}")  # printable ASCII, as providers' subjects are


@dataclass(frozen=True, slots=True)
class ConsoleProvider:
    issuer: str
    client_id: str
    client_secret: str
    redirect_uri: str  # {public_url}/consoles/auth/callback
    post_logout_redirect_uri: str  # {public_url}/consoles


class Cookie(Protocol):
    """seoul_wallet.browser.SignedSessionCookie, injected by the composition root."""

    def read(self, request: Request) -> dict[str, Any] | None: ...
    def write(self, response: Response, data: dict[str, Any]) -> None: ...
    def clear(self, response: Response) -> None: ...


class SignInUnavailable(Exception):
    """No provider is configured, or it cannot be read: nobody can sign in now."""


class SignInFailed(Exception):
    """The provider's answer could not be verified: nobody was signed in."""


class SignInThrottled(SignInFailed):
    """Too many sign-ins failed from this address: none is tried until `retry_after` seconds pass."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed sign-ins from this address; try again in {retry_after} seconds")
        self.retry_after = retry_after


def local_path(value: object, default: str = "/consoles") -> str:
    """Only a path of the consoles on this site: never an open redirect."""
    if not isinstance(value, str) or not value.startswith("/consoles") or value.startswith("//") or "\\" in value:
        return default
    return value


class ConsoleSignIn:
    def __init__(
        self,
        config: ConsoleProvider | None,
        cookie: Cookie,
        transport: Callable[[], httpx.AsyncBaseTransport | None] = lambda: None,
    ) -> None:
        self.config, self.cookie = config, cookie
        self._transport = transport  # read on first use: in tests the app it routes to comes later
        self._oauth: OAuth | None = None

    def session(self, request: Request) -> dict[str, Any]:
        return self.cookie.read(request) or {}

    def signed_in(self, request: Request) -> tuple[str, str] | None:
        """(sub, display name) of the officer signed in in this browser, or None."""
        data = self.session(request)
        sub = data.get("sub")
        return (sub, str(data.get("name") or sub)) if isinstance(sub, str) else None

    async def _client(self) -> Any:
        if self.config is None:
            raise SignInUnavailable("no OpenID provider is configured for the consoles")
        if self._oauth is None:
            oauth = OAuth()
            transport = self._transport()
            oauth.register(
                "provider",
                client_id=self.config.client_id,
                client_secret=self.config.client_secret,
                server_metadata_url=f"{self.config.issuer}/.well-known/openid-configuration",
                client_kwargs={
                    "scope": SCOPES,
                    "code_challenge_method": "S256",
                    "timeout": 10.0,
                    **({"transport": transport} if transport is not None else {}),
                },
            )
            self._oauth = oauth
        client = self._oauth.provider
        try:
            metadata = await client.load_server_metadata()
        except (httpx.HTTPError, ValueError) as exc:
            raise SignInUnavailable(f"the provider's metadata cannot be read: {type(exc).__name__}") from None
        if metadata.get("issuer") != self.config.issuer:  # Discovery §4.3
            client.server_metadata.clear()
            raise SignInUnavailable("the provider's metadata names another issuer")
        offered = metadata.get("id_token_signing_alg_values_supported") or []
        metadata["id_token_signing_alg_values_supported"] = [a for a in offered if a in ID_TOKEN_ALGORITHMS]
        return client

    @staticmethod
    def _with(request: Request, data: dict[str, Any]) -> Request:
        # A request whose `session` is the consoles' own data (Authlib reads and writes it there).
        return Request({**request.scope, "session": data}, request.receive)

    async def login(self, request: Request, return_to: str | None = None) -> Response:
        client = await self._client()
        assert self.config is not None
        data: dict[str, Any] = {"return_to": local_path(return_to)}
        response = await client.authorize_redirect(self._with(request, data), self.config.redirect_uri)
        self.cookie.write(response, data)  # a fresh session: whoever was signed in here is not any more
        return response

    async def callback(self, request: Request) -> Response:
        """Complete a sign-in. Failures count against the address (the per-address limit the
        provider's sign-in form shares); the password itself is typed, and limited per account, at
        the provider. Once the address's limit is spent, no code is exchanged until it resets: each
        exchange is a call to the provider."""
        caller = current_caller()
        attempt = (SIGNIN_ADDRESS, caller.address if caller else None)
        # The counters may be a database: off the event loop.
        refusal = await run_in_threadpool(caller.check, attempt) if caller else None
        if refusal is not None:
            raise SignInThrottled(refusal.retry_after)
        try:
            return await self._complete(request)
        except SignInFailed:
            if caller is not None:
                await run_in_threadpool(caller.count, attempt)
            raise

    async def _complete(self, request: Request) -> Response:
        client = await self._client()
        assert self.config is not None
        if "error" in request.query_params:
            # Cancelled, or refused. Anyone can send a browser here with ?error=: nothing changes.
            return RedirectResponse("/consoles?signin=failed", 303)
        data = self.session(request)
        try:
            token = await client.authorize_access_token(
                self._with(request, data), claims_options={"iss": {"essential": True, "value": self.config.issuer}}
            )
        except (OAuthError, JoseError, httpx.HTTPError, ValueError, KeyError) as exc:
            log.warning("console sign-in failed", extra={"reason": type(exc).__name__, "detail": str(exc)[:200]})
            raise SignInFailed("the provider's answer could not be verified") from None
        claims = token.get("userinfo") or {}
        sub = claims.get("sub")
        if not isinstance(sub, str) or not _SUB.fullmatch(sub):
            raise SignInFailed("the provider's subject is not usable")
        name, id_token = claims.get("name"), token.get("id_token")
        response = RedirectResponse(local_path(data.get("return_to")), 303)
        # A signed (not encrypted) cookie: who signed in, a name to greet her, the ID token as the
        # logout hint. No access token: the consoles call the parties with the parties' own clients.
        self.cookie.write(
            response, {"sub": sub, "name": name[:100] if isinstance(name, str) else sub, "id_token": id_token}
        )
        return response

    async def logout(self, request: Request) -> Response:
        """End the consoles' session, then the provider's (RP-Initiated Logout 1.0)."""
        id_token = self.session(request).get("id_token")
        response: Response = RedirectResponse("/consoles", 303)
        if self.config is not None:
            try:
                end_session = (await self._client()).server_metadata.get("end_session_endpoint")
            except SignInUnavailable:
                end_session = None
            if end_session:
                params = {
                    "post_logout_redirect_uri": self.config.post_logout_redirect_uri,
                    "client_id": self.config.client_id,
                    **({"id_token_hint": id_token} if isinstance(id_token, str) else {}),
                }
                response = RedirectResponse(f"{end_session}?{urlencode(params)}", 303)
        self.cookie.clear(response)  # signed out here whatever the provider does
        return response
