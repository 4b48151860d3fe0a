"""What the provider keeps: development seeding (idempotent, concurrent, following the public URL),
and a database that holds no password, code or access token in the clear."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from auth.oidc_clients import development_wallet_client, seed_development_provider
from auth.oidc_models import OidcClient, ProviderAccount
from tests.auth.conftest import DEMO_PASSWORD, MINJI

SERVICES = {"seoul-youth": "서울시 청년사업담당관", "seoul-learn": "서울런"}


def _counts(engine) -> tuple[int, int]:
    with Session(engine) as session:
        return len(session.exec(select(ProviderAccount)).all()), len(session.exec(select(OidcClient)).all())


def test_two_workers_seeding_an_empty_database_at_once(platform) -> None:
    engine = platform.engine
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM idp_accounts"))
        connection.execute(text("DELETE FROM idp_clients"))
    start, errors = threading.Barrier(2), []

    def worker() -> None:
        start.wait()
        try:
            seed_development_provider(engine, platform.master_key, platform.settings.public_url, SERVICES)
        except Exception as exc:  # any failure of either worker fails the test
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert _counts(engine) == (5, 3)
    seed_development_provider(engine, platform.master_key, platform.settings.public_url, SERVICES)
    assert _counts(engine) == (5, 3)


def test_the_wallet_client_follows_a_new_public_url(platform, browser, wallet_rp) -> None:
    old_callback = wallet_rp.redirect_uri
    seed_development_provider(platform.engine, platform.master_key, "http://127.0.0.1:9000", SERVICES)
    wallet_rp.redirect_uri = "http://127.0.0.1:9000/wallet/auth/callback"
    assert browser.open(wallet_rp.authorization_request().url).status_code == 200
    wallet_rp.redirect_uri = old_callback
    assert browser.open(wallet_rp.authorization_request().url).status_code == 400


def test_the_development_wallet_client_exists_only_in_development(settings, platform) -> None:
    client_id, secret = development_wallet_client(platform.settings, platform.master_key)
    assert client_id == "seoul-wallet-app" and len(secret) == 43
    with pytest.raises(RuntimeError, match="development"):
        development_wallet_client(settings.model_copy(update={"development": False}), platform.master_key)


def test_the_database_holds_no_password_code_or_token(platform, browser, wallet_rp, service_rp) -> None:
    request = wallet_rp.authorization_request()
    redirect = browser.sign_in_with_password(browser.open(request.url), MINJI, DEMO_PASSWORD)
    code = wallet_rp.callback_params(redirect.headers["location"], request)["code"]
    rp = service_rp("seoul-youth")
    service_request = rp.authorization_request()
    service_sign_in = rp.finish(browser.open(service_request.url).headers["location"], service_request)
    secrets_in_clear = [DEMO_PASSWORD, code, service_sign_in.access_token, wallet_rp.client_secret]
    with platform.engine.connect() as connection:
        dump = " ".join(
            str(value)
            for table in ("idp_accounts", "idp_clients", "idp_authorization_codes", "idp_access_tokens")
            for row in connection.execute(text(f"SELECT * FROM {table}"))
            for value in row
        )
        hashes = [row[0] for row in connection.execute(text("SELECT password_hash FROM idp_accounts"))]
    assert dump and not [value for value in secrets_in_clear if value in dump]
    # The five demo citizens and the consoles' officers: each its own salted scrypt hash.
    assert len(hashes) >= 5 and all(h.startswith("scrypt$") for h in hashes) and len(set(hashes)) == len(hashes)
