"""What every issuer component shares, built once from the arguments of `issuers.api.create_router`."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from issuers.agencies import Agencies
from issuers.credential_types import CredentialType, load_credential_types
from issuers.sealing import IssuerSecrets
from issuers.status_lists import StatusLists
from keys.keyring import KeyRing

OFFER_TTL = 7 * 24 * 3600
MAX_OFFER_TTL = 90 * 24 * 3600


@dataclass
class IssuerContext:
    engine: Engine
    keyring: KeyRing
    secrets: IssuerSecrets
    types: dict[str, CredentialType]
    agencies: Agencies
    status_lists: StatusLists
    public_url: str

    def issuer_id(self, slug: str) -> str:
        """The Credential Issuer Identifier: compared exactly everywhere, so built in one place."""
        return f"{self.public_url}/issuers/{slug}"


def build_context(
    engine: Engine, keyring: KeyRing, master_key: bytes, public_url: str, types: dict[str, CredentialType] | None = None
) -> IssuerContext:
    """Wire the issuer components; `public_url` has no trailing slash (settings guarantee it)."""
    types = types if types is not None else load_credential_types()
    secrets = IssuerSecrets(master_key)
    return IssuerContext(
        engine=engine,
        keyring=keyring,
        secrets=secrets,
        types=types,
        agencies=Agencies(engine, keyring, types),
        status_lists=StatusLists(keyring, secrets, public_url),
        public_url=public_url.rstrip("/"),
    )
