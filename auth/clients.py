"""Registering OAuth clients: the secret is shown once and stored hashed."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from auth.models import OAuthClient, hash_client_secret


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    client_id: str
    client_secret: str
    subject: str
    scope: str


def register_client(engine: Engine, subject: str, scopes: list[str], name: str = "") -> ClientCredentials:
    """Create a client acting for `subject` with the given scopes; returns the only copy of its secret."""
    client_id = "c_" + secrets.token_urlsafe(18)
    secret = secrets.token_urlsafe(32)
    scope = " ".join(sorted(set(scopes)))
    with Session(engine) as session:
        session.add(
            OAuthClient(
                client_id=client_id,
                client_secret_hash=hash_client_secret(secret),
                subject=subject,
                name=name,
                scope=scope,
                created_at=int(time.time()),
            )
        )
        session.commit()
    return ClientCredentials(client_id=client_id, client_secret=secret, subject=subject, scope=scope)


def ensure_client(
    engine: Engine, client_id: str, client_secret: str, subject: str, scopes: list[str], name: str = ""
) -> ClientCredentials:
    """A client with a given id and secret (development's demo clients, whose secrets are derived
    from the master key): created when missing, brought in line when its secret, subject, scopes or
    name differ (a new master key), left alone otherwise (a disabled one stays disabled). Safe when
    several workers start at once."""
    scope = " ".join(sorted(set(scopes)))
    wanted = {"client_secret_hash": hash_client_secret(client_secret), "subject": subject, "scope": scope, "name": name}
    for _attempt in range(2):  # the loser of an insert race finds the winner's row the second time
        with Session(engine) as session:
            row = session.get(OAuthClient, client_id)
            if row is None:
                session.add(OAuthClient(client_id=client_id, created_at=int(time.time()), **wanted))
            elif any(getattr(row, field) != value for field, value in wanted.items()):
                for field, value in wanted.items():
                    setattr(row, field, value)
                session.add(row)
            else:
                break
            try:
                session.commit()
                break
            except IntegrityError:
                session.rollback()
    return ClientCredentials(client_id=client_id, client_secret=client_secret, subject=subject, scope=scope)
