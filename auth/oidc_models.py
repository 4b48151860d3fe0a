"""Tables of the built-in OpenID provider: accounts, relying parties, authorization codes, access tokens.

Codes and opaque access tokens are stored only as SHA-256 hashes: they are 256-bit random strings
we generate, so a hash is as hard to invert as a slow KDF would make it, and a database dump
yields nothing that can be redeemed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

SUBJECT_TYPES = ("public", "pairwise")


def hash_secret(value: str) -> str:
    """The stored form of a generated high-entropy secret (client secret, code, access token)."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


class ProviderAccount(SQLModel, table=True):
    """A citizen who can sign in at the provider. The primary key is the pseudonymous platform id."""

    __tablename__ = "idp_accounts"

    platform_id: str = Field(primary_key=True, max_length=64)
    display_name: str = Field(max_length=100)
    password_hash: str = Field(max_length=200, description="scrypt$N$r$p$salt$hash")
    created_at: int
    disabled: bool = False


class OidcClient(SQLModel, table=True):
    """A relying party: the wallet and agency consoles (`public` subjects) or a service (`pairwise`)."""

    __tablename__ = "idp_clients"

    client_id: str = Field(primary_key=True, max_length=64)
    client_secret_hash: str = Field(max_length=64)
    name: str = Field(max_length=200)
    redirect_uris: str = Field(sa_column=Column(Text, nullable=False), description="JSON array, compared exactly")
    post_logout_redirect_uris: str = Field(sa_column=Column(Text, nullable=False), description="JSON array")
    subject_type: str = Field(max_length=16, description="public or pairwise (OpenID Connect Core §8)")
    verifier_slug: str | None = Field(default=None, max_length=64, description="the pairwise sector: verifier:<slug>")
    scope: str = Field(description="space-separated scopes the client may be granted")
    created_at: int
    disabled: bool = False

    @property
    def redirect_uri_list(self) -> list[str]:
        return json.loads(self.redirect_uris)

    @property
    def client_metadata(self) -> dict[str, Any]:
        # Authlib's RP-Initiated Logout endpoint reads the registered post-logout URIs here.
        return {"post_logout_redirect_uris": json.loads(self.post_logout_redirect_uris)}

    # -- Authlib ClientMixin -------------------------------------------------------------------
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        # OpenID Connect requires redirect_uri in every authorization request; none is assumed.
        return None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        # Asking for a scope the client may not have is an error (invalid_scope), not silently narrowed,
        # so a misconfigured relying party learns at once why the wallet API refuses its token.
        requested = (scope or "").split()
        allowed = set(self.scope.split())
        if not requested or not set(requested) <= allowed:
            return None
        return " ".join(dict.fromkeys(requested))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uri_list

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(self.client_secret_hash, hash_secret(client_secret))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code" and not self.disabled


class OidcAuthorizationCode(SQLModel, table=True):
    """An authorization code, single use and short-lived, bound to everything the token request must repeat."""

    __tablename__ = "idp_authorization_codes"

    code_hash: str = Field(primary_key=True, max_length=64)
    client_id: str = Field(index=True, max_length=64)
    platform_id: str = Field(max_length=64)
    redirect_uri: str = Field(max_length=2000)
    scope: str
    nonce: str = Field(max_length=255)
    code_challenge: str = Field(max_length=128)
    code_challenge_method: str = Field(max_length=8)
    auth_time: int
    expires_at: int = Field(index=True)

    # -- Authlib AuthorizationCodeMixin (OpenID Connect flavour) --------------------------------
    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        # Not claimed: a development sign-in through the account picker uses no password at all.
        return None

    def is_expired(self) -> bool:
        return self.expires_at <= int(time.time())


class OidcAccessToken(SQLModel, table=True):
    """An opaque access token of a pairwise client: it serves only userinfo and carries nothing itself."""

    __tablename__ = "idp_access_tokens"

    token_hash: str = Field(primary_key=True, max_length=64)
    client_id: str = Field(max_length=64)
    platform_id: str = Field(max_length=64)
    scope: str
    expires_at: int = Field(index=True)
