"""Configuration from `SEOUL_WALLET_*` environment variables and a `.env` file (pydantic-settings)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# A rate limit in the `limits` notation: "30/minute", "5 per 10 seconds".
_RATE = r"^\s*[1-9][0-9]*\s*(/|per)\s*([1-9][0-9]*\s*)?(second|minute|hour|day)s?\s*$"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SEOUL_WALLET_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path("var"), description="where the SQLite file and the key file live")
    # DATABASE_URL is the conventional name; SEOUL_WALLET_DATABASE_URL works too.
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("SEOUL_WALLET_DATABASE_URL", "DATABASE_URL")
    )
    # A SecretStr, so the key never shows in a repr, a log line or a traceback.
    master_key: SecretStr | None = Field(default=None, description="base64url 32 bytes; overrides the key file")
    master_key_file: Path | None = None
    public_url: str = Field(default="http://127.0.0.1:8000", description="the externally visible base URL")
    # Off unless asked for: development mode accepts http:// for the public URL, issuer metadata,
    # status lists and callbacks. `make run` and the tests turn it on.
    development: bool = Field(default=False, description="development mode: allows http:// URLs")
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # The live server's bounds on a request head (seoul_wallet/http_limits.py): its size (request
    # line and header fields: cookies and a bearer token fit many times over), its field count, and
    # how long a client may take to send it (a slowloris holds a connection open by never finishing).
    max_header_bytes: int = Field(default=32 * 1024, ge=4096, description="request heads above this get 431")
    max_header_count: int = Field(default=100, ge=16, description="more header fields than this get 431")
    header_timeout_seconds: float = Field(default=10, gt=0, description="a head not complete by then gets 408")
    log_level: str = "INFO"
    callback_worker: bool = Field(
        default=True,
        description="deliver verifier callbacks and complete interrupted presentation acceptances in the background",
    )
    # The wallet re-reads the status lists of held credentials (each within its ttl) this often, so
    # a revocation reaches the citizen's inbox; 0 turns the background check off.
    wallet_status_refresh_seconds: float = Field(
        default=60, ge=0, description="seconds between the wallet's background status list rounds; 0: off"
    )
    vp_token_retention_seconds: int = Field(
        default=0, ge=0, le=90 * 86400, description="keep each accepted vp_token (encrypted) this long; 0: never"
    )
    # The built-in OpenID provider (/idp) serves development and the demo; production configures a real one.
    idp_enabled: bool | None = Field(
        default=None, description="serve the built-in OpenID provider at /idp; default: in development mode only"
    )
    # The wallet signs citizens in with OpenID Connect at this provider (default: the built-in one, in
    # development, with its development client). Without them and the built-in provider, the
    # wallet's sign-in answers 503 (a deployment may host only issuers and verifiers).
    oidc_issuer: str | None = Field(default=None, description="the OpenID provider's issuer identifier")
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    # PEM files of CAs whose x509_san_dns / x509_hash verifiers the wallet trusts, besides the
    # platform's RP CA (comma-separated paths).
    wallet_trust_anchors: str = Field(default="", description="comma-separated PEM file paths")
    # Rate limits (auth/rate_limits.py), counted where every worker sees them: in Redis when
    # SEOUL_WALLET_REDIS_URL is set, else in the database. "N/minute", "N per 10 seconds"; the
    # defaults sit far above what the demo, a wallet or a backend does.
    redis_url: str | None = Field(default=None, description="redis://host:port/db for the rate-limit counters")
    redis_key_prefix: str = Field(default="seoul-wallet", min_length=1, max_length=100, pattern=r"^[\w.:-]+$")
    rate_limit_token_client: str = Field(default="30/minute", pattern=_RATE, description="POST /oauth/token per client")
    rate_limit_token_address: str = Field(default="120/minute", pattern=_RATE, description="/oauth/token per address")
    rate_limit_pin_address: str = Field(default="20/minute", pattern=_RATE, description="wrong PINs per address")
    rate_limit_signin_account: str = Field(default="10/minute", pattern=_RATE, description="wrong passwords per id")
    rate_limit_signin_address: str = Field(default="30/minute", pattern=_RATE, description="failed sign-ins per IP")
    rate_limit_request_client: str = Field(default="600/minute", pattern=_RATE, description="new checks per client")

    @model_validator(mode="after")
    def _check_public_url(self) -> Settings:
        # Identifiers are compared exactly (issuer, client_id): one canonical form, no trailing slash.
        self.public_url = self.public_url.rstrip("/")
        if not self.public_url.startswith(("https://", "http://")):
            raise ValueError("SEOUL_WALLET_PUBLIC_URL must be an http(s) URL")
        if not self.development and not self.public_url.startswith("https://"):
            raise ValueError("SEOUL_WALLET_PUBLIC_URL must use https outside development mode")
        return self

    @model_validator(mode="after")
    def _check_idp(self) -> Settings:
        if self.idp_enabled is None:
            self.idp_enabled = self.development
        elif self.idp_enabled and not self.development:
            raise ValueError(
                "SEOUL_WALLET_IDP_ENABLED: the built-in OpenID provider is for development and the demo only; "
                "outside development mode citizens must sign in with a real identity provider"
            )
        return self

    @property
    def trust_anchor_files(self) -> list[Path]:
        return [Path(p.strip()) for p in self.wallet_trust_anchors.split(",") if p.strip()]

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            url = self.database_url
            # Accept the common `postgres://` / `postgresql://` spellings and use psycopg 3.
            for prefix in ("postgres://", "postgresql://"):
                if url.startswith(prefix):
                    return "postgresql+psycopg://" + url[len(prefix) :]
            return url
        return f"sqlite:///{(self.data_dir / 'seoul-wallet.db').as_posix()}"

    @property
    def master_key_value(self) -> str | None:
        return self.master_key.get_secret_value() if self.master_key is not None else None

    @cached_property
    def resolved_master_key_file(self) -> Path:
        return self.master_key_file or self.data_dir / "master.key"
