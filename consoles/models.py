"""The consoles' own tables: who is an officer of which agency or service, and what each console
opened (offers, cohort batches, eligibility checks), so an officer finds them again.

Nothing here is the issuers' or the verifiers' data: the consoles reach those parties over their
HTTP APIs only, and keep just the identifiers they were given back. No claim value, no offer link
(a link is a capability: whoever holds it can redeem the offer) and no citizen identifier is kept.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

OFFICER_KINDS = ("agency", "service")


class ConsoleOfficer(SQLModel, table=True):
    """An officer, keyed by the OpenID provider's `sub`, and the one party she works for. The
    affiliation is the consoles' own record: the provider asserts who she is, never what she may do."""

    __tablename__ = "console_officers"

    sub: str = Field(primary_key=True, max_length=255)
    kind: str = Field(max_length=16, description="agency or service")
    party: str = Field(max_length=64, description="the agency's or the verifier's slug")
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))


class ConsoleRecord(SQLModel, table=True):
    """Something a console opened at a party: an offer, a batch or a check, by the party's own id."""

    __tablename__ = "console_records"
    __table_args__ = (UniqueConstraint("party", "kind", "remote_id", name="uq_console_records_party_kind_remote"),)

    id: int | None = Field(default=None, primary_key=True)
    party: str = Field(index=True, max_length=80, description="agency:<slug> or verifier:<slug>")
    kind: str = Field(max_length=16, description="offer, batch or check")
    remote_id: str = Field(max_length=64, description="the party's id: offer id, batch id, request id")
    label: str = Field(default="", max_length=100, description="the credential type or the service id")
    officer: str = Field(max_length=255, description="the officer who opened it (provider `sub`)")
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    # Batches only: the console sends the rows after answering the upload; `sending` until it has
    # sent them and closed the batch, then `sent`, or `failed` with the reason in `detail`.
    state: str = Field(default="", max_length=16)
    detail: str = Field(default="", max_length=500)
