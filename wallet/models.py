"""Tables of the citizen's wallet. Nothing here holds a claim value or a private key in clear: the
credential (an SD-JWT, which carries every claim) and its holder key are AES-256-GCM records under
the citizen's data key (keys/datakeys.py), bound to the citizen and the record id. What is in clear
is what the wallet needs without opening a credential: its type, issuer, dates and status reference.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, LargeBinary, Text
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
