"""issuers: the spent c_nonce is recorded on the offer it issued, not in a table of its own

Revision ID: 0005_issuer_nonce_on_offer
Revises: 0002_issuers
Create Date: 2026-11-27 13:00:00

Issuing a credential is then one conditional UPDATE of the offer (state, issuance record and
nonce together): on SQLite the write lock is held for that one statement only.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005_issuer_nonce_on_offer"
down_revision: str | Sequence[str] | None = "0002_issuers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_str = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.add_column("issuer_offers", sa.Column("c_nonce_hash", _str(length=64), nullable=True))
    op.create_index("ix_issuer_offers_c_nonce_hash", "issuer_offers", ["c_nonce_hash"], unique=True)
    # Spent nonces are not carried over: no offer records which one it used. A nonce spent in the
    # last NONCE_TTL (5 minutes) before the upgrade could be spent once more until it expires, and
    # only with another offer's access token; `serve` upgrades before it takes requests.
    op.drop_index("ix_issuer_nonces_expires_at", table_name="issuer_nonces")
    op.drop_table("issuer_nonces")


def downgrade() -> None:
    op.create_table(
        "issuer_nonces",
        sa.Column("nonce_hash", _str(length=64), nullable=False),
        sa.Column("agency", _str(length=32), nullable=False),
        sa.Column("expires_at", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("nonce_hash"),
    )
    op.create_index("ix_issuer_nonces_expires_at", "issuer_nonces", ["expires_at"], unique=False)
    op.drop_index("ix_issuer_offers_c_nonce_hash", table_name="issuer_offers")
    op.drop_column("issuer_offers", "c_nonce_hash")
