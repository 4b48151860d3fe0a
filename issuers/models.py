"""Issuer tables: agencies, offers (and the credentials issued from them), nonces, status lists, batches.

No claim value is ever stored in clear: a pending offer keeps its claims AES-GCM encrypted, and the
ciphertext is deleted the moment the credential is issued. What stays is what revocation and audit
need: type, the agency's subject reference, status list index and dates.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel


class Agency(SQLModel, table=True):
    """An issuing agency; its issuer identifier is `{public_url}/issuers/{slug}`."""

    __tablename__ = "issuer_agencies"

    slug: str = Field(primary_key=True, max_length=32)
    name_ko: str = Field(max_length=200)
    name_en: str = Field(max_length=200)
    credential_types: str = Field(description="space-separated credential type ids the agency may issue")
    created_at: int


class Offer(SQLModel, table=True):
    """One credential offer and, once redeemed, the credential issued from it.

    States: `offered` → `token_issued` → `issued`; `locked` after too many wrong transaction codes;
    `cancelled` when the agency revokes an offer nobody redeemed yet."""

    __tablename__ = "issuer_offers"
    # A batch row's identity is its line: a body or file sent again can never create a second offer.
    __table_args__ = (Index("uq_issuer_offers_batch_line", "batch_id", "batch_line", unique=True),)

    id: str = Field(primary_key=True, max_length=32)
    agency: str = Field(foreign_key="issuer_agencies.slug", index=True, max_length=32)
    credential_type: str = Field(max_length=64)
    subject: str = Field(index=True, max_length=200, description="the citizen's platform id: the credential's sub")
    state: str = Field(max_length=16)
    claims_sealed: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    tx_code_mac: str | None = Field(default=None, max_length=64, description="keyed MAC of the PIN, never the PIN")
    tx_code_length: int | None = None
    tx_attempts: int = 0
    created_at: int
    expires_at: int
    access_token_hash: str | None = Field(default=None, max_length=64, unique=True)
    access_token_expires_at: int | None = None
    batch_id: str | None = Field(default=None, index=True, max_length=32)
    batch_line: int | None = None
    # Set when the credential is issued.
    issued_at: int | None = None
    credential_expires_at: int | None = None
    status_list_id: str | None = Field(default=None, max_length=32)
    status_index: int | None = None
    status: int | None = Field(default=None, description="0 valid, 1 invalid (revoked), 2 suspended")
    holder_jkt: str | None = Field(default=None, max_length=64, description="RFC 7638 thumbprint of cnf.jwk")
    # The c_nonce the credential was requested with. Unique: a nonce is spent once, across all
    # offers, and recording it is part of the same single-statement update that issues.
    c_nonce_hash: str | None = Field(default=None, max_length=64, unique=True, index=True)


class StatusListRecord(SQLModel, table=True):
    """One Token Status List of an agency. Indexes are handed out through a keyed permutation of a
    counter, so consecutive credentials get unrelated indexes without any collision retries."""

    __tablename__ = "issuer_status_lists"
    __table_args__ = (UniqueConstraint("agency", "sequence", name="uq_issuer_status_lists_agency_sequence"),)

    id: str = Field(primary_key=True, max_length=32)
    agency: str = Field(foreign_key="issuer_agencies.slug", index=True, max_length=32)
    sequence: int = Field(description="1, 2, … per agency; a new list opens when the previous is full")
    bits: int
    size: int
    allocated: int = 0
    version: int = Field(default=0, description="bumped on every status change: drives the ETag")
    statuses: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: int
    updated_at: int


class Batch(SQLModel, table=True):
    """A bulk issuance: rows arrive in parts, bodies over HTTP or a whole file from the CLI.

    `lines` counts the rows settled (an offer or an error), always `created + failed`: each is
    advanced in the transaction that settles the rows. `received_lines` hands out line numbers to
    parts; lines received but not settled are a part still running or left unfinished by a crash."""

    __tablename__ = "issuer_batches"
    __table_args__ = (Index("uq_issuer_batches_agency_key", "agency", "idempotency_key", unique=True),)

    id: str = Field(primary_key=True, max_length=32)
    agency: str = Field(foreign_key="issuer_agencies.slug", index=True, max_length=32)
    credential_type: str = Field(max_length=64)
    format: str = Field(max_length=8)
    idempotency_key: str | None = Field(default=None, max_length=255, description="names the batch for retries")
    csv_header: str | None = Field(default=None, description="the CSV header row, once seen")
    received_lines: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    lines: int = 0
    created: int = 0
    failed: int = 0
    state: str = Field(default="open", max_length=16)
    created_at: int
    updated_at: int


class BatchError(SQLModel, table=True):
    """A malformed bulk row: its line number and what was wrong (never the row's values)."""

    __tablename__ = "issuer_batch_errors"

    batch_id: str = Field(foreign_key="issuer_batches.id", primary_key=True, max_length=32)
    line: int = Field(primary_key=True)
    field: str | None = Field(default=None, max_length=200)
    message: str = Field(max_length=500)


class BatchPart(SQLModel, table=True):
    """One part of a batch (an HTTP body, or the CLI's file) and how far it is settled.

    Its key is the request's Idempotency-Key, or derived from its bytes, so a part sent again maps
    to the same lines. `done_through` advances in the transaction that settles its rows; the lease
    (`claimed_until`) tells a retry that another request is still processing it."""

    __tablename__ = "issuer_batch_parts"

    batch_id: str = Field(foreign_key="issuer_batches.id", primary_key=True, max_length=32)
    idempotency_key: str = Field(primary_key=True, max_length=255)
    fingerprint: str = Field(max_length=64, description="SHA-256 of the part's bytes")
    first_line: int
    last_line: int
    done_through: int
    claimed_until: int = 0
    created_at: int
