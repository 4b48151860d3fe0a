"""Fixtures for the built-in OpenID provider: the seeded development clients as spec relying parties."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from auth.oidc_clients import development_client_secret, development_wallet_client
from tests.auth.spec_rp import Browser, RelyingParty

MINJI = "citizen-minji-0001"
JUNHO = "citizen-junho-0002"
DEMO_PASSWORD = "seoul-demo"  # as documented in the README, not imported from the provider


@pytest.fixture
def issuer(platform) -> str:
    return f"{platform.settings.public_url}/idp"


@pytest.fixture
def back_channel(app) -> TestClient:
    """The relying parties' server-to-server HTTP: no cookies shared with the citizen's browser."""
    return TestClient(app)


@pytest.fixture
def browser(client) -> Browser:
    return Browser(client)


@pytest.fixture
def wallet_rp(platform, back_channel, issuer) -> RelyingParty:
    client_id, secret = development_wallet_client(platform.settings, platform.master_key)
    return RelyingParty(back_channel, issuer, client_id, secret, f"{platform.settings.public_url}/wallet/auth/callback")


@pytest.fixture
def service_rp(platform, back_channel, issuer) -> Callable[[str], RelyingParty]:
    def make(slug: str) -> RelyingParty:
        client_id = f"service-{slug}"
        secret = development_client_secret(platform.master_key, client_id)
        redirect_uri = f"{platform.settings.public_url}/services/{slug}/callback"
        return RelyingParty(back_channel, issuer, client_id, secret, redirect_uri)

    return make
