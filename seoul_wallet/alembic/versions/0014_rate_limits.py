"""rate limits: fixed-window counters shared by every worker (auth/rate_limit_storage.py)

Revision ID: 0014_rate_limits
Revises: 0001_keys
Create Date: 2026-12-12 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_rate_limits"
# Its own branch: the counters depend on no party's tables.
down_revision: str | Sequence[str] | None = "0001_keys"
branch_labels: str | Sequence[str] | None = ("rate_limits",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_limit_counters",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("hits", sa.BigInteger(), nullable=False),
        sa.Column("expires_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("rate_limit_counters")
