"""Tables of the consent ledger: the log (head, leaves, interior nodes, checkpoints) and the records.

The log tables hold no personal data: a leaf is `{sequence, time, type, commitment}` and the
commitment is a salted hash. Everything that names a citizen lives in `consent_records` and
`consent_events`, which erasure scrubs.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class LogHead(SQLModel, table=True):
    """The single row (id = 1) every append locks: the tree size and its right edge (frontier).

    Appends update this row first in their transaction, so on PostgreSQL its row lock and on SQLite
    the database write lock serialise all appenders; the log cannot fork or skip."""

    __tablename__ = "consent_log_head"

    id: int = Field(default=1, primary_key=True)
    tree_size: int = Field(sa_column=Column(BigInteger, nullable=False))
    frontier: bytes = Field(sa_column=Column(LargeBinary, nullable=False), description="32-byte hashes, largest first")
    updated_at: int = Field(sa_column=Column(BigInteger, nullable=False))


class LogLeaf(SQLModel, table=True):
    """One log entry: the canonical JSON bytes and their RFC 9162 leaf hash."""

    __tablename__ = "consent_log_leaves"

    leaf_index: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    entry: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    leaf_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False, unique=True))


class LogNode(SQLModel, table=True):
    """A completed perfect subtree of 2**level leaves (level 0: a leaf); `node_id` = level << 48 | index.

    One integer key lets a proof fetch all its O(log n) nodes with a single `IN` query."""

    __tablename__ = "consent_log_nodes"

    node_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class LogCheckpoint(SQLModel, table=True):
    """A signed checkpoint note for a tree size (one per size: Ed25519 signing is deterministic)."""

    __tablename__ = "consent_log_checkpoints"

    tree_size: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    root_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    note: str = Field(sa_column=Column(Text, nullable=False))
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))


class ConsentRecord(SQLModel, table=True):
    """A consent record: its immutable body (JSON) and the state derived from its events.

    Erasure keeps only a tombstone (id, recipient, status index, state `erased`): the status index
    must stay allocated and INVALID so the verifier's status list keeps saying "no"."""

    __tablename__ = "consent_records"
    __table_args__ = (
        UniqueConstraint("verifier_id", "status_index", name="uq_consent_records_verifier_status_index"),
        Index("ix_consent_records_citizen_id", "citizen_id"),
    )

    id: str = Field(primary_key=True, max_length=36)
    citizen_id: str | None = Field(default=None, max_length=80)
    verifier_id: str = Field(max_length=80)
    status_index: int
    state: str = Field(max_length=16)
    one_time: bool = False
    valid_from: int = Field(sa_column=Column(BigInteger, nullable=False))
    valid_until: int = Field(sa_column=Column(BigInteger, nullable=False))
    notice_version: str | None = Field(default=None, max_length=40)
    body: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    receipt: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    updated_at: int = Field(sa_column=Column(BigInteger, nullable=False))


class ConsentEvent(SQLModel, table=True):
    """One lifecycle event of a record, with the salt that opens its leaf's commitment."""

    __tablename__ = "consent_events"

    # SQLite assigns ids only to an INTEGER PRIMARY KEY (its rowid); BIGINT elsewhere.
    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    )
    record_id: str = Field(foreign_key="consent_records.id", index=True, max_length=36)
    type: str = Field(max_length=16)
    time_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    actor: str = Field(max_length=16)
    details: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    salt: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    leaf_index: int = Field(sa_column=Column(BigInteger, nullable=False, unique=True))


class ConsentStatusAllocation(SQLModel, table=True):
    """Where a verifier's consent status list stands: how many indexes it has handed out, and the
    index its permuted allocation starts at (consent/status_indexes.py). Advanced by one conditional
    statement: under the log lock for a wallet's request, in a short transaction of its own for the
    blocks presentation grants reserve."""

    __tablename__ = "consent_status_allocations"

    verifier_id: str = Field(primary_key=True, max_length=80)
    allocated: int = Field(sa_column=Column(BigInteger, nullable=False))
    # Above every index handed out in order before indexes were permuted (block-aligned); 0 otherwise.
    first_index: int = Field(sa_column=Column(BigInteger, nullable=False))
