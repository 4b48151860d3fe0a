"""Officers and their affiliation, the consoles' own data: which agency or which service each one
works for, keyed by the OpenID provider's `sub`. The provider says who signed in; only this table
says what she may do, and the party a console acts for always comes from here, never from a form
or a URL.

In development four officers are seeded, with accounts at the built-in provider (password
`seoul-demo`, like the demo citizens) and the consoles' own client there.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from auth.oidc_clients import seed_development_relying_party
from consoles.clients import register_demo_clients
from consoles.models import OFFICER_KINDS, ConsoleOfficer

CONSOLES_CLIENT_ID = "seoul-wallet-consoles"
# (provider sub, display name, kind, party slug)
DEMO_OFFICERS = (
    ("officer-mois-0001", "한지수", "agency", "mois"),
    ("officer-ssis-0001", "오민석", "agency", "ssis"),
    ("officer-youth-0001", "윤서진", "service", "seoul-youth"),
    ("officer-learn-0001", "장하늘", "service", "seoul-learn"),
)


@dataclass(frozen=True, slots=True)
class Officer:
    sub: str
    kind: str  # agency or service
    party: str  # the slug

    @property
    def subject(self) -> str:
        """The OAuth subject the console acts for: `agency:<slug>` or `verifier:<slug>`."""
        return f"{'agency' if self.kind == 'agency' else 'verifier'}:{self.party}"


def officer(engine: Engine, sub: str | None) -> Officer | None:
    """The officer signed in as `sub`, or None (a citizen, or an account nobody affiliated)."""
    if not sub:
        return None
    with Session(engine) as session:
        row = session.get(ConsoleOfficer, sub)
    if row is None or row.kind not in OFFICER_KINDS:
        return None
    return Officer(row.sub, row.kind, row.party)


def affiliate(engine: Engine, sub: str, kind: str, party: str) -> None:
    """Record (or change) an officer's affiliation."""
    if kind not in OFFICER_KINDS:
        raise ValueError(f"an officer works for an agency or a service, not {kind!r}")
    with Session(engine) as session:
        row = session.get(ConsoleOfficer, sub)
        if row is None:
            session.add(ConsoleOfficer(sub=sub, kind=kind, party=party, created_at=int(time.time())))
        elif (row.kind, row.party) != (kind, party):
            row.kind, row.party = kind, party
            session.add(row)
        else:
            return
        try:
            session.commit()
        except IntegrityError:  # another worker seeded it meanwhile: same row
            session.rollback()


def seed_development_consoles(engine: Engine, master_key: bytes, public_url: str) -> None:
    """Development only (the caller checks): the officers' provider accounts and affiliations, the
    consoles' client at the built-in provider, and the demo parties' OAuth clients. Idempotent."""
    seed_development_relying_party(
        engine,
        master_key,
        client_id=CONSOLES_CLIENT_ID,
        name="서울지갑 업무 콘솔 (Seoul Wallet consoles)",
        redirect_uris=[f"{public_url}/consoles/auth/callback"],
        post_logout_redirect_uris=[f"{public_url}/consoles"],
        accounts=[(sub, name) for sub, name, _, _ in DEMO_OFFICERS],
    )
    for sub, _name, kind, party in DEMO_OFFICERS:
        affiliate(engine, sub, kind, party)
    register_demo_clients(engine, master_key)
