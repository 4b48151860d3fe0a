"""The authorization code grant of the built-in OpenID provider, as Authlib grant and extensions.

PKCE is required with S256 (RFC 7636), `openid` and `nonce` are required (OpenID Connect Core
§3.1.2.1), and the ID token is signed with the provider's key (KeyRing owner `idp`), `typ` JWT,
with `aud` = the client id and `sub` = the subject this client sees.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidRequestError, InvalidScopeError
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.errors import RequestNotSupportedError, RequestURINotSupportedError
from authlib.oidc.core.grants import OpenIDCode
from joserfc.jwk import ECKey, OKPKey

from auth.oidc_models import OidcAuthorizationCode, OidcClient

if TYPE_CHECKING:
    from auth.oidc_server import OpenIDProviderServer

IDP_OWNER = "idp"  # KeyRing owner of the ID-token signing keys
ID_TOKEN_TTL = 600
NONCE_MAX_LENGTH = 255


@dataclass(frozen=True, slots=True)
class SignedInCitizen:
    """Who is signed in at the provider (from its session cookie or a sign-in just now)."""

    platform_id: str
    auth_time: int


@dataclass(frozen=True, slots=True)
class CitizenForClient:
    """A citizen as one client sees her: `sub` is that client's subject for her."""

    platform_id: str
    name: str
    sub: str

    def get_user_id(self) -> str:
        return self.sub


def user_info(user: CitizenForClient, scope: str) -> UserInfo:
    return UserInfo(sub=user.sub, name=user.name).filter(scope)


class S256CodeChallenge(CodeChallenge):
    """PKCE is required of every client, and only with S256: `plain` would give nothing over no PKCE
    to an attacker who can read the authorization request."""

    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]

    def validate_code_challenge(self, grant: AuthorizationCodeGrant, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("code_challenge is required (PKCE, RFC 7636, with S256)")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256")
        super().validate_code_challenge(grant, redirect_uri)


class ProviderOpenIDCode(OpenIDCode):
    def __init__(self, server: OpenIDProviderServer) -> None:
        super().__init__(require_nonce=True)
        self._server = server

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        return self._server.nonce_in_use(request.payload.client_id, nonce)

    def validate_openid_authorization_request(self, grant: AuthorizationCodeGrant, redirect_uri: str) -> None:
        super().validate_openid_authorization_request(grant, redirect_uri)
        if len(grant.request.payload.data["nonce"]) > NONCE_MAX_LENGTH:
            raise InvalidRequestError(f"nonce is at most {NONCE_MAX_LENGTH} characters")

    def resolve_client_private_key(self, client: OidcClient) -> ECKey | OKPKey:
        active = self._server.keyring.active_key(IDP_OWNER)
        key_class = ECKey if active.alg == "ES256" else OKPKey
        return key_class.import_key(active.private_key, {"kid": active.kid})

    def get_client_algorithm(self, client: OidcClient) -> str:
        return self._server.keyring.active_key(IDP_OWNER).alg

    def get_encode_header(self, client: OidcClient) -> dict[str, str]:
        active = self._server.keyring.active_key(IDP_OWNER)
        return {"alg": active.alg, "typ": "JWT", "kid": active.kid}

    def get_client_claims(self, client: OidcClient) -> dict[str, Any]:
        now = int(time.time())
        return {"iss": self._server.issuer, "aud": client.client_id, "iat": now, "exp": now + ID_TOKEN_TTL}

    def generate_user_info(self, user: CitizenForClient, scope: str) -> UserInfo:
        return user_info(user, scope)


class ProviderCodeGrant(AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post"]
    server: OpenIDProviderServer

    @staticmethod
    def validate_authorization_redirect_uri(request: OAuth2Request, client: OidcClient) -> str:
        # Authlib's message repeats the URI; an error page must not show an attacker's address.
        redirect_uri = request.payload.redirect_uri
        if not redirect_uri:
            raise InvalidRequestError("redirect_uri is required")
        if not client.check_redirect_uri(redirect_uri):
            raise InvalidRequestError("redirect_uri is not registered for this client")
        return redirect_uri

    def validate_authorization_request(self) -> str:
        redirect_uri = super().validate_authorization_request()
        data = self.request.payload.data
        # An OpenID provider only: a plain OAuth code without an ID token is not offered.
        if "openid" not in (self.request.payload.scope or "").split():
            raise InvalidScopeError("the openid scope is required", redirect_uri=redirect_uri)
        if data.get("response_mode", "query") != "query":
            raise InvalidRequestError("only response_mode=query is supported", redirect_uri=redirect_uri)
        if "request" in data:
            raise RequestNotSupportedError(redirect_uri=redirect_uri)
        if "request_uri" in data:
            raise RequestURINotSupportedError(redirect_uri=redirect_uri)
        return redirect_uri

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        self.server.store_code(code, request)

    def query_authorization_code(self, code: str, client: OidcClient) -> OidcAuthorizationCode | None:
        return self.server.redeem_code(code, client)

    def delete_authorization_code(self, authorization_code: OidcAuthorizationCode) -> None:
        return None  # already spent by redeem_code

    def authenticate_user(self, authorization_code: OidcAuthorizationCode) -> CitizenForClient | None:
        return self.server.citizen_for(authorization_code.platform_id, self.request.client)
