"""Registering OAuth clients: the secret is shown once and stored hashed."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from sqlalchemy.engine import Engine
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
