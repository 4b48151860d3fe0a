"""OAuth clients of the platform authorization server."""

from __future__ import annotations

import hashlib
import hmac

from sqlmodel import Field, SQLModel


def hash_client_secret(secret: str) -> str:
    # Client secrets are 256-bit random strings we generate, not human passwords, so a plain
    # SHA-256 resists guessing as well as a slow KDF would, and keeps the token endpoint fast.
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class OAuthClient(SQLModel, table=True):
    """A confidential client (an agency or a verifier backend, or the platform admin)."""

    __tablename__ = "oauth_clients"

    client_id: str = Field(primary_key=True, max_length=64)
    client_secret_hash: str = Field(max_length=64)
    subject: str = Field(index=True, max_length=128, description="who the client acts for, e.g. agency:mois")
    name: str = Field(default="", max_length=200)
    scope: str = Field(default="", description="space-separated scopes the client may ask for")
    created_at: int
    disabled: bool = False

    # -- Authlib ClientMixin -------------------------------------------------------------------
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        allowed = set(self.scope.split())
        if not scope:
            return " ".join(sorted(allowed))
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(self.client_secret_hash, hash_client_secret(client_secret))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials" and not self.disabled
