"""The consoles as a client of the issuer and verifier parties: each agency's and each verifier's own
OAuth client (client credentials at the platform's `POST /oauth/token`), and the HTTP calls made
with its access token through `platform.http`, exactly as that party's own back office would.

In development every demo agency and verifier has one demo client, whose id and secret are derived
here and only here (`demo_client_credentials`), so the consoles, `var/demo-clients.json` and
anything else that hands them out agree without storing a secret anywhere.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import Engine

import catalog
from auth.clients import ensure_client
from auth.oidc_clients import development_client_secret

# What each kind of party's client may do: an agency issues and changes statuses; a verifier opens
# checks and reads the consents granted to it (the last for humans trying the API, not the console).
AGENCY_SCOPES = ("credentials:offer", "credentials:revoke")
VERIFIER_SCOPES = ("presentations:request", "consent:verifier-read")
TOKEN_MARGIN = 30  # seconds: a token this close to expiry is replaced before it is used


@dataclass(frozen=True, slots=True)
class PartyCredentials:
    client_id: str
    client_secret: str


def demo_client_id(subject: str) -> str:
    """`agency:mois` -> `demo-agency-mois`."""
    return "demo-" + subject.replace(":", "-")


def demo_client_credentials(master_key: bytes, subject: str) -> PartyCredentials:
    """The development client of a demo party (`agency:<slug>` or `verifier:<slug>`): its id, and its
    secret derived from the master key. The one place this derivation is written."""
    client_id = demo_client_id(subject)
    return PartyCredentials(client_id, development_client_secret(master_key, client_id))


def demo_parties() -> list[tuple[str, str, tuple[str, ...]]]:
    """(subject, name, scopes) of every demo agency and verifier of the catalog."""
    parties = catalog.demo_parties()
    return [(f"agency:{a.slug}", f"{a.name['ko']} ({a.name['en']})", AGENCY_SCOPES) for a in parties.agencies] + [
        (f"verifier:{v.slug}", f"{v.name['ko']} ({v.name['en']})", VERIFIER_SCOPES) for v in parties.verifiers
    ]


def register_demo_clients(engine: Engine, master_key: bytes) -> None:
    """Create the demo parties' clients, or bring them in line with the current master key
    (`ensure_client`: idempotent, safe with several workers, a disabled client stays disabled).
    Development mode only (the caller checks)."""
    for subject, name, scopes in demo_parties():
        credentials = demo_client_credentials(master_key, subject)
        ensure_client(engine, credentials.client_id, credentials.client_secret, subject, list(scopes), name)


def credentials_from_file(path: Path) -> Callable[[str], PartyCredentials | None]:
    """Outside development: the parties' clients from a JSON file the operator keeps (mode 0600),
    `{"agency:mois": {"client_id": …, "client_secret": …}, …}`, read once at start-up."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    table = {
        subject: PartyCredentials(str(entry["client_id"]), str(entry["client_secret"]))
        for subject, entry in raw.items()
        if isinstance(entry, dict) and "client_id" in entry and "client_secret" in entry
    }
    return table.get


class PartyUnavailable(Exception):
    """The party could not be reached, or its client is missing or refused: nothing was done."""


class PartyClients:
    """Access tokens per party (cached until shortly before they expire) and calls with them."""

    def __init__(
        self, http: httpx.Client, public_url: str, credentials: Callable[[str], PartyCredentials | None]
    ) -> None:
        self.http, self.public_url = http, public_url
        self._credentials = credentials
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def _token(self, subject: str, *, fresh: bool = False) -> str:
        with self._lock:
            cached = self._tokens.get(subject)
            if cached is not None and not fresh and cached[1] > time.time():
                return cached[0]
        credentials = self._credentials(subject)
        if credentials is None:
            raise PartyUnavailable(f"no OAuth client is configured for {subject}")
        try:
            answer = self.http.post(
                f"{self.public_url}/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(credentials.client_id, credentials.client_secret),
            )
        except httpx.HTTPError as exc:
            raise PartyUnavailable(f"the authorization server cannot be reached: {type(exc).__name__}") from None
        if answer.status_code != 200:
            raise PartyUnavailable(f"the authorization server refused the client of {subject} ({answer.status_code})")
        body = answer.json()
        token, lifetime = str(body["access_token"]), float(body.get("expires_in", 300))
        with self._lock:
            self._tokens[subject] = (token, time.time() + max(lifetime - TOKEN_MARGIN, 0))
        return token

    def call(self, subject: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """`method path` of the platform with the party's token; one retry with a new token if the
        cached one is refused (a rotated key, a restarted server)."""
        extra = kwargs.pop("headers", {})
        for fresh in (False, True):
            headers = {**extra, "Authorization": f"Bearer {self._token(subject, fresh=fresh)}"}
            try:
                answer = self.http.request(method, f"{self.public_url}{path}", headers=headers, **kwargs)
            except httpx.HTTPError as exc:
                raise PartyUnavailable(f"{path} cannot be reached: {type(exc).__name__}") from None
            if answer.status_code != 401:
                return answer
        return answer

    def public(self, path: str) -> httpx.Response:
        """A public document of the platform (issuer metadata, the decisions' keys): no token."""
        try:
            return self.http.get(f"{self.public_url}{path}")
        except httpx.HTTPError as exc:
            raise PartyUnavailable(f"{path} cannot be reached: {type(exc).__name__}") from None
