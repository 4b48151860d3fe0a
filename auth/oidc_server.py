"""The built-in OpenID provider as one Authlib authorization server.

The authorization code grant with its PKCE and OpenID Connect extensions (auth/oidc_grants.py), the
UserInfo endpoint and RP-Initiated Logout 1.0 (`EndSessionEndpoint`). What Authlib leaves to the
integrator is here: storage of codes and tokens, accounts, the subject a client sees, access tokens.
"""

from __future__ import annotations

import json
import secrets
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6749 import OAuth2Request, ResourceProtector
from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oidc.core import UserInfo, UserInfoEndpoint
from authlib.oidc.rpinitiated import EndSessionEndpoint, EndSessionRequest
from fastapi import Response
from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from auth.oauth_requests import SafeClientAuthentication
from auth.oidc_clients import PROVIDER_SCOPES, USER_SCOPES, subject_for
from auth.oidc_grants import (
    IDP_OWNER,
    CitizenForClient,
    ProviderCodeGrant,
    ProviderOpenIDCode,
    S256CodeChallenge,
    SignedInCitizen,
    user_info,
)
from auth.oidc_models import OidcAccessToken, OidcAuthorizationCode, OidcClient, ProviderAccount, hash_secret
from auth.passwords import verify_password
from auth.tokens import ACCESS_TOKEN_TTL, AccessTokenService
from keys import jws
from keys.keyring import KeyRing
from keys.subjects import PairwiseSubjects, SubjectError, check_platform_id

CODE_TTL = 60
# The OpenID Connect scopes a first-party access token was granted with. The token's `scope` holds only
# platform API scopes (what resource servers check); userinfo needs to know whether `profile` was granted.
OIDC_SCOPE_CLAIM = "oidc_scope"
_MAX_TOKEN_LENGTH = 4096


@dataclass(frozen=True, slots=True)
class UserInfoGrant:
    """What a valid access token lets its bearer read at userinfo (Authlib's TokenMixin)."""

    client: OidcClient
    user: CitizenForClient
    scope: str
    expires_at: int

    def get_client(self) -> OidcClient:
        return self.client

    def get_user(self) -> CitizenForClient:
        return self.user

    def get_scope(self) -> str:
        return self.scope

    def is_expired(self) -> bool:
        return self.expires_at <= int(time.time())

    def is_revoked(self) -> bool:
        return False


class _UserInfoTokens(BearerTokenValidator):
    def __init__(self, server: OpenIDProviderServer) -> None:
        super().__init__()
        self._server = server

    def authenticate_token(self, token_string: str) -> UserInfoGrant | None:
        return self._server.userinfo_grant(token_string)


# Authlib's UserInfoEndpoint asks its protector for the token without passing the request (its Flask
# integration reads a request-local); this carries the request of the call in progress.
_userinfo_request: ContextVar[OAuth2Request] = ContextVar("userinfo_request")


class _RequestProtector(ResourceProtector):
    def acquire_token(self, scopes: str | list[str]) -> UserInfoGrant:
        required = [scopes] if isinstance(scopes, str) else list(scopes)
        return self.validate_request(required, _userinfo_request.get())


class _UserInfo(UserInfoEndpoint):
    def generate_user_info(self, user: CitizenForClient, scope: str) -> UserInfo:
        return user_info(user, scope)

    def get_issuer(self) -> str:
        return self.server.issuer


class _EndSession(EndSessionEndpoint):
    def get_server_jwks(self) -> dict[str, list[dict[str, Any]]]:
        return self.server.keyring.jwks(IDP_OWNER)

    def get_algorithms(self) -> list[str]:
        return sorted(jws.ALLOWED_ALGORITHMS)

    def is_post_logout_redirect_uri_legitimate(
        self, request: OAuth2Request, post_logout_redirect_uri: str, client: OidcClient, logout_hint: str | None
    ) -> bool:
        # Without an id_token_hint, only the citizen's own confirmation (a CSRF-protected form) makes
        # the redirect to the client's registered URI legitimate (RP-Initiated Logout §3).
        return bool(getattr(request, "confirmed_by_citizen", False))

    def end_session(self, end_session_request: EndSessionRequest) -> None:
        # The provider's session is its signed cookie; the route clears it on the response.
        return None


class OpenIDProviderServer(SafeClientAuthentication):
    """Authlib's framework-agnostic authorization server as the platform's OpenID provider."""

    def __init__(
        self, engine: Engine, keyring: KeyRing, tokens: AccessTokenService, subjects: PairwiseSubjects, issuer: str
    ) -> None:
        super().__init__(scopes_supported=list(PROVIDER_SCOPES))
        self.engine, self.keyring, self.tokens, self.subjects, self.issuer = engine, keyring, tokens, subjects, issuer
        self.register_grant(ProviderCodeGrant, [S256CodeChallenge(required=True), ProviderOpenIDCode(self)])
        self.register_token_generator("default", self._generate_token)
        protector = _RequestProtector()
        protector.register_token_validator(_UserInfoTokens(self))
        self.register_endpoint(_UserInfo(self, resource_protector=protector))
        self.register_endpoint(_EndSession(self))

    # -- Authlib integration -----------------------------------------------------------------------
    def query_client(self, client_id: str) -> OidcClient | None:
        if not isinstance(client_id, str) or len(client_id) > 64:
            return None
        with Session(self.engine) as session:
            client = session.get(OidcClient, client_id)
        return client if client is not None and not client.disabled else None

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        return None  # stored (if at all) when generated, see _generate_token

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    def create_oauth2_request(self, request: OAuth2Request) -> OAuth2Request:
        return request

    def create_json_request(self, request: Any) -> Any:
        raise NotImplementedError("no JSON endpoints")

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> Response:
        content = json.dumps(body) if isinstance(body, dict) else (body or "")
        response = Response(content=content, status_code=status)
        for name, value in headers:
            response.headers[name] = value
        return response

    def userinfo_response(self, request: OAuth2Request) -> Response:
        marker = _userinfo_request.set(request)
        try:
            return self.create_endpoint_response("userinfo", request)
        finally:
            _userinfo_request.reset(marker)

    # -- accounts ----------------------------------------------------------------------------------
    def account(self, platform_id: object) -> ProviderAccount | None:
        try:
            check_platform_id(platform_id)
        except SubjectError:
            return None
        with Session(self.engine) as session:
            account = session.get(ProviderAccount, platform_id)
        return account if account is not None and not account.disabled else None

    def accounts(self, platform_ids: list[str]) -> list[ProviderAccount]:
        with Session(self.engine) as session:
            rows = session.exec(select(ProviderAccount).where(col(ProviderAccount.platform_id).in_(platform_ids)))
            found = {row.platform_id: row for row in rows if not row.disabled}
        return [found[platform_id] for platform_id in platform_ids if platform_id in found]

    def authenticate(self, platform_id: object, password: object) -> ProviderAccount | None:
        """The account if the password is right; None otherwise, after the same work either way."""
        account = self.account(platform_id)
        if not isinstance(password, str):
            return None
        matches = verify_password(password, account.password_hash if account is not None else None)
        return account if matches else None

    def citizen_for(self, platform_id: str, client: OidcClient) -> CitizenForClient | None:
        account = self.account(platform_id)
        if account is None:
            return None
        return CitizenForClient(platform_id, account.display_name, subject_for(self.subjects, client, platform_id))

    # -- authorization codes -----------------------------------------------------------------------
    def store_code(self, code: str, request: OAuth2Request) -> None:
        now = int(time.time())
        data = request.payload.data
        citizen: SignedInCitizen = request.user
        row = OidcAuthorizationCode(
            code_hash=hash_secret(code),
            client_id=request.client.client_id,
            platform_id=citizen.platform_id,
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope,
            nonce=data["nonce"],
            code_challenge=data["code_challenge"],
            code_challenge_method=data["code_challenge_method"],
            auth_time=citizen.auth_time,
            expires_at=now + CODE_TTL,
        )
        with Session(self.engine) as session:
            session.execute(delete(OidcAuthorizationCode).where(col(OidcAuthorizationCode.expires_at) < now))
            session.add(row)
            session.commit()

    def redeem_code(self, code: str, client: OidcClient) -> OidcAuthorizationCode | None:
        """Spend the client's code: one DELETE … RETURNING, so of two concurrent redemptions exactly
        one gets it. The first redemption spends it even if the rest of the request then fails (a wrong
        code_verifier gets no second guess). Another client's attempt leaves it in place."""
        if not isinstance(code, str) or len(code) > _MAX_TOKEN_LENGTH:
            return None
        table = OidcAuthorizationCode.__table__
        statement = (
            delete(table)
            .where(table.c.code_hash == hash_secret(code), table.c.client_id == client.client_id)
            .returning(*table.c)
        )
        with Session(self.engine) as session:
            spent = session.execute(statement).first()
            session.commit()
        if spent is None:
            return None
        row = OidcAuthorizationCode(**spent._mapping)
        return None if row.is_expired() else row

    def nonce_in_use(self, client_id: str, nonce: str) -> bool:
        statement = select(OidcAuthorizationCode.code_hash).where(
            OidcAuthorizationCode.client_id == client_id,
            OidcAuthorizationCode.nonce == nonce,
            col(OidcAuthorizationCode.expires_at) > int(time.time()),
        )
        with Session(self.engine) as session:
            return session.exec(statement.limit(1)).first() is not None

    # -- access tokens -----------------------------------------------------------------------------
    def _generate_token(
        self,
        grant_type: str,
        client: OidcClient,
        user: CitizenForClient,
        scope: str,
        expires_in: int | None = None,
        include_refresh_token: bool = False,
    ) -> dict[str, Any]:
        granted = scope.split()
        user_scopes = " ".join(s for s in granted if s in USER_SCOPES)
        if client.subject_type == "public":
            # The platform's RFC 9068 token, so the consent ledger and the wallet API accept it as is.
            platform_scopes = [s for s in granted if s not in USER_SCOPES]
            access_token = self.tokens.issue(
                f"citizen:{user.platform_id}", client.client_id, platform_scopes, claims={OIDC_SCOPE_CLAIM: user_scopes}
            )
        else:
            # A service's token must not carry the platform id, even inside a JWT it can read: an opaque
            # random string, stored hashed, that only userinfo understands.
            access_token = secrets.token_urlsafe(32)
            now = int(time.time())
            with Session(self.engine) as session:
                session.execute(delete(OidcAccessToken).where(col(OidcAccessToken.expires_at) < now))
                session.add(
                    OidcAccessToken(
                        token_hash=hash_secret(access_token),
                        client_id=client.client_id,
                        platform_id=user.platform_id,
                        scope=user_scopes,
                        expires_at=now + ACCESS_TOKEN_TTL,
                    )
                )
                session.commit()
        return {"token_type": "Bearer", "access_token": access_token, "expires_in": ACCESS_TOKEN_TTL, "scope": scope}

    def userinfo_grant(self, token: str) -> UserInfoGrant | None:
        """What `token` (issued by this provider) lets its bearer read, or None."""
        if not token or len(token) > _MAX_TOKEN_LENGTH:
            return None
        if "." in token:  # a first-party client's platform JWT
            try:
                access = self.tokens.validate(token)
            except OAuth2Error:
                return None
            scope = access.claims.get(OIDC_SCOPE_CLAIM)
            if not isinstance(scope, str) or not access.subject.startswith("citizen:"):
                return None  # not issued by this provider's token endpoint
            client_id, expires_at = access.client_id, access.claims["exp"]
            platform_id = access.subject.removeprefix("citizen:")
        else:
            with Session(self.engine) as session:
                row = session.get(OidcAccessToken, hash_secret(token))
            if row is None:
                return None
            client_id, platform_id, scope, expires_at = row.client_id, row.platform_id, row.scope, row.expires_at
        client = self.query_client(client_id)
        if client is None or ("." in token) != (client.subject_type == "public"):
            return None
        user = self.citizen_for(platform_id, client)
        return UserInfoGrant(client, user, scope, int(expires_at)) if user is not None else None
