"""issuers: agencies, offers and issued credentials, nonces, status lists, bulk batches

Revision ID: 0002_issuers
Revises: 0001_keys
Create Date: 2026-11-27 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0002_issuers"
down_revision: str | Sequence[str] | None = "0001_keys"
branch_labels: str | Sequence[str] | None = ("issuers",)
depends_on: str | Sequence[str] | None = None

_str = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "issuer_agencies",
        sa.Column("slug", _str(length=32), nullable=False),
        sa.Column("name_ko", _str(length=200), nullable=False),
        sa.Column("name_en", _str(length=200), nullable=False),
        sa.Column("credential_types", _str(), nullable=False),
        sa.Column("created_at", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("slug"),
    )
    op.create_table(
        "issuer_nonces",
        sa.Column("nonce_hash", _str(length=64), nullable=False),
        sa.Column("agency", _str(length=32), nullable=False),
        sa.Column("expires_at", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("nonce_hash"),
    )
    with op.batch_alter_table("issuer_nonces", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_issuer_nonces_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "issuer_batches",
        sa.Column("id", _str(length=32), nullable=False),
        sa.Column("agency", _str(length=32), nullable=False),
        sa.Column("credential_type", _str(length=64), nullable=False),
        sa.Column("format", _str(length=8), nullable=False),
        sa.Column("csv_header", _str(), nullable=True),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("state", _str(length=16), nullable=False),
        sa.Column("created_at", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["agency"], ["issuer_agencies.slug"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("issuer_batches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_issuer_batches_agency"), ["agency"], unique=False)

    op.create_table(
        "issuer_offers",
        sa.Column("id", _str(length=32), nullable=False),
        sa.Column("agency", _str(length=32), nullable=False),
        sa.Column("credential_type", _str(length=64), nullable=False),
        sa.Column("subject", _str(length=200), nullable=False),
        sa.Column("state", _str(length=16), nullable=False),
        sa.Column("claims_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("tx_code_mac", _str(length=64), nullable=True),
        sa.Column("tx_code_length", sa.Integer(), nullable=True),
        sa.Column("tx_attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.Integer(), nullable=False),
        sa.Column("access_token_hash", _str(length=64), nullable=True),
        sa.Column("access_token_expires_at", sa.Integer(), nullable=True),
        sa.Column("batch_id", _str(length=32), nullable=True),
        sa.Column("batch_line", sa.Integer(), nullable=True),
        sa.Column("issued_at", sa.Integer(), nullable=True),
        sa.Column("credential_expires_at", sa.Integer(), nullable=True),
        sa.Column("status_list_id", _str(length=32), nullable=True),
        sa.Column("status_index", sa.Integer(), nullable=True),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("holder_jkt", _str(length=64), nullable=True),
        sa.ForeignKeyConstraint(["agency"], ["issuer_agencies.slug"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("access_token_hash"),
    )
    with op.batch_alter_table("issuer_offers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_issuer_offers_agency"), ["agency"], unique=False)
        batch_op.create_index(batch_op.f("ix_issuer_offers_batch_id"), ["batch_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_issuer_offers_subject"), ["subject"], unique=False)

    op.create_table(
        "issuer_status_lists",
        sa.Column("id", _str(length=32), nullable=False),
        sa.Column("agency", _str(length=32), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("bits", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("allocated", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("statuses", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["agency"], ["issuer_agencies.slug"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("agency", "sequence", name="uq_issuer_status_lists_agency_sequence"),
    )
    with op.batch_alter_table("issuer_status_lists", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_issuer_status_lists_agency"), ["agency"], unique=False)

    op.create_table(
        "issuer_batch_errors",
        sa.Column("batch_id", _str(length=32), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("field", _str(length=200), nullable=True),
        sa.Column("message", _str(length=500), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["issuer_batches.id"]),
        sa.PrimaryKeyConstraint("batch_id", "line"),
    )


def downgrade() -> None:
    op.drop_table("issuer_batch_errors")
    with op.batch_alter_table("issuer_status_lists", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_issuer_status_lists_agency"))
    op.drop_table("issuer_status_lists")
    with op.batch_alter_table("issuer_offers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_issuer_offers_subject"))
        batch_op.drop_index(batch_op.f("ix_issuer_offers_batch_id"))
        batch_op.drop_index(batch_op.f("ix_issuer_offers_agency"))
    op.drop_table("issuer_offers")
    with op.batch_alter_table("issuer_batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_issuer_batches_agency"))
    op.drop_table("issuer_batches")
    with op.batch_alter_table("issuer_nonces", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_issuer_nonces_expires_at"))
    op.drop_table("issuer_nonces")
    op.drop_table("issuer_agencies")
