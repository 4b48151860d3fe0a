"""The clients file of `seoul-wallet demo`: who the demo may act as.

The clients file (`var/demo-clients.json`, development only, mode 0600) says who the demo may act as:

    {"token_endpoint": "<url>/oauth/token",
     "clients": [{"subject": "agency:mois", "scopes": ["credentials:offer"],
                  "client_id": "…", "client_secret": "…"}, …],
     "sign_in": {"issuer": "<url>/idp", "client_id": "…", "client_secret": "…",
                 "redirect_uri": "…", "scopes": ["openid", "wallet", "consent:read", "consent:withdraw"]}}

`clients` holds the platform OAuth clients (agencies `agency:<slug>` with `credentials:offer`, the
service backend `verifier:seoul-youth` with `presentations:request` and `consent:verifier-read`);
`sign_in` the OpenID Connect client the demo signs the citizen in with (the provider has no public
clients: every client authenticates at its token endpoint, so the demo needs one of its own).
"""

from __future__ import annotations

import json
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class StepFailed(Exception):
    """The step cannot go on; the message says why (with the server's answer, briefly)."""


@dataclass(frozen=True, slots=True)
class Client:
    subject: str
    scopes: tuple[str, ...]
    client_id: str
    client_secret: str


@dataclass(frozen=True, slots=True)
class SignInClient:
    issuer: str
    client_id: str
    client_secret: str
    redirect_uri: str
    scopes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DemoClients:
    token_endpoint: str
    clients: tuple[Client, ...]
    sign_in: SignInClient | None
    readable_by_others: bool

    def for_subject(self, subject: str, scope: str) -> Client:
        for client in self.clients:
            if client.subject == subject and scope in client.scopes:
                return client
        raise StepFailed(f"the clients file has no client for {subject} with scope {scope}")


def _text(entry: dict[str, Any], name: str, where: str) -> str:
    value = entry.get(name)
    if not isinstance(value, str) or not value:
        raise StepFailed(f"the clients file: {where}.{name} must be a non-empty string")
    return value


def _scopes(entry: dict[str, Any], where: str) -> tuple[str, ...]:
    value = entry.get("scopes")
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise StepFailed(f"the clients file: {where}.scopes must be a list of strings")
    return tuple(value)


def load_clients(path: Path) -> DemoClients:
    """Read the clients file; `StepFailed` says what is missing or malformed."""
    try:
        raw = path.read_text(encoding="utf-8")
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise StepFailed(
            f"no clients file at {path} (the server writes var/demo-clients.json in development; or pass --clients)"
        ) from None
    except OSError as exc:
        raise StepFailed(f"the clients file {path} cannot be read: {exc.strerror}") from None
    try:
        document = json.loads(raw)
    except ValueError as exc:
        raise StepFailed(f"the clients file {path} is not JSON: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("clients"), list):
        raise StepFailed(f"the clients file {path} needs token_endpoint and a clients list")
    clients = []
    for number, entry in enumerate(document["clients"]):
        where = f"clients[{number}]"
        if not isinstance(entry, dict):
            raise StepFailed(f"the clients file: {where} must be an object")
        clients.append(
            Client(
                _text(entry, "subject", where),
                _scopes(entry, where),
                _text(entry, "client_id", where),
                _text(entry, "client_secret", where),
            )
        )
    sign_in = None
    if isinstance(entry := document.get("sign_in"), dict):
        sign_in = SignInClient(
            _text(entry, "issuer", "sign_in").rstrip("/"),
            _text(entry, "client_id", "sign_in"),
            _text(entry, "client_secret", "sign_in"),
            _text(entry, "redirect_uri", "sign_in"),
            _scopes(entry, "sign_in"),
        )
    return DemoClients(
        _text(document, "token_endpoint", "file"),
        tuple(clients),
        sign_in,
        readable_by_others=bool(mode & (stat.S_IRWXG | stat.S_IRWXO)),
    )
