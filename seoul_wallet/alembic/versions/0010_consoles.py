"""consoles: officers' affiliations and what each console opened

Revision ID: 0010_consoles
Revises: 0001_keys
Create Date: 2026-12-10 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0010_consoles"
# Its own branch, like every party's: the consoles depend on no other party's tables.
down_revision: str | Sequence[str] | None = "0001_keys"
branch_labels: str | Sequence[str] | None = ("consoles",)
depends_on: str | Sequence[str] | None = None

_str = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "console_officers",
        sa.Column("sub", _str(length=255), nullable=False),
        sa.Column("kind", _str(length=16), nullable=False),
        sa.Column("party", _str(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("sub"),
    )
    op.create_table(
        "console_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("party", _str(length=80), nullable=False),
        sa.Column("kind", _str(length=16), nullable=False),
        sa.Column("remote_id", _str(length=64), nullable=False),
        sa.Column("label", _str(length=100), nullable=False),
        sa.Column("officer", _str(length=255), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("state", _str(length=16), nullable=False),
        sa.Column("detail", _str(length=500), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("party", "kind", "remote_id", name="uq_console_records_party_kind_remote"),
    )
    with op.batch_alter_table("console_records") as batch_op:
        batch_op.create_index(batch_op.f("ix_console_records_party"), ["party"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("console_records") as batch_op:
        batch_op.drop_index(batch_op.f("ix_console_records_party"))
    op.drop_table("console_records")
    op.drop_table("console_officers")
