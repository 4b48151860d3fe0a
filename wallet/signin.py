"""The citizen's sign-in: the wallet is an OpenID Connect relying party (Authlib's Starlette client)
of a configurable provider, the platform's built-in one by default in development.

Authorization code flow with PKCE (S256), `state` and `nonce`; Authlib checks the ID token's
signature (the provider's JWKS), `iss`, `aud`, `exp` and `nonce`. The wallet account is keyed by the
provider's `sub` (the platform id, a first-party client's subject), and nothing else about the
citizen is stored. The browser session (Starlette's signed cookie, path /wallet, HttpOnly,
SameSite=Lax, Secure outside development) holds the citizen id and the ID token for RP-initiated
logout; it is signed, not encrypted, so it never holds the access token. The provider's metadata must
name exactly the configured issuer, and ID tokens are accepted in ES256 or EdDSA only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from authlib.integrations.starlette_client import OAuth, OAuthError
from fastapi import HTTPException, Request
from fastapi.responses import RedirectResponse
from joserfc.errors import JoseError

from keys.subjects import SubjectError, check_platform_id

log = logging.getLogger("seoul_wallet.wallet")

SCOPES = "openid profile consent:read consent:withdraw wallet"
ID_TOKEN_ALGORITHMS = ("ES256", "EdDSA")  # whatever the provider's metadata offers, never others
SESSION_CITIZEN = "citizen"


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    issuer: str
    client_id: str
    client_secret: str
    redirect_uri: str  # {public_url}/wallet/auth/callback
    post_logout_redirect_uri: str  # {public_url}/wallet


class SignInUnavailable(Exception):
    """No provider is configured: the wallet cannot sign anyone in."""


class WalletSignIn:
    """The relying party. `transport` lets tests route the provider calls to an ASGI app; it is read
    when the client is first used, because the app it routes to exists only after this object."""

    def __init__(
        self,
        config: ProviderConfig | None,
        on_sign_in: Callable[[str], None],
        transport: Callable[[], httpx.AsyncBaseTransport | None] = lambda: None,
    ) -> None:
        self.config = config
        self._on_sign_in = on_sign_in
        self._transport = transport
        self._oauth: OAuth | None = None

    def _client(self) -> Any:
        if self.config is None:
            raise SignInUnavailable("no OpenID provider is configured (SEOUL_WALLET_OIDC_ISSUER)")
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
        return self._oauth.provider

    async def _checked_client(self) -> Any:
        """The client, with the provider's metadata loaded and checked: its `issuer` is exactly the
        configured one (Discovery §4.3), and ID tokens are accepted only in our algorithms."""
        client = self._client()
        assert self.config is not None
        try:
            metadata = await client.load_server_metadata()
        except (httpx.HTTPError, ValueError) as exc:
            raise SignInUnavailable(f"the provider's metadata cannot be read: {type(exc).__name__}") from None
        if metadata.get("issuer") != self.config.issuer:
            client.server_metadata.clear()  # read it again next time
            raise SignInUnavailable("the provider's metadata names another issuer")
        offered = metadata.get("id_token_signing_alg_values_supported") or []
        metadata["id_token_signing_alg_values_supported"] = [a for a in offered if a in ID_TOKEN_ALGORITHMS]
        return client

    async def login(self, request: Request, return_to: str | None = None) -> RedirectResponse:
        """Send the browser to the provider (state, nonce and the PKCE verifier go in the session)."""
        client = await self._checked_client()
        request.session["return_to"] = _local_path(return_to)
        assert self.config is not None
        return await client.authorize_redirect(request, self.config.redirect_uri)

    async def callback(self, request: Request) -> RedirectResponse:
        """The provider's answer: check it, open the citizen's wallet, start the session."""
        client = await self._checked_client()
        if "error" in request.query_params:
            # The citizen cancelled, or the provider refused. Nothing changes in the session: anyone
            # can send a browser here with ?error=, and that must not sign the citizen out.
            return RedirectResponse("/wallet?signin=" + _short(request.query_params.get("error", "")), 303)
        assert self.config is not None
        try:
            token = await client.authorize_access_token(
                request, claims_options={"iss": {"essential": True, "value": self.config.issuer}}
            )
        except (OAuthError, JoseError, httpx.HTTPError, ValueError, KeyError) as exc:
            log.warning("sign-in failed", extra={"reason": type(exc).__name__, "detail": str(exc)[:200]})
            raise HTTPException(400, "sign-in failed: the provider's answer could not be verified") from None
        claims = token.get("userinfo") or {}
        try:
            citizen = check_platform_id(claims.get("sub"))
        except SubjectError:
            raise HTTPException(400, "sign-in failed: the provider's subject is not a platform id") from None
        self._on_sign_in(citizen)
        return_to = request.session.pop("return_to", None) or "/wallet"
        request.session.clear()
        # The session is a signed, not encrypted, cookie: it holds who is signed in and the ID token
        # for the logout hint, never the access token.
        request.session.update({SESSION_CITIZEN: citizen, "id_token": token.get("id_token")})
        return RedirectResponse(return_to, 303)

    async def logout(self, request: Request) -> RedirectResponse:
        """End the wallet session, then the provider's (RP-Initiated Logout 1.0)."""
        id_token = request.session.get("id_token")
        request.session.clear()  # first: the citizen is signed out here whatever the provider does
        if self.config is None:
            return RedirectResponse("/wallet", 303)
        try:
            metadata = (await self._checked_client()).server_metadata
        except SignInUnavailable:
            return RedirectResponse("/wallet", 303)
        end_session = metadata.get("end_session_endpoint")
        if not end_session:
            return RedirectResponse("/wallet", 303)
        params = {"post_logout_redirect_uri": self.config.post_logout_redirect_uri, "client_id": self.config.client_id}
        if id_token:
            params["id_token_hint"] = id_token
        return RedirectResponse(f"{end_session}?{urlencode(params)}", 303)


def signed_in_citizen(request: Request) -> str | None:
    """The citizen of this browser session, or None."""
    citizen = request.session.get(SESSION_CITIZEN) if "session" in request.scope else None
    return citizen if isinstance(citizen, str) else None


MAX_RETURN_TO = 1500  # with Authlib's state, a longer one would push the cookie past 4 KB (dropped)


def _local_path(value: str | None) -> str:
    # Only a path on this site: never an open redirect after sign-in; and short enough to fit the
    # session cookie (a by-value request link can be longer: she then lands on the home page).
    if not value or not value.startswith("/wallet") or value.startswith("//") or "\\" in value:
        return "/wallet"
    return value if len(value) <= MAX_RETURN_TO else "/wallet"


def _short(value: str) -> str:
    return "".join(c for c in value if c.isalnum() or c == "_")[:40]
