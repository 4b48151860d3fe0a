"""JWS verification refuses every attack a token can carry in its header."""

from __future__ import annotations

import hashlib
import hmac
import json

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from keys import jws
from keys.jwk import b64url_encode, generate_private_key, public_jwk


def _b64json(value: dict) -> str:
    return b64url_encode(json.dumps(value).encode())


def _forge(header: dict, payload: dict, signature: bytes = b"") -> str:
    return f"{_b64json(header)}.{_b64json(payload)}.{b64url_encode(signature)}"


@pytest.fixture
def es256_key():
    return generate_private_key("ES256")


def test_round_trip_es256_and_eddsa() -> None:
    for alg in ("ES256", "EdDSA"):
        key = generate_private_key(alg)
        token = jws.sign({"sub": "citizen-1"}, key, typ="example+jwt", kid="k1")
        verified = jws.verify(token, key.public_key(), typ="example+jwt")
        assert verified.payload == {"sub": "citizen-1"}
        assert verified.header == {"alg": alg, "typ": "example+jwt", "kid": "k1"}


def test_alg_none_is_refused(es256_key) -> None:
    token = _forge({"alg": "none", "typ": "JWT"}, {"sub": "x"})
    with pytest.raises(jws.AlgorithmNotAllowed):
        jws.verify(token, es256_key.public_key())


def test_hs256_signed_with_the_public_key_as_secret_is_refused(es256_key) -> None:
    # The classic confusion attack: the attacker HMACs with the PEM of the public key.
    pem = es256_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = f"{_b64json({'alg': 'HS256', 'typ': 'JWT'})}.{_b64json({'sub': 'admin'})}"
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{b64url_encode(mac)}"
    with pytest.raises(jws.AlgorithmNotAllowed):
        jws.verify(token, es256_key.public_key())


def test_alg_that_does_not_match_the_key_is_refused(es256_key) -> None:
    ed = generate_private_key("EdDSA")
    token = jws.sign({"sub": "x"}, ed)
    with pytest.raises(jws.AlgorithmNotAllowed):
        jws.verify(token, es256_key.public_key())


def test_algorithm_outside_the_callers_allow_list_is_refused() -> None:
    ed = generate_private_key("EdDSA")
    token = jws.sign({"sub": "x"}, ed)
    with pytest.raises(jws.AlgorithmNotAllowed):
        jws.verify(token, ed.public_key(), algorithms=["ES256"])


@pytest.mark.parametrize("header_name", ["jku", "x5u", "jwk", "x5c"])
def test_headers_that_name_a_key_are_refused(es256_key, header_name) -> None:
    value = public_jwk(es256_key) if header_name == "jwk" else "https://attacker.example/keys"
    if header_name == "x5c":
        value = ["MIIB"]
    token = jws.sign({"sub": "x"}, es256_key, headers={header_name: value})
    with pytest.raises(jws.KeyHeaderNotAllowed):
        jws.verify(token, es256_key.public_key())


def test_header_jwk_is_accepted_only_where_the_protocol_allows_it(es256_key) -> None:
    token = jws.sign({"nonce": "n"}, es256_key, typ="openid4vci-proof+jwt", headers={"jwk": public_jwk(es256_key)})
    verified, jwk = jws.verify_with_header_jwk(token, typ="openid4vci-proof+jwt")
    assert verified.payload == {"nonce": "n"}
    assert jwk == public_jwk(es256_key)


def test_header_jwk_must_be_the_signing_key() -> None:
    signer, other = generate_private_key("ES256"), generate_private_key("ES256")
    token = jws.sign({"nonce": "n"}, signer, headers={"jwk": public_jwk(other)})
    with pytest.raises(jws.InvalidSignature):
        jws.verify_with_header_jwk(token)


def test_unknown_crit_header_is_refused(es256_key) -> None:
    token = jws.sign({"sub": "x"}, es256_key, headers={"crit": ["exp-policy"], "exp-policy": 1})
    with pytest.raises(jws.UnknownCriticalHeader):
        jws.verify(token, es256_key.public_key())


def test_wrong_typ_is_refused(es256_key) -> None:
    token = jws.sign({"sub": "x"}, es256_key, typ="JWT")
    with pytest.raises(jws.WrongType):
        jws.verify(token, es256_key.public_key(), typ="kb+jwt")


def test_signature_by_another_key_is_refused(es256_key) -> None:
    token = jws.sign({"sub": "x"}, generate_private_key("ES256"))
    with pytest.raises(jws.InvalidSignature):
        jws.verify(token, es256_key.public_key())


def test_tampered_payload_is_refused(es256_key) -> None:
    header, _payload, signature = jws.sign({"sub": "alice"}, es256_key).split(".")
    token = f"{header}.{_b64json({'sub': 'mallory'})}.{signature}"
    with pytest.raises(jws.InvalidSignature):
        jws.verify(token, es256_key.public_key())


@pytest.mark.parametrize(
    "token",
    ["", "a.b", "a.b.c.d", "!!!.e30.", "eyJhbGciOiJFUzI1NiJ9=.e30.AA", "W10.e30.AA"],
)
def test_malformed_tokens_are_refused(es256_key, token) -> None:
    with pytest.raises(jws.MalformedJWS):
        jws.verify(token, es256_key.public_key())


def test_oversized_token_is_refused_before_parsing(es256_key) -> None:
    with pytest.raises(jws.MalformedJWS):
        jws.verify("a" * (jws.MAX_JWS_BYTES + 1), es256_key.public_key())


def test_pyjwt_interop_our_signature_verifies_with_plain_pyjwt(es256_key) -> None:
    token = jws.sign({"sub": "x"}, es256_key, typ="JWT")
    assert jwt.decode(token, es256_key.public_key(), algorithms=["ES256"]) == {"sub": "x"}


@pytest.mark.parametrize("typ", [["kb+jwt"], {"t": "kb+jwt"}, 1, True, None])
def test_a_typ_of_the_wrong_json_type_is_a_refusal_not_a_crash(es256_key, typ) -> None:
    """RFC 7515 §4.1.9: typ is a string. An array or object used to raise TypeError (unhashable)
    before any signature check, which surfaced as a 500 over HTTP."""
    token = _forge({"alg": "ES256", "typ": typ}, {"sub": "x"}, b"\0" * 64)
    with pytest.raises(jws.WrongType):
        jws.verify(token, es256_key.public_key(), typ="kb+jwt")


@pytest.mark.parametrize("written", ["kb+jwt", "KB+JWT", "application/kb+jwt", "Application/Kb+Jwt"])
def test_typ_names_a_media_type_compared_as_rfc_7515_says(es256_key, written) -> None:
    """ "application/" is implied without a "/", and media types are case-insensitive."""
    token = jws.sign({"sub": "x"}, es256_key, typ=written)
    assert jws.verify(token, es256_key.public_key(), typ="kb+jwt").payload == {"sub": "x"}
    with pytest.raises(jws.WrongType):
        jws.verify(token, es256_key.public_key(), typ="dc+sd-jwt")
    with pytest.raises(jws.WrongType):  # another subtype with the same suffix is another type
        jws.verify(token, es256_key.public_key(), typ="text/kb+jwt")
