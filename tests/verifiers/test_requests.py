"""Verifier registration and OpenID4VP requests: signed request objects a wallet can check from the
RP CA certificate alone, minimal DCQL, expiry, and isolation between verifiers."""

from __future__ import annotations

import base64
import datetime as dt
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.verification import PolicyBuilder, Store
from sqlmodel import Session

import catalog
from eligibility.dcql import derive_dcql
from eligibility.policies import load_policies
from keys import jws
from tests.verifiers.conftest import GANGNAM
from verifiers.models import PresentationRequest


def _create(client, headers, service_id="seoul_youth_allowance", **extra):
    return client.post("/verifiers/requests", json={"service_id": service_id, **extra}, headers=headers)


def test_request_object_is_signed_and_chains_to_the_rp_ca(client, youth_backend, platform) -> None:
    created = _create(client, youth_backend)
    assert created.status_code == 201, created.text
    body = created.json()
    link = urlsplit(body["link"])
    assert link.scheme == "openid4vp"
    params = {k: v[0] for k, v in parse_qs(link.query).items()}
    assert params == {"client_id": body["client_id"], "request_uri": body["request_uri"]}
    assert body["client_id"] == "x509_san_dns:127.0.0.1"

    fetched = client.get(body["request_uri"])
    assert fetched.status_code == 200
    assert fetched.headers["content-type"] == "application/oauth-authz-req+jwt"
    token = fetched.text
    header = jws.read_header(token)
    assert header["typ"] == "oauth-authz-req+jwt" and header["alg"] == "ES256"

    # What a wallet does: the leaf certificate chains to the RP CA it trusts, its DNS SAN is the
    # client identifier's, and it signed the request object.
    anchor = x509.load_pem_x509_certificate(client.get("/verifiers/rp-ca.pem").content)
    chain = [x509.load_der_x509_certificate(base64.b64decode(c)) for c in header["x5c"]]
    leaf = chain[0]
    PolicyBuilder().store(Store([anchor])).time(dt.datetime.now(dt.UTC)).build_client_verifier().verify(leaf, chain[1:])
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    dns_name = body["client_id"].removeprefix("x509_san_dns:")
    assert san.get_values_for_type(x509.DNSName) == [dns_name]
    public = leaf.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    claims = jws.verify(token, public, typ="oauth-authz-req+jwt", allowed_key_headers={"x5c"}).payload

    assert claims["client_id"] == body["client_id"]
    assert claims["response_type"] == "vp_token" and claims["response_mode"] == "direct_post"
    assert urlsplit(claims["response_uri"]).hostname == dns_name
    assert claims["exp"] - claims["iat"] <= 300 and claims["exp"] == body["expires_at"]
    assert len(claims["nonce"]) >= 32 and len(claims["state"]) >= 32
    formats = claims["client_metadata"]["vp_formats_supported"]["dc+sd-jwt"]
    assert "ES256" in formats["sd-jwt_alg_values"] and "ES256" in formats["kb-jwt_alg_values"]
    policies = load_policies(catalog.services(), catalog.credential_types())
    assert claims["dcql_query"] == derive_dcql(policies["seoul_youth_allowance"], catalog.credential_types())


def test_each_request_has_fresh_nonce_and_state(client, youth_backend, platform) -> None:
    ids = [_create(client, youth_backend).json()["request_id"] for _ in range(3)]
    with Session(platform.engine) as session:
        rows = [session.get(PresentationRequest, i) for i in ids]
    assert len({r.nonce for r in rows}) == 3 and len({r.state for r in rows}) == 3


def test_a_verifier_cannot_ask_for_a_service_it_does_not_operate(client, youth_backend) -> None:
    response = _create(client, youth_backend, service_id="seoul_learn")
    assert response.status_code == 403
    assert response.json()["reason"] == "service_not_operated"


def test_unknown_service_is_refused(client, youth_backend) -> None:
    assert _create(client, youth_backend, service_id="no_such_service").status_code == 403


def test_verifier_b_cannot_read_verifier_a_request(client, youth_backend, housing_backend) -> None:
    request_id = _create(client, youth_backend).json()["request_id"]
    assert client.get(f"/verifiers/requests/{request_id}", headers=youth_backend).json()["status"] == "pending"
    response = client.get(f"/verifiers/requests/{request_id}", headers=housing_backend)
    assert response.status_code == 404
    assert client.get(f"/verifiers/requests/{request_id}/callbacks", headers=housing_backend).status_code == 404
    assert client.get(f"/verifiers/requests/{request_id}/qr.svg", headers=housing_backend).status_code == 404


def test_requests_need_the_backend_scope(client, platform, verifier_admin) -> None:
    assert _create(client, {}).status_code == 401
    assert _create(client, verifier_admin).status_code == 403


def test_expired_request_object_is_gone(client, youth_backend, platform) -> None:
    body = _create(client, youth_backend).json()
    with Session(platform.engine) as session:
        row = session.get(PresentationRequest, body["request_id"])
        row.expires_at = int(time.time()) - 1
        session.add(row)
        session.commit()
    assert client.get(body["request_uri"]).status_code == 410
    assert client.get(f"/verifiers/requests/{body['request_id']}", headers=youth_backend).json()["status"] == "expired"


def test_qr_codes(client, youth_backend) -> None:
    body = _create(client, youth_backend).json()
    svg = client.get(body["qr_svg"], headers=youth_backend)
    assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml" and b"<svg" in svg.content
    png = client.get(body["qr_png"], headers=youth_backend)
    assert png.headers["content-type"] == "image/png" and png.content.startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("url", "development", "accepted"),
    [
        ("http://backend.example/cb", True, True),
        ("http://backend.example/cb", False, False),
        ("https://127.0.0.1/cb", False, False),
        ("https://10.1.2.3/cb", False, False),
        ("https://[::1]/cb", False, False),
        ("https://localhost/cb", False, False),
        ("https://user:pw@backend.example/cb", True, False),
        ("ftp://backend.example/cb", True, False),
    ],
)
def test_callback_urls_are_checked(client, youth_backend, app, url, development, accepted) -> None:
    service = app.state.verifiers
    object.__setattr__(service.settings, "development", development)
    response = _create(client, youth_backend, callback_url=url)
    assert (response.status_code == 201) is accepted, response.text
    if not accepted:
        assert response.json()["reason"] == "unsafe_url"


def test_admin_registers_a_verifier_with_an_oauth_client(client, verifier_admin) -> None:
    response = client.post("/admin/verifiers", json=GANGNAM, headers=verifier_admin)
    assert response.status_code == 201, response.text
    registered = response.json()
    token = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(registered["oauth_client_id"], registered["oauth_client_secret"]),
    ).json()["access_token"]
    created = _create(client, {"Authorization": f"Bearer {token}"}, service_id="k_pass_youth")
    assert created.status_code == 201
    again = client.post(
        "/admin/verifiers",
        json={"slug": "gangnam-youth", "name": {"ko": "x", "en": "x"}, "services": ["k_pass_youth"]},
        headers=verifier_admin,
    )
    assert again.status_code == 409
    unknown = client.post(
        "/admin/verifiers",
        json={"slug": "other", "name": {"ko": "x", "en": "x"}, "services": ["nope"]},
        headers=verifier_admin,
    )
    assert unknown.status_code == 422 and "nope" in unknown.json()["detail"]


def test_response_to_unknown_state_is_an_oauth_error(client) -> None:
    response = client.post("/verifiers/seoul-youth/response", data={"vp_token": "{}", "state": "nope"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert response.json()["error_description"].startswith("unknown_state")


def test_decision_key_and_rp_ca_are_published(client) -> None:
    assert client.get("/verifiers/jwks.json").json()["keys"][0]["alg"] == "ES256"
    pem = client.get("/verifiers/rp-ca.pem")
    assert pem.headers["content-type"] == "application/x-pem-file"
    ca = x509.load_pem_x509_certificate(pem.content)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_admin_manages_the_trusted_issuer_registry(client, verifier_admin) -> None:
    issuer = "https://issuer.example/seoul"
    added = client.post(
        "/admin/trusted-issuers",
        json={"issuer": issuer, "vcts": ["urn:seoul-wallet:vct:lease:1"], "name": "Example"},
        headers=verifier_admin,
    )
    assert added.status_code == 200 and added.json()["vcts"] == ["urn:seoul-wallet:vct:lease:1"]
    listed = client.get("/admin/trusted-issuers", headers=verifier_admin).json()
    assert any(i["issuer"] == issuer for i in listed)
    assert (
        client.request(
            "DELETE", "/admin/trusted-issuers", params={"issuer": issuer}, headers=verifier_admin
        ).status_code
        == 204
    )
    listed = client.get("/admin/trusted-issuers", headers=verifier_admin).json()
    assert all(i["issuer"] != issuer for i in listed)
    gone = client.request("DELETE", "/admin/trusted-issuers", params={"issuer": issuer}, headers=verifier_admin)
    assert gone.status_code == 404
