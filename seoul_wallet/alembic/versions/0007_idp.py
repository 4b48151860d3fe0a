"""idp: the built-in OpenID provider's accounts, clients, authorization codes and access tokens

Revision ID: 0007_idp
Revises: 0001_keys
Create Date: 2026-12-01 22:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0007_idp"
down_revision: str | Sequence[str] | None = "0001_keys"
branch_labels: str | Sequence[str] | None = ("idp",)
depends_on: str | Sequence[str] | None = None

_str = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "idp_accounts",
        sa.Column("platform_id", _str(length=64), nullable=False),
        sa.Column("display_name", _str(length=100), nullable=False),
        sa.Column("password_hash", _str(length=200), nullable=False),
        sa.Column("created_at", sa.Integer(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("platform_id"),
    )
    op.create_table(
        "idp_clients",
        sa.Column("client_id", _str(length=64), nullable=False),
        sa.Column("client_secret_hash", _str(length=64), nullable=False),
        sa.Column("name", _str(length=200), nullable=False),
        sa.Column("redirect_uris", sa.Text(), nullable=False),
        sa.Column("post_logout_redirect_uris", sa.Text(), nullable=False),
        sa.Column("subject_type", _str(length=16), nullable=False),
        sa.Column("verifier_slug", _str(length=64), nullable=True),
        sa.Column("scope", _str(), nullable=False),
        sa.Column("created_at", sa.Integer(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("client_id"),
    )
    op.create_table(
        "idp_authorization_codes",
        sa.Column("code_hash", _str(length=64), nullable=False),
        sa.Column("client_id", _str(length=64), nullable=False),
        sa.Column("platform_id", _str(length=64), nullable=False),
        sa.Column("redirect_uri", _str(length=2000), nullable=False),
        sa.Column("scope", _str(), nullable=False),
        sa.Column("nonce", _str(length=255), nullable=False),
        sa.Column("code_challenge", _str(length=128), nullable=False),
        sa.Column("code_challenge_method", _str(length=8), nullable=False),
        sa.Column("auth_time", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("code_hash"),
    )
    with op.batch_alter_table("idp_authorization_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_idp_authorization_codes_client_id"), ["client_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_idp_authorization_codes_expires_at"), ["expires_at"], unique=False)
    op.create_table(
        "idp_access_tokens",
        sa.Column("token_hash", _str(length=64), nullable=False),
        sa.Column("client_id", _str(length=64), nullable=False),
        sa.Column("platform_id", _str(length=64), nullable=False),
        sa.Column("scope", _str(), nullable=False),
        sa.Column("expires_at", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    with op.batch_alter_table("idp_access_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_idp_access_tokens_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("idp_access_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idp_access_tokens_expires_at"))
    op.drop_table("idp_access_tokens")
    with op.batch_alter_table("idp_authorization_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idp_authorization_codes_expires_at"))
        batch_op.drop_index(batch_op.f("ix_idp_authorization_codes_client_id"))
    op.drop_table("idp_authorization_codes")
    op.drop_table("idp_clients")
    op.drop_table("idp_accounts")
