"""The built-in provider is a development and demo tool: refused in production, its account picker
only in development mode."""

from __future__ import annotations

import dataclasses

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from typer.testing import CliRunner

from auth.oidc_clients import register_oidc_client
from seoul_wallet.app import build_platform, create_app
from seoul_wallet.cli import app as cli
from seoul_wallet.settings import Settings
from tests.auth.conftest import MINJI
from tests.auth.spec_rp import Browser, RelyingParty, forms_of


def _production(settings: Settings, **changes) -> Settings:
    values = settings.model_dump(exclude={"development", "public_url", "idp_enabled"})
    return Settings(**values, development=False, public_url="https://wallet.example", **changes)


def test_the_provider_is_refused_in_production_settings(settings) -> None:
    with pytest.raises(ValidationError, match="SEOUL_WALLET_IDP_ENABLED"):
        _production(settings, idp_enabled=True)


def test_the_cli_refuses_to_start_it_in_production(monkeypatch, settings) -> None:
    monkeypatch.setenv("SEOUL_WALLET_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("SEOUL_WALLET_PUBLIC_URL", "https://wallet.example")
    monkeypatch.setenv("SEOUL_WALLET_IDP_ENABLED", "true")
    monkeypatch.delenv("SEOUL_WALLET_DEVELOPMENT", raising=False)
    result = CliRunner().invoke(cli, ["keys", "list"])
    assert result.exit_code == 2
    assert "built-in OpenID provider is for development and the demo only" in result.output


def test_production_serves_no_provider_by_default(settings, migrated_engine) -> None:
    production = _production(settings)
    assert production.idp_enabled is False
    with TestClient(create_app(platform=build_platform(production, migrated_engine))) as client:
        assert client.get("https://wallet.example/idp/.well-known/openid-configuration").status_code == 404
        assert client.get("https://wallet.example/idp/authorize").status_code == 404


def test_the_development_picker_is_absent_when_development_is_off(platform) -> None:
    # A provider enabled outside development cannot pass settings validation; this builds one past it
    # to show the picker itself also depends on development mode, on the page and on the server.
    settings = platform.settings.model_copy(update={"development": False, "public_url": "https://127.0.0.1:8000"})
    production_like = dataclasses.replace(platform, settings=settings)
    credentials = register_oidc_client(
        platform.engine,
        name="Console",
        redirect_uris=["https://rp.example/cb"],
        subject_type="public",
        scopes=["openid", "profile"],
    )
    with TestClient(create_app(platform=production_like), base_url="https://127.0.0.1:8000") as client:
        rp = RelyingParty(
            client,
            "https://127.0.0.1:8000/idp",
            credentials.client_id,
            credentials.client_secret,
            "https://rp.example/cb",
        )
        browser = Browser(client)
        page = browser.open(rp.authorization_request().url)
        assert page.status_code == 200 and "password" in page.text
        assert "개발용 계정 선택" not in page.text and "Development account picker" not in page.text
        assert not any(form.buttons for form in forms_of(page.text))
        # Posting the picker's field by hand is refused too.
        form = next(f for f in forms_of(page.text) if "password" in f.fields)
        response = client.post(form.action, data={**form.fields, "account": MINJI}, follow_redirects=False)
        assert response.status_code == 403 and "location" not in response.headers
        assert not client.cookies.get("idp_session")


def test_the_development_picker_lists_the_demo_accounts(browser, wallet_rp) -> None:
    page = browser.open(wallet_rp.authorization_request().url)
    assert "개발용 계정 선택" in page.text and "Development account picker" in page.text
    buttons = [value for form in forms_of(page.text) for name, value in form.buttons if name == "account"]
    assert buttons == [
        "citizen-minji-0001",
        "citizen-junho-0002",
        "citizen-seoyeon-0003",
        "citizen-dohyun-0004",
        "citizen-jiwoo-0005",
    ]
    for name in ("김민지", "이준호", "박서연", "최도현", "정지우"):
        assert name in page.text
