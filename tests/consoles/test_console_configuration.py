"""Outside development: no demo officer, no demo client, and without a configured provider the
consoles say sign-in is unavailable (never a crash); the demo clients' derivation is the single one
in consoles/clients.py; a decision that does not verify is never shown as the verifier's word."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session

from auth.models import OAuthClient
from auth.oidc_clients import development_client_secret
from consoles.clients import demo_client_credentials
from consoles.decisions import read_decision
from seoul_wallet.app import build_platform, create_app
from seoul_wallet.settings import Settings


def test_without_a_provider_sign_in_is_unavailable_in_words(settings, migrated_engine, platform) -> None:
    values = settings.model_dump(exclude={"development", "public_url", "idp_enabled"})
    production = Settings(**values, development=False, public_url="https://wallet.example")
    with Session(migrated_engine) as session:  # the development platform fixture seeded it: start without
        row = session.get(OAuthClient, "demo-agency-mois")
        if row is not None:
            session.delete(row)
            session.commit()
    with TestClient(
        create_app(platform=build_platform(production, migrated_engine)), base_url="https://wallet.example"
    ) as client:
        assert client.get("/consoles").status_code == 200
        unavailable = client.get("/consoles/auth/login")
        assert unavailable.status_code == 503 and "로그인을 사용할 수 없습니다" in unavailable.text
        assert client.get("/consoles/agency", follow_redirects=False).status_code == 303
    with Session(migrated_engine) as session:  # nothing was seeded outside development
        assert session.get(OAuthClient, "demo-agency-mois") is None


def test_the_demo_clients_are_derived_in_one_place(client, platform) -> None:
    client.get("/consoles")  # the consoles seed the development data before their first page
    credentials = demo_client_credentials(platform.master_key, "verifier:seoul-youth")
    assert credentials.client_id == "demo-verifier-seoul-youth"
    assert credentials.client_secret == development_client_secret(platform.master_key, "demo-verifier-seoul-youth")
    answer = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(credentials.client_id, credentials.client_secret),
    )
    assert answer.status_code == 200 and "presentations:request" in answer.json()["scope"]


def test_a_decision_that_does_not_verify_is_said_to_be_unverified(client, platform) -> None:
    token = platform.keyring.sign(  # signed, but not by the verifier's decisions key
        "platform", {"request_id": "r1", "verifier": "seoul-youth", "conditions": []}, typ="eligibility-decision+jwt"
    )
    keys = client.get("/verifiers/jwks.json").json()["keys"]
    read = read_decision(keys, "seoul-youth", "r1", token)
    assert read.verified is False and read.conditions == []
