"""issuers: idempotent bulk issuance (batch parts, a batch's own key, one offer per batch line)

Revision ID: 0013_issuer_batch_parts
Revises: 0005_issuer_nonce_on_offer
Create Date: 2026-12-03 10:00:00

A batch's `lines` becomes the rows settled (created + failed), advanced with them; the line numbers
handed out move to `received_lines`. Existing batches keep their numbering: what they handed out is
what they had counted as lines.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0013_issuer_batch_parts"
down_revision: str | Sequence[str] | None = "0005_issuer_nonce_on_offer"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_str = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.add_column("issuer_batches", sa.Column("idempotency_key", _str(length=255), nullable=True))
    op.add_column("issuer_batches", sa.Column("received_lines", sa.Integer(), nullable=False, server_default="0"))
    op.execute("UPDATE issuer_batches SET received_lines = lines, lines = created + failed")
    op.create_index("uq_issuer_batches_agency_key", "issuer_batches", ["agency", "idempotency_key"], unique=True)
    op.create_index("uq_issuer_offers_batch_line", "issuer_offers", ["batch_id", "batch_line"], unique=True)
    op.create_table(
        "issuer_batch_parts",
        sa.Column("batch_id", _str(length=32), nullable=False),
        sa.Column("idempotency_key", _str(length=255), nullable=False),
        sa.Column("fingerprint", _str(length=64), nullable=False),
        sa.Column("first_line", sa.Integer(), nullable=False),
        sa.Column("last_line", sa.Integer(), nullable=False),
        sa.Column("done_through", sa.Integer(), nullable=False),
        sa.Column("claimed_until", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["issuer_batches.id"]),
        sa.PrimaryKeyConstraint("batch_id", "idempotency_key"),
    )


def downgrade() -> None:
    op.drop_table("issuer_batch_parts")
    op.drop_index("uq_issuer_offers_batch_line", table_name="issuer_offers")
    op.drop_index("uq_issuer_batches_agency_key", table_name="issuer_batches")
    op.execute("UPDATE issuer_batches SET lines = received_lines")
    # Plain ALTER TABLE … DROP COLUMN (SQLite 3.35+): a batch copy would drop the table its
    # error rows refer to.
    op.drop_column("issuer_batches", "received_lines")
    op.drop_column("issuer_batches", "idempotency_key")
