"""wallet: citizens' accounts and their encrypted credentials

Revision ID: 0008_wallet
Revises: 0001_keys
Create Date: 2026-12-01 21:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0008_wallet"
down_revision: str | Sequence[str] | None = "0001_keys"
branch_labels: str | Sequence[str] | None = ("wallet",)
depends_on: str | Sequence[str] | None = None

_str = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "wallet_accounts",
        sa.Column("citizen_id", _str(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("citizen_id"),
    )
    op.create_table(
        "wallet_credentials",
        sa.Column("id", _str(length=32), nullable=False),
        sa.Column("citizen_id", _str(length=64), nullable=False),
        sa.Column("issuer", _str(length=400), nullable=False),
        sa.Column("vct", _str(length=400), nullable=False),
        sa.Column("configuration_id", _str(length=200), nullable=False),
        sa.Column("display", sa.Text(), nullable=False),
        sa.Column("issued_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=True),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.Column("status_uri", _str(length=2000), nullable=True),
        sa.Column("status_idx", sa.Integer(), nullable=True),
        sa.Column("status", _str(length=16), nullable=False),
        sa.Column("status_checked_at", sa.BigInteger(), nullable=True),
        sa.Column("holder_jkt", _str(length=64), nullable=False),
        sa.Column("sealed_credential", sa.LargeBinary(), nullable=False),
        sa.Column("sealed_holder_key", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["citizen_id"], ["wallet_accounts.citizen_id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("wallet_credentials") as batch_op:
        batch_op.create_index(batch_op.f("ix_wallet_credentials_citizen_id"), ["citizen_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("wallet_credentials") as batch_op:
        batch_op.drop_index(batch_op.f("ix_wallet_credentials_citizen_id"))
    op.drop_table("wallet_credentials")
    op.drop_table("wallet_accounts")
