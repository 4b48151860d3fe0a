"""consent: permuted status list indexes (a counter per verifier's list)

Revision ID: 0015_consent_status_allocations
Revises: 0003_consent
Create Date: 2026-12-14 10:00:00

Existing consents keep the indexes they were given in order (their receipts carry them): a
verifier's row is created at its first consent after this revision, and its permuted allocation
starts in the first block above them (consent/status_indexes.py).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0015_consent_status_allocations"
down_revision: str | Sequence[str] | None = "0003_consent"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "consent_status_allocations",
        sa.Column("verifier_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("allocated", sa.BigInteger(), nullable=False),
        sa.Column("first_index", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("verifier_id"),
    )


def downgrade() -> None:
    op.drop_table("consent_status_allocations")
