"""RFC 9068 JWT access tokens: issued and validated with Authlib, signed by the platform key."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6750.errors import InvalidTokenError
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator, JWTBearerTokenValidator
from authlib.oauth2.rfc9068.claims import JWTAccessTokenClaims
from joserfc.jwk import ECKey, KeySet, OKPKey

from keys import jws
from keys.keyring import KeyRing
from outbound.bounded_cache import BoundedTTLCache

PLATFORM_OWNER = "platform"
ACCESS_TOKEN_TTL = 3600
JWKS_CACHE_SECONDS = 30.0  # how long a worker trusts its copy of the platform's published keys
# Signatures verified, per token: a backend sends the same token with every call of its hour.
VERIFIED_TOKENS = 4096
_REGISTERED_CLAIMS = frozenset({"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope"})


@dataclass(frozen=True, slots=True)
class AccessToken:
    """What a resource server learns from a valid access token."""

    subject: str
    client_id: str
    scopes: frozenset[str]
    claims: dict[str, Any]


def _joserfc_key(keyring: KeyRing) -> KeySet:
    active = keyring.active_key(PLATFORM_OWNER)
    key_class = ECKey if active.alg == "ES256" else OKPKey
    # A one-key KeySet makes joserfc put the key's `kid` in the header, so resource servers can
    # pick the right key from the JWKS across rotations.
    return KeySet([key_class.import_key(active.private_key, {"kid": active.kid})])


class PlatformTokenGenerator(JWTBearerTokenGenerator):
    """Authlib's RFC 9068 generator over the platform key; `sub` is who the client acts for."""

    def __init__(self, keyring: KeyRing, issuer: str, audience: str) -> None:
        super().__init__(issuer=issuer, alg="ES256", expires_generator=self._lifetime)
        self._keyring = keyring
        self._audience = audience

    def get_jwks(self) -> KeySet:
        key_set = _joserfc_key(self._keyring)
        self.alg = self._keyring.active_key(PLATFORM_OWNER).alg
        return key_set

    def get_audiences(self, client: Any, user: Any, scope: str) -> str:
        return self._audience

    def get_extra_claims(self, client: Any, grant_type: str, user: Any, scope: str) -> dict[str, Any]:
        # RFC 9068 §2.2: with no resource owner, `sub` identifies the client application; ours says
        # which agency or verifier the client acts for, which is what every authorisation check needs.
        if user is None:
            return {"sub": client.subject}
        # Extra claims never replace the ones every resource server relies on.
        extra = getattr(client, "extra_claims", None) or {}
        return {name: value for name, value in extra.items() if name not in _REGISTERED_CLAIMS}

    @staticmethod
    def _lifetime(client: Any, grant_type: str) -> int:
        return getattr(client, "ttl", ACCESS_TOKEN_TTL)


class PlatformTokenValidator(JWTBearerTokenValidator):
    """Authlib's RFC 9068 validator over the platform JWKS, behind our algorithm allow-list."""

    def __init__(self, keyring: KeyRing, issuer: str, audience: str) -> None:
        super().__init__(issuer=issuer, resource_server=audience)
        self._keyring = keyring
        # The platform's published keys, read once per JWKS_CACHE_SECONDS rather than per request
        # (every API call checks a token). A token naming a kid the cached set lacks (a key rotated
        # in by another worker) reads them again at once; a retired key is refused at the latest
        # JWKS_CACHE_SECONDS after its retirement time.
        self._jwks: tuple[float, frozenset[str], KeySet] | None = None
        self._jwks_lock = threading.Lock()
        # A token whose signature verified under a key still published is not verified again
        # (an ES256 verification is most of a token check): the same bytes under the same key give
        # the same answer. The kid is checked against the fresh key set on every use, so a retired
        # key's tokens are refused as before; `exp`, `nbf` and scopes are checked on every use
        # (`validate_token`); no token is revocable before its `exp`, so nothing else can change.
        self._verified: BoundedTTLCache[str, JWTAccessTokenClaims] = BoundedTTLCache(VERIFIED_TOKENS)

    def get_jwks(self) -> KeySet:
        with self._jwks_lock:
            cached = self._jwks
        if cached is not None and cached[0] > time.monotonic():
            return cached[2]
        return self._read_jwks()

    def _read_jwks(self) -> KeySet:
        document = self._keyring.jwks(PLATFORM_OWNER)
        keys = KeySet.import_key_set(document)
        kids = frozenset(str(k.get("kid")) for k in document["keys"])
        with self._jwks_lock:
            self._jwks = (time.monotonic() + JWKS_CACHE_SECONDS, kids, keys)
        return keys

    def _knows(self, kid: object) -> bool:
        with self._jwks_lock:
            cached = self._jwks
        return cached is not None and cached[0] > time.monotonic() and kid in cached[1]

    def keys_cached_for(self, token_string: str) -> bool:
        """Whether checking this token needs no read of the keys (its kid is in the fresh cache):
        then the check is CPU only and may run on the event loop, sparing a thread hand-off."""
        try:
            return self._knows(jws.read_header(token_string).get("kid"))
        except (jws.JWSError, TypeError):
            return True  # refused without reading anything

    def authenticate_token(self, token_string: str) -> Any:
        try:
            header = jws.read_header(token_string)
        except jws.JWSError:
            raise InvalidTokenError() from None
        # Authlib would accept any algorithm joserfc knows; ours are ES256/EdDSA only, never none/HMAC.
        alg, typ = header.get("alg"), header.get("typ")
        # A header value of the wrong JSON type (an array is unhashable) is a refusal, not a TypeError.
        if not isinstance(alg, str) or alg not in jws.ALLOWED_ALGORITHMS or typ not in ("at+jwt", "application/at+jwt"):
            raise InvalidTokenError()
        if any(name in header for name in jws.KEY_NAMING_HEADERS) or "crit" in header:
            raise InvalidTokenError()
        kid = header.get("kid")
        if not self._knows(kid):
            self._read_jwks()
        verified = self._verified.get(token_string)
        if verified is not None and self._knows(kid):
            return _copy(verified)
        claims = super().authenticate_token(token_string)
        self._verified.put(token_string, _copy(claims), time.monotonic() + JWKS_CACHE_SECONDS)
        return claims


def _copy(claims: JWTAccessTokenClaims) -> JWTAccessTokenClaims:
    """A copy of verified claims: the object is handed to a route, which may keep or change it."""
    return JWTAccessTokenClaims(dict(claims), dict(claims.header), claims.options)


class _Citizen:
    """The resource owner of a citizen session token, for Authlib's generator."""

    def __init__(self, subject: str) -> None:
        self._subject = subject

    def get_user_id(self) -> str:
        return self._subject


@dataclass
class _AppClient:
    """A first-party client (the citizen app) that is not registered in the client table."""

    client_id: str
    subject: str
    ttl: int
    extra_claims: Mapping[str, Any] | None = None

    def get_client_id(self) -> str:
        return self.client_id

    def get_allowed_scope(self, scope: str) -> str:
        return scope


class AccessTokenService:
    """Issues and validates platform access tokens.

    `issue` is the seam for first-party sessions: the citizen app's sign-in calls it with
    `subject="citizen:<pseudonymous id>"`; OAuth clients get theirs from the token endpoint."""

    def __init__(self, keyring: KeyRing, issuer: str) -> None:
        self.issuer = issuer
        self.audience = issuer  # one resource server: the platform API
        self.generator = PlatformTokenGenerator(keyring, issuer, self.audience)
        self.validator = PlatformTokenValidator(keyring, issuer, self.audience)

    def issue(
        self,
        subject: str,
        client_id: str,
        scopes: list[str],
        ttl: int = ACCESS_TOKEN_TTL,
        claims: Mapping[str, Any] | None = None,
    ) -> str:
        """A signed access token for `subject`, issued to the first-party client `client_id`.

        `claims` are added to the token (RFC 9068 allows private claims within one system), e.g. the
        OpenID provider records which OpenID Connect scopes the citizen granted at sign-in."""
        token = self.generator.generate(
            grant_type="urn:seoul-wallet:session",
            client=_AppClient(client_id, subject, ttl, claims),
            user=_Citizen(subject),
            scope=" ".join(scopes),
            include_refresh_token=False,
        )
        return token["access_token"]

    def validates_without_io(self, token: str) -> bool:
        """True when `validate(token)` reads nothing (the platform keys it needs are cached)."""
        return self.validator.keys_cached_for(token)

    def validate(self, token: str, required_scopes: list[str] | None = None) -> AccessToken:
        """Validate signature, `iss`, `aud`, `exp` and scopes; raises Authlib's OAuth2 errors."""
        claims = self.validator.authenticate_token(token)
        self.validator.validate_token(claims, required_scopes or [], None)
        scope = claims.get("scope") or ""
        return AccessToken(
            subject=str(claims["sub"]),
            client_id=str(claims["client_id"]),
            scopes=frozenset(scope.split()),
            claims=dict(claims),
        )
