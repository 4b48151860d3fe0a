"""wallet: the citizen's history (transaction log) and inbox

Revision ID: 0009_wallet_history_inbox
Revises: 0008_wallet
Create Date: 2026-12-08 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0009_wallet_history_inbox"
down_revision: str | Sequence[str] | None = "0008_wallet"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_str = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "wallet_history",
        sa.Column("id", _str(length=32), nullable=False),
        sa.Column("citizen_id", _str(length=64), nullable=False),
        sa.Column("time", sa.BigInteger(), nullable=False),
        sa.Column("kind", _str(length=16), nullable=False),
        sa.Column("party_id", _str(length=2000), nullable=False),
        sa.Column("party_name", sa.JSON(), nullable=False),
        sa.Column("credential_types", sa.JSON(), nullable=False),
        sa.Column("claims_requested", sa.JSON(), nullable=False),
        sa.Column("claims_shared", sa.JSON(), nullable=False),
        sa.Column("outcome", _str(length=32), nullable=False),
        sa.Column("consent_record_id", _str(length=36), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("wallet_history") as batch_op:
        batch_op.create_index(batch_op.f("ix_wallet_history_citizen_id"), ["citizen_id"], unique=False)
    op.create_table(
        "wallet_inbox",
        sa.Column("id", _str(length=32), nullable=False),
        sa.Column("citizen_id", _str(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("kind", _str(length=32), nullable=False),
        sa.Column("dedupe_key", _str(length=300), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("read_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("citizen_id", "dedupe_key", name="uq_wallet_inbox_citizen_dedupe_key"),
    )
    with op.batch_alter_table("wallet_inbox") as batch_op:
        batch_op.create_index(batch_op.f("ix_wallet_inbox_citizen_id"), ["citizen_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("wallet_inbox") as batch_op:
        batch_op.drop_index(batch_op.f("ix_wallet_inbox_citizen_id"))
    op.drop_table("wallet_inbox")
    with op.batch_alter_table("wallet_history") as batch_op:
        batch_op.drop_index(batch_op.f("ix_wallet_history_citizen_id"))
    op.drop_table("wallet_history")
