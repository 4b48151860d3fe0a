"""verifiers: acceptances in flight, so a decision and its consent's `used` event are one outcome

Revision ID: 0011_verifier_acceptances
Revises: 0006_verifier_applicant
Create Date: 2026-12-10 12:00:00

A presentation that passed every check waits here while the ledger records its consent; its
request's status is `accepting` meanwhile (verifiers/acceptance.py). Nothing to migrate: before
the upgrade a request went from `pending` to `answered` in one step.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0011_verifier_acceptances"
down_revision: str | Sequence[str] | None = "0006_verifier_applicant"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_str = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "presentation_acceptances",
        sa.Column("request_id", _str(length=64), nullable=False),
        sa.Column("verifier", _str(length=64), nullable=False),
        sa.Column("evidence_sha256", _str(length=64), nullable=False),
        sa.Column("grant_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("decision_claims", sa.Text(), nullable=False),
        sa.Column("eligible", sa.Boolean(), nullable=False),
        sa.Column("subject", _str(length=43), nullable=False),
        sa.Column("values_encrypted", sa.LargeBinary(), nullable=True),
        sa.Column("vp_token_encrypted", sa.LargeBinary(), nullable=True),
        sa.Column("vp_token_purge_at", sa.Integer(), nullable=True),
        sa.Column("checked_at", sa.Integer(), nullable=False),
        sa.Column("lease_until", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["presentation_requests.id"]),
        sa.PrimaryKeyConstraint("request_id"),
    )
    with op.batch_alter_table("presentation_acceptances", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_presentation_acceptances_lease_until"), ["lease_until"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("presentation_acceptances", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_presentation_acceptances_lease_until"))
    op.drop_table("presentation_acceptances")
