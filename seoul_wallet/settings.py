"""Configuration from `SEOUL_WALLET_*` environment variables and a `.env` file (pydantic-settings)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    log_level: str = "INFO"
    callback_worker: bool = Field(default=True, description="deliver verifier callbacks in the background")
    vp_token_retention_seconds: int = Field(
        default=0, ge=0, le=90 * 86400, description="keep each accepted vp_token (encrypted) this long; 0: never"
    )

    @model_validator(mode="after")
    def _check_public_url(self) -> Settings:
        # Identifiers are compared exactly (issuer, client_id): one canonical form, no trailing slash.
        self.public_url = self.public_url.rstrip("/")
        if not self.public_url.startswith(("https://", "http://")):
            raise ValueError("SEOUL_WALLET_PUBLIC_URL must be an http(s) URL")
        if not self.development and not self.public_url.startswith("https://"):
            raise ValueError("SEOUL_WALLET_PUBLIC_URL must use https outside development mode")
        return self

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
