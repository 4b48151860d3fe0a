"""Tables for key material. Private keys and data keys are only ever stored wrapped by the master key."""

from __future__ import annotations

from sqlalchemy import Column, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel


class SigningKey(SQLModel, table=True):
    """One signing key of an owner. The owner's active key is its highest generation."""

    __tablename__ = "signing_keys"
    __table_args__ = (UniqueConstraint("owner", "generation", name="uq_signing_keys_owner_generation"),)

    kid: str = Field(primary_key=True, max_length=64, description="RFC 7638 thumbprint of the public key")
    owner: str = Field(index=True, max_length=128)
    # A unique (owner, generation) pair makes concurrent first-use or rotation by several workers safe:
    # one insert wins, the others see an integrity error and read the winner.
    generation: int
    alg: str = Field(max_length=16)
    public_jwk: str = Field(description="public JWK as JSON")
    private_key_wrapped: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: int = Field(description="unix seconds")
    rotated_at: int | None = Field(default=None, description="when a newer key replaced it")
    retire_at: int | None = Field(default=None, description="after this, the public key leaves the JWKS")


class DataKey(SQLModel, table=True):
    """An owner's vault data key, wrapped by the master key. Deleting the row crypto-shreds the vault."""

    __tablename__ = "data_keys"

    owner_id: str = Field(primary_key=True, max_length=128)
    wrapped_key: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: int
