"""JWS attacks on every signed token the platform accepts from outside: bearer access tokens
(RFC 9068), issuer JWTs in presentations (OpenID4VP response endpoint), key proofs (OpenID4VCI
credential endpoint) and request objects (the wallet's sharing-request endpoint).

Each case is a token an attacker can make: unsigned, HMAC'd with a public key, naming its own key
(`jku`, `x5u`, `jwk`, `x5c`), a `kid` that tries a path or a query, an unknown `crit`, header values
of the wrong JSON type, the wrong `typ`. Each is refused with a 4xx, and an honest request to the same
endpoint succeeds right after.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from keys.jwk import load_public_jwk, public_jwk, thumbprint
from tests.issuers.spec_wallet import PRE_AUTH, HolderKey
from tests.security.attack_support import (
    MOIS,
    World,
    attacker_key,
    es256_raw,
    hs256,
    issue_honest_credential,
    open_world,
    presentation_refused,
    problem,
    still_serving,
    unsigned,
)

ADMIN_ROUTE = "/admin/verifiers"
TRAVERSAL_KID = "../../../../../../etc/passwd"
SQL_KID = "x' OR '1'='1' --"
ATTACKER_HOST = "attacker.example"


@pytest.fixture(scope="module")
def world(tmp_path_factory, database_url, migrated_engine) -> Iterator[World]:
    for opened in open_world(tmp_path_factory, database_url, migrated_engine):
        opened.held = issue_honest_credential(opened)
        opened.hosts.add(ATTACKER_HOST, _attacker_app())
        yield opened


_ATTACKER = attacker_key()


def _attacker_app() -> Starlette:
    """The attacker's server: a JWKS with the attacker's key, for tokens that point at it."""
    jwks = {"keys": [{**public_jwk(_ATTACKER), "kid": "attacker"}]}
    return Starlette(routes=[Route("/jwks.json", lambda request: JSONResponse(jwks))])


def _self_signed_x5c(key, name: str = "seoul.example") -> list[str]:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return [base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode()]


def _public_pem(jwks: dict[str, Any]) -> bytes:
    public = load_public_jwk(jwks["keys"][0])
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _never_called_attacker(world: World) -> None:
    assert ATTACKER_HOST not in world.hosts.hosts_called(), "the token made the platform fetch its key"


# -- bearer access tokens -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def admin_claims(world) -> dict[str, Any]:
    """The claims of a real admin access token: what a forger copies."""
    token = world.bearer("platform:admin", "verifiers:admin")["Authorization"].split()[1]
    return jwt.decode(token, options={"verify_signature": False})


def _bearer_refused(world: World, token: str) -> None:
    response = world.client.get(ADMIN_ROUTE, headers={"Authorization": f"Bearer {token}"})
    problem(response, 401)
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    _never_called_attacker(world)
    honest = world.client.get(ADMIN_ROUTE, headers=world.bearer("platform:admin", "verifiers:admin"))
    assert honest.status_code == 200, honest.text


def _platform_signed(world: World, claims: dict[str, Any], **headers: Any) -> str:
    """Signed by the platform's own key: a well-signed token whose header is the attack."""
    typ = headers.pop("typ", "at+jwt")
    return world.platform.keyring.sign("platform", claims, typ=typ, headers=headers)


def test_bearer_with_alg_none(world, admin_claims) -> None:
    _bearer_refused(world, unsigned({"typ": "at+jwt"}, admin_claims))


@pytest.mark.parametrize("secret_form", ["pem", "jwk_json"])
def test_bearer_hs256_keyed_with_the_platform_public_key(world, admin_claims, secret_form) -> None:
    jwks = world.client.get("/.well-known/jwks.json").json()
    secret = _public_pem(jwks) if secret_form == "pem" else json.dumps(jwks["keys"][0]).encode()
    kid = jwks["keys"][0]["kid"]
    _bearer_refused(world, hs256({"typ": "at+jwt", "kid": kid}, admin_claims, secret))


@pytest.mark.parametrize("kid", [TRAVERSAL_KID, SQL_KID], ids=["path_traversal", "sql_like"])
def test_bearer_with_a_hostile_kid(world, admin_claims, kid) -> None:
    token = jwt.encode(admin_claims, _ATTACKER, algorithm="ES256", headers={"typ": "at+jwt", "kid": kid})
    _bearer_refused(world, token)


def test_bearer_naming_the_attackers_jwks_by_jku(world, admin_claims) -> None:
    headers = {"typ": "at+jwt", "kid": "attacker", "jku": f"http://{ATTACKER_HOST}/jwks.json"}
    _bearer_refused(world, jwt.encode(admin_claims, _ATTACKER, algorithm="ES256", headers=headers))


def test_bearer_embedding_the_attackers_key_as_jwk(world, admin_claims) -> None:
    headers = {"typ": "at+jwt", "jwk": public_jwk(_ATTACKER)}
    _bearer_refused(world, jwt.encode(admin_claims, _ATTACKER, algorithm="ES256", headers=headers))


def test_bearer_carrying_the_attackers_certificate_as_x5c(world, admin_claims) -> None:
    headers = {"typ": "at+jwt", "x5c": _self_signed_x5c(_ATTACKER)}
    _bearer_refused(world, jwt.encode(admin_claims, _ATTACKER, algorithm="ES256", headers=headers))


def test_bearer_naming_a_certificate_url_x5u_even_when_well_signed(world, admin_claims) -> None:
    _bearer_refused(world, _platform_signed(world, admin_claims, x5u=f"http://{ATTACKER_HOST}/cert.pem"))


def test_bearer_with_an_unknown_critical_header_even_when_well_signed(world, admin_claims) -> None:
    _bearer_refused(world, _platform_signed(world, admin_claims, crit=["urn:attacker:ignore-exp"]))


@pytest.mark.parametrize("typ", [["at+jwt"], {"typ": "at+jwt"}], ids=["array", "object"])
def test_bearer_whose_typ_is_not_a_string(world, admin_claims, typ) -> None:
    _bearer_refused(world, _platform_signed(world, admin_claims, typ=typ))


def test_bearer_whose_alg_is_not_a_string(world, admin_claims) -> None:
    key = world.platform.keyring.active_key("platform")
    header = {"alg": ["ES256"], "typ": "at+jwt", "kid": key.kid}
    _bearer_refused(world, es256_raw(header, json.dumps(admin_claims).encode(), key.private_key))


def test_bearer_of_another_type_signed_by_the_platform(world, admin_claims) -> None:
    # A platform-signed JWT that is not an access token (typ JWT) must not open the API.
    _bearer_refused(world, _platform_signed(world, admin_claims, typ="JWT"))


def test_bearer_with_padded_base64_segments(world, admin_claims) -> None:
    # Well signed, but a segment padded with "=" is not the canonical base64url of a compact JWS.
    header, payload, signature = _platform_signed(world, admin_claims).split(".")
    _bearer_refused(world, f"{header}.{payload}=.{signature}")


# -- the issuer JWT of a presentation ------------------------------------------------------------------


def _issuer_jwt_refused(world: World, issuer_jwt: str, *reasons: str) -> None:
    request_id, request = world.check()
    response = world.post(request, world.bind(request, issuer_jwt))
    presentation_refused(world, request_id, response, *reasons)
    _never_called_attacker(world)
    still_serving(world)


def _mois_signed(world: World, typ: Any = "dc+sd-jwt", **headers: Any) -> str:
    return world.platform.keyring.sign(MOIS, world.held.payload, typ=typ, headers=headers)


def test_issuer_jwt_with_alg_none(world) -> None:
    issuer_jwt = unsigned({"typ": "dc+sd-jwt", "kid": world.mois_kid()}, world.held.payload)
    _issuer_jwt_refused(world, issuer_jwt, "issuer_algorithm_not_allowed")


def test_issuer_jwt_hs256_keyed_with_the_issuers_published_key(world) -> None:
    metadata = world.client.get("/.well-known/jwt-vc-issuer/issuers/mois").json()
    header = {"typ": "dc+sd-jwt", "kid": world.mois_kid()}
    _issuer_jwt_refused(world, hs256(header, world.held.payload, _public_pem(metadata["jwks"])))


@pytest.mark.parametrize("kid", [TRAVERSAL_KID, SQL_KID, 7], ids=["path_traversal", "sql_like", "not_a_string"])
def test_issuer_jwt_with_a_hostile_kid(world, kid) -> None:
    header = {"typ": "dc+sd-jwt", "kid": kid}
    issuer_jwt = es256_raw(header, json.dumps(world.held.payload).encode(), _ATTACKER)
    _issuer_jwt_refused(world, issuer_jwt)


def test_issuer_jwt_naming_the_attackers_jwks_by_jku(world) -> None:
    headers = {"typ": "dc+sd-jwt", "kid": "attacker", "jku": f"http://{ATTACKER_HOST}/jwks.json"}
    issuer_jwt = jwt.encode(world.held.payload, _ATTACKER, algorithm="ES256", headers=headers)
    _issuer_jwt_refused(world, issuer_jwt)


def test_issuer_jwt_embedding_the_attackers_key_as_jwk(world) -> None:
    headers = {"typ": "dc+sd-jwt", "jwk": public_jwk(_ATTACKER), "kid": thumbprint(public_jwk(_ATTACKER))}
    issuer_jwt = jwt.encode(world.held.payload, _ATTACKER, algorithm="ES256", headers=headers)
    _issuer_jwt_refused(world, issuer_jwt)


@pytest.mark.parametrize(
    "header",
    [
        {"jku": f"http://{ATTACKER_HOST}/jwks.json"},
        {"x5u": f"http://{ATTACKER_HOST}/cert.pem"},
        {"x5c": _self_signed_x5c(_ATTACKER, "127.0.0.1")},
        {"jwk": public_jwk(_ATTACKER)},
    ],
    ids=["jku", "x5u", "x5c", "jwk"],
)
def test_issuer_jwt_naming_a_key_even_when_signed_by_the_issuer(world, header) -> None:
    # Signed by MOIS itself: the signature verifies, and the key-naming header alone must refuse it.
    _issuer_jwt_refused(world, _mois_signed(world, **header), "malformed_issuer_jwt")


def test_issuer_jwt_with_an_unknown_critical_header(world) -> None:
    _issuer_jwt_refused(world, _mois_signed(world, crit=["urn:attacker:trust-me"]), "malformed_issuer_jwt")


@pytest.mark.parametrize("typ", [["dc+sd-jwt"], {"media": "dc+sd-jwt"}], ids=["array", "object"])
def test_issuer_jwt_whose_typ_is_not_a_string(world, typ) -> None:
    _issuer_jwt_refused(world, _mois_signed(world, typ=typ), "issuer_jwt_wrong_typ")


def test_issuer_jwt_whose_alg_is_not_a_string(world) -> None:
    header = {"alg": ["ES256"], "typ": "dc+sd-jwt", "kid": world.mois_kid()}
    issuer_jwt = es256_raw(header, json.dumps(world.held.payload).encode(), world.mois_private_key())
    _issuer_jwt_refused(world, issuer_jwt, "issuer_algorithm_not_allowed")


@pytest.mark.parametrize("typ", ["JWT", "kb+jwt"])
def test_issuer_jwt_of_another_type(world, typ) -> None:
    _issuer_jwt_refused(world, _mois_signed(world, typ=typ), "issuer_jwt_wrong_typ")


# -- key proofs at the credential endpoint --------------------------------------------------------------


@pytest.fixture
def redeemed(world) -> tuple[str, str]:
    """An offer's access token and a fresh c_nonce, as a wallet has them before the credential request."""
    agency = world.bearer("agency:mois", "credentials:offer")
    claims = {"birth_date": "1999-05-01", "nationality_status": "citizen", "resident_sido": "11"}
    claims |= {"resident_sigungu": "11110", "as_of": "2026-11-01"}
    created = world.client.post(
        "/issuers/mois/offers",
        json={"subject": "citizen-2", "credential_type": "resident_registration", "claims": claims},
        headers=agency,
    )
    assert created.status_code == 201, created.text
    offer = json.loads(_query(created.json()["offer_link"])["credential_offer"])
    code = offer["grants"][PRE_AUTH]["pre-authorized_code"]
    token = world.client.post("/issuers/mois/token", data={"grant_type": PRE_AUTH, "pre-authorized_code": code})
    assert token.status_code == 200, token.text
    nonce = world.client.post("/issuers/mois/nonce").json()["c_nonce"]
    return token.json()["access_token"], nonce


def _query(link: str) -> dict[str, str]:
    from urllib.parse import parse_qs, urlsplit

    return {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}


def _proof_refused(world: World, redeemed: tuple[str, str], proof: str) -> None:
    access_token, _ = redeemed
    headers = {"Authorization": f"Bearer {access_token}"}

    def ask(jwt_proof: str):
        body = {"credential_configuration_id": "resident_registration", "proofs": {"jwt": [jwt_proof]}}
        return world.client.post("/issuers/mois/credential", json=body, headers=headers)

    response = ask(proof)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_proof", response.text
    _never_called_attacker(world)
    # The refusal spent nothing: the same wallet with an honest proof gets its credential.
    fresh = world.client.post("/issuers/mois/nonce").json()["c_nonce"]
    honest = ask(HolderKey.generate().proof(f"{world.public_url}/issuers/mois", fresh))
    assert honest.status_code == 200, honest.text
    assert honest.json()["credentials"][0]["credential"].count("~") >= 2


def _proof_claims(world: World, nonce: str) -> dict[str, Any]:
    return {"aud": f"{world.public_url}/issuers/mois", "iat": int(time.time()), "nonce": nonce}


def test_key_proof_with_alg_none(world, redeemed) -> None:
    holder = HolderKey.generate()
    header = {"typ": "openid4vci-proof+jwt", "jwk": holder.public_jwk}
    _proof_refused(world, redeemed, unsigned(header, _proof_claims(world, redeemed[1])))


def test_key_proof_with_an_unknown_critical_header(world, redeemed) -> None:
    holder = HolderKey.generate()
    headers = {"typ": "openid4vci-proof+jwt", "jwk": holder.public_jwk, "crit": ["urn:attacker:x"]}
    proof = jwt.encode(_proof_claims(world, redeemed[1]), holder.private, algorithm="ES256", headers=headers)
    _proof_refused(world, redeemed, proof)


def test_key_proof_naming_its_key_twice_jwk_and_x5c(world, redeemed) -> None:
    holder = HolderKey.generate()
    headers = {"typ": "openid4vci-proof+jwt", "jwk": holder.public_jwk, "x5c": _self_signed_x5c(holder.private)}
    proof = jwt.encode(_proof_claims(world, redeemed[1]), holder.private, algorithm="ES256", headers=headers)
    _proof_refused(world, redeemed, proof)


def test_key_proof_whose_typ_is_not_a_string(world, redeemed) -> None:
    holder = HolderKey.generate()
    headers = {"typ": ["openid4vci-proof+jwt"], "jwk": holder.public_jwk}
    proof = jwt.encode(_proof_claims(world, redeemed[1]), holder.private, algorithm="ES256", headers=headers)
    _proof_refused(world, redeemed, proof)


def test_key_proof_whose_jwk_is_not_the_signing_key(world, redeemed) -> None:
    holder, other = HolderKey.generate(), HolderKey.generate()
    headers = {"typ": "openid4vci-proof+jwt", "jwk": other.public_jwk}
    proof = jwt.encode(_proof_claims(world, redeemed[1]), holder.private, algorithm="ES256", headers=headers)
    _proof_refused(world, redeemed, proof)


# -- request objects at the wallet ----------------------------------------------------------------------


def _request_object_claims(world: World, client_id: str) -> dict[str, Any]:
    _, request = world.check()
    return {**request.claims, "client_id": client_id, "iss": client_id}


def _open_request(world: World, client_id: str, request_object: str):
    from urllib.parse import quote

    link = f"openid4vp://?client_id={quote(client_id, safe='')}&request={request_object}"
    citizen = world.bearer("citizen:citizen-1", "wallet")
    return world.client.post("/wallet/api/sharing-requests", json={"request": link}, headers=citizen)


def _request_object_refused(world: World, client_id: str, request_object: str, reason: str) -> None:
    assert problem(_open_request(world, client_id, request_object), 400)["reason"] == reason
    _never_called_attacker(world)
    # The wallet still opens a real verifier's request.
    _, honest = world.check()
    opened = _open_request(world, honest.client_id, honest.raw)
    assert opened.status_code == 200, opened.text


def test_request_object_with_alg_none(world) -> None:
    client_id = "x509_san_dns:127.0.0.1"
    claims = _request_object_claims(world, client_id)
    _request_object_refused(world, client_id, unsigned({"typ": "oauth-authz-req+jwt"}, claims), "algorithm_not_allowed")


def test_request_object_with_a_self_signed_x5c(world) -> None:
    client_id = "x509_san_dns:127.0.0.1"
    claims = _request_object_claims(world, client_id)
    headers = {"typ": "oauth-authz-req+jwt", "x5c": _self_signed_x5c(_ATTACKER, "127.0.0.1")}
    request_object = jwt.encode(claims, _ATTACKER, algorithm="ES256", headers=headers)
    _request_object_refused(world, client_id, request_object, "untrusted_certificate")


def test_request_object_with_an_unknown_critical_header(world) -> None:
    # Signed with the real verifier's key and chain: only the crit header is wrong.
    _, request = world.check()
    x5c = jwt.get_unverified_header(request.raw)["x5c"]

    def signed(**extra: Any) -> str:
        headers = {"x5c": x5c, **extra}
        return world.platform.keyring.sign(
            "verifier:seoul-transport", request.claims, typ="oauth-authz-req+jwt", headers=headers
        )

    _request_object_refused(world, request.client_id, signed(crit=["urn:attacker:x"]), "invalid_signature")
    assert _open_request(world, request.client_id, signed()).status_code == 200  # the same without crit


def test_request_object_whose_query_names_no_credential_type(world) -> None:
    # Signed by the real verifier: `meta.vct_values` is required for dc+sd-jwt (issue 14 defect 4),
    # or a query would match any credential the citizen holds.
    _, request = world.check()
    x5c = jwt.get_unverified_header(request.raw)["x5c"]
    dcql = json.loads(json.dumps(request.claims["dcql_query"]))
    del dcql["credentials"][0]["meta"]
    claims = {**request.claims, "dcql_query": dcql}
    signed = world.platform.keyring.sign(
        "verifier:seoul-transport", claims, typ="oauth-authz-req+jwt", headers={"x5c": x5c}
    )
    _request_object_refused(world, request.client_id, signed, "invalid_dcql_query")


def test_request_object_carrying_the_attackers_raw_public_key_as_jwk(world) -> None:
    client_id = "x509_san_dns:127.0.0.1"
    claims = _request_object_claims(world, client_id)
    headers = {"typ": "oauth-authz-req+jwt", "jwk": public_jwk(_ATTACKER)}
    request_object = jwt.encode(claims, _ATTACKER, algorithm="ES256", headers=headers)
    _request_object_refused(world, client_id, request_object, "certificate_missing")
