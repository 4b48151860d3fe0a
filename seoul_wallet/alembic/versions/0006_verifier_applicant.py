"""verifiers: a check may be made for one applicant, and an answered check records its subject

Revision ID: 0006_verifier_applicant
Revises: 0004_verifiers
Create Date: 2026-12-01 21:00:00

Both columns hold pairwise subjects (a keyed hash of the verifier and the citizen's platform id),
never the platform id itself. Checks made before the upgrade have neither: they accept anyone's
answer, as they did.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0006_verifier_applicant"
down_revision: str | Sequence[str] | None = "0004_verifiers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_str = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    with op.batch_alter_table("presentation_requests") as batch_op:
        batch_op.add_column(sa.Column("applicant", _str(length=43), nullable=True))
        batch_op.add_column(sa.Column("subject", _str(length=43), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("presentation_requests") as batch_op:
        batch_op.drop_column("subject")
        batch_op.drop_column("applicant")
