"""Start-up work for `serve`: migrate, create the platform's keys, seed the demo data."""

from __future__ import annotations

from pathlib import Path

import catalog
from auth.oidc_clients import seed_development_provider
from auth.oidc_grants import IDP_OWNER
from consoles.officers import seed_development_consoles
from issuers.agencies import Agencies
from issuers.credential_types import load_credential_types
from seoul_wallet.app import PLATFORM_OWNER, Platform, verifier_service
from seoul_wallet.migrate import upgrade
from verifiers.service import DECISIONS_OWNER, VerifierError

DEMO_AGENCIES = Path(catalog.__file__).with_name("agencies.yaml")


def prepare(platform: Platform) -> None:
    """Idempotent: safe on every start and with several workers."""
    upgrade(platform.engine)
    platform.keyring.ensure_key(PLATFORM_OWNER, "ES256")
    Agencies(platform.engine, platform.keyring, load_credential_types()).seed(DEMO_AGENCIES)
    # The consent ledger signs C2SP notes, which need Ed25519.
    platform.keyring.ensure_key("ledger", "EdDSA")
    seed_demo_verifiers(platform)
    if platform.settings.idp_enabled:
        seed_development_provider_data(platform)
        # The consoles' officers, their client at the provider and the demo parties' OAuth clients.
        seed_development_consoles(platform.engine, platform.master_key, platform.settings.public_url)


def seed_development_provider_data(platform: Platform) -> None:
    """The built-in OpenID provider's key, demo accounts, the wallet client and one pairwise client per
    demo verifier (development only). Idempotent."""
    platform.keyring.ensure_key(IDP_OWNER, "ES256")
    services = {party.slug: party.name["ko"] for party in catalog.demo_parties().verifiers}
    seed_development_provider(platform.engine, platform.master_key, platform.settings.public_url, services)


def seed_demo_verifiers(platform: Platform) -> None:
    """The demo verifiers of the catalog, and every demo agency in the trusted-issuer registry for the
    credential types it issues. Idempotent."""
    service = verifier_service(platform)
    platform.keyring.ensure_key(DECISIONS_OWNER, "ES256")
    service.ca.ca_certificate()
    parties = catalog.demo_parties()
    for party in parties.verifiers:
        try:
            service.get(party.slug)
        except VerifierError:
            try:
                service.register(party.slug, party.name["ko"], party.name["en"], list(party.services))
            except VerifierError as exc:
                if exc.reason != "verifier_exists":  # another worker seeded it first
                    raise
    types = catalog.credential_types()
    for agency in parties.agencies:
        issuer = f"{platform.settings.public_url}/issuers/{agency.slug}"
        service.registry.trust(issuer, [types[t].vct for t in agency.issues], agency.name["en"])
