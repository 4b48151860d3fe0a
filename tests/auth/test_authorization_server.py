"""The platform authorization server: client credentials, RFC 9068 tokens, scope checks, RFC 8414."""

from __future__ import annotations

import base64
import time

import pytest
from fastapi import Depends
from fastapi.testclient import TestClient
from sqlmodel import Session

from auth.clients import register_client
from auth.models import OAuthClient
from auth.tokens import AccessToken
from keys import jws
from keys.jwk import generate_private_key, load_public_jwk


@pytest.fixture
def agency_client(platform):
    return register_client(platform.engine, "agency:mois", ["credentials:offer"], name="MOIS backend")


@pytest.fixture
def protected_app(app, platform):
    require_offer = Depends(platform.bearer.require("credentials:offer"))

    @app.get("/_protected")
    def protected(token: AccessToken = require_offer) -> dict:
        return {"subject": token.subject, "scopes": sorted(token.scopes)}

    return app


def _token(client: TestClient, creds, scope: str | None = "credentials:offer", basic: bool = True):
    form = {"grant_type": "client_credentials"}
    if scope:
        form["scope"] = scope
    headers = {}
    if basic:
        raw = f"{creds.client_id}:{creds.client_secret}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
    else:
        form |= {"client_id": creds.client_id, "client_secret": creds.client_secret}
    return client.post("/oauth/token", data=form, headers=headers)


def test_client_credentials_grant_issues_an_rfc9068_token(client, platform, agency_client) -> None:
    for basic in (True, False):
        response = _token(client, agency_client, basic=basic)
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        body = response.json()
        assert body["token_type"] == "Bearer" and body["scope"] == "credentials:offer"
        header = jws.read_header(body["access_token"])
        assert header["typ"] == "at+jwt" and header["alg"] == "ES256"
        # Verifiable with nothing but the published platform JWKS.
        jwks = client.get("/.well-known/jwks.json").json()["keys"]
        key = next(k for k in jwks if k["kid"] == header["kid"])
        claims = jws.verify(
            body["access_token"], load_public_jwk({n: key[n] for n in ("kty", "crv", "x", "y")})
        ).payload
        assert claims["sub"] == "agency:mois" and claims["client_id"] == agency_client.client_id
        assert claims["iss"] == claims["aud"] == platform.settings.public_url
        assert claims["exp"] - claims["iat"] == 3600 and claims["jti"]


def test_secret_is_stored_hashed(platform, agency_client) -> None:
    with Session(platform.engine) as session:
        row = session.get(OAuthClient, agency_client.client_id)
    assert agency_client.client_secret not in row.client_secret_hash


def test_wrong_secret_is_invalid_client(client, agency_client) -> None:
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": agency_client.client_id, "client_secret": "guess"},
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_scope_beyond_the_clients_is_not_granted(client, agency_client, protected_app) -> None:
    # Refused whole (invalid_scope), not down-scoped: issue 14 defect 13, tests/auth/test_token_refusals.py.
    response = _token(client, agency_client, scope="credentials:offer credentials:revoke")
    assert response.status_code == 400 and response.json()["error"] == "invalid_scope"


def test_unsupported_grant_type(client, agency_client) -> None:
    response = client.post(
        "/oauth/token",
        data={"grant_type": "password", "client_id": agency_client.client_id, "client_secret": "x"},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def test_unknown_parameters_are_ignored(client, agency_client) -> None:
    form = {"grant_type": "client_credentials", "resource": "https://example", "extra": "1"}
    form |= {"client_id": agency_client.client_id, "client_secret": agency_client.client_secret}
    assert client.post("/oauth/token", data=form).status_code == 200


def test_protected_endpoint_accepts_the_token(protected_app, agency_client) -> None:
    with TestClient(protected_app) as client:
        token = _token(client, agency_client).json()["access_token"]
        response = client.get("/_protected", headers={"Authorization": f"Bearer {token}"})
    assert response.json() == {"subject": "agency:mois", "scopes": ["credentials:offer"]}


def test_missing_token_is_401_with_www_authenticate(protected_app) -> None:
    with TestClient(protected_app) as client:
        response = client.get("/_protected")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_insufficient_scope_is_403(protected_app, platform) -> None:
    creds = register_client(platform.engine, "verifier:x", ["presentations:request"])
    with TestClient(protected_app) as client:
        token = _token(client, creds, scope="presentations:request").json()["access_token"]
        response = client.get("/_protected", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


def test_forged_expired_and_foreign_tokens_are_401(protected_app, platform) -> None:
    claims = {
        "iss": platform.settings.public_url,
        "aud": platform.settings.public_url,
        "sub": "agency:mois",
        "client_id": "x",
        "iat": int(time.time()),
        "exp": int(time.time()) + 600,
        "jti": "j",
        "scope": "credentials:offer",
    }
    stranger = generate_private_key()
    active = platform.keyring.active_key("platform")
    bad_tokens = {
        "signed by a stranger with the platform kid": jws.sign(claims, stranger, typ="at+jwt", kid=active.kid),
        "expired": platform.keyring.sign("platform", {**claims, "exp": int(time.time()) - 5}, typ="at+jwt"),
        "wrong audience": platform.keyring.sign("platform", {**claims, "aud": "https://elsewhere"}, typ="at+jwt"),
        "wrong issuer": platform.keyring.sign("platform", {**claims, "iss": "https://elsewhere"}, typ="at+jwt"),
        "not an access token typ": platform.keyring.sign("platform", claims, typ="JWT"),
        "alg none": "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0." + jws.sign(claims, stranger).split(".")[1] + ".",
        "garbage": "not-a-token",
    }
    with TestClient(protected_app) as client:
        for name, token in bad_tokens.items():
            response = client.get("/_protected", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 401, name
            assert 'error="invalid_token"' in response.headers["www-authenticate"], name
        good = platform.keyring.sign("platform", claims, typ="at+jwt")
        assert client.get("/_protected", headers={"Authorization": f"Bearer {good}"}).status_code == 200


def test_citizen_session_tokens_from_the_seam(protected_app, platform) -> None:
    token = platform.tokens.issue("citizen:p-123", "seoul-wallet-app", ["credentials:offer"], ttl=60)
    seen = platform.tokens.validate(token)
    assert seen.subject == "citizen:p-123" and seen.client_id == "seoul-wallet-app"
    assert seen.claims["exp"] - seen.claims["iat"] == 60


def test_rfc8414_metadata(client, platform) -> None:
    metadata = client.get("/.well-known/oauth-authorization-server").json()
    assert metadata["issuer"] == platform.settings.public_url
    assert metadata["token_endpoint"] == platform.settings.public_url + "/oauth/token"
    assert "client_credentials" in metadata["grant_types_supported"]
