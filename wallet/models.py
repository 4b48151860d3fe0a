"""Tables of the citizen's wallet. Nothing here holds a claim value or a private key in clear: the
credential (an SD-JWT, which carries every claim) and its holder key are AES-256-GCM records under
the citizen's data key (keys/datakeys.py), bound to the citizen and the record id. What is in clear
is what the wallet needs without opening a credential: its type, issuer, dates and status reference.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Column, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class WalletAccount(SQLModel, table=True):
    """A citizen's wallet, keyed by the identity provider's `sub` (the platform id); nothing else
    about the citizen is stored, and never a resident registration number."""

    __tablename__ = "wallet_accounts"

    citizen_id: str = Field(primary_key=True, max_length=64, description="the platform id")
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))


class WalletCredential(SQLModel, table=True):
    """One credential in a citizen's vault."""

    __tablename__ = "wallet_credentials"

    id: str = Field(primary_key=True, max_length=32)
    citizen_id: str = Field(index=True, max_length=64, foreign_key="wallet_accounts.citizen_id")
    issuer: str = Field(max_length=400, description="the credential issuer identifier (= iss)")
    vct: str = Field(max_length=400)
    configuration_id: str = Field(max_length=200)
    # The issuer's display metadata (issuer name, credential and claim display names) as JSON:
    # how to show the credential, not what it says.
    display: str = Field(sa_column=Column(Text, nullable=False))
    # Unix seconds as BIGINT: a credential may well expire after 2038 (PostgreSQL's INTEGER is 32 bits).
    issued_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    expires_at: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    received_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    status_uri: str | None = Field(default=None, max_length=2000)
    status_idx: int | None = None
    status: str = Field(default="valid", max_length=16, description="valid, revoked or suspended")
    status_checked_at: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    holder_jkt: str = Field(max_length=64, description="RFC 7638 thumbprint of the holder key")
    sealed_credential: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    sealed_holder_key: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class WalletHistoryEntry(SQLModel, table=True):
    """One line of the citizen's transaction log (EUDI ARF "dashboard"): an issuance, a presentation
    or a refusal, with the party, the credential types and the claim paths asked for and shared.
    Claim paths are names; a value is never written here (a DCQL `values` filter is not kept either)."""

    __tablename__ = "wallet_history"

    # Time-ordered (milliseconds, then random): newest first is `ORDER BY id DESC`, and a page
    # boundary (`before`) is one id, stable when several entries fall in the same second.
    id: str = Field(primary_key=True, max_length=32)
    citizen_id: str = Field(index=True, max_length=64)
    time: int = Field(sa_column=Column(BigInteger, nullable=False))
    kind: str = Field(max_length=16, description="issuance, presentation or denial")
    party_id: str = Field(max_length=2000, description="the issuer identifier or the verifier's client_id")
    party_name: dict[str, str] = Field(sa_column=Column(JSON, nullable=False))  # {ko, en}
    credential_types: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))  # [{type, vct}]
    claims_requested: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))  # [{type, claims}]
    claims_shared: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))  # [{type, claims}]
    outcome: str = Field(max_length=32)
    consent_record_id: str | None = Field(default=None, max_length=36)
    # Context without personal data: the verifier's ledger id, service, purpose, HTTP status,
    # credential ids (the citizen's own vault ids).
    detail: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class WalletInboxItem(SQLModel, table=True):
    """A notice for the citizen: a new credential, a service she became eligible for, a consent
    about to expire, a credential revoked, suspended or valid again. `dedupe_key` names the event,
    so announcing it again (another worker, another refresh) adds nothing."""

    __tablename__ = "wallet_inbox"
    __table_args__ = (UniqueConstraint("citizen_id", "dedupe_key", name="uq_wallet_inbox_citizen_dedupe_key"),)

    id: str = Field(primary_key=True, max_length=32)  # time-ordered, as wallet_history's
    citizen_id: str = Field(index=True, max_length=64)
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    kind: str = Field(max_length=32)
    dedupe_key: str = Field(max_length=300)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))  # names and ids, never a claim value
    read_at: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
