"""Interop with the reference implementation `sd-jwt` 0.10.4 (OpenWallet Foundation), both directions."""

from __future__ import annotations

import json
import time

import pytest
from jwcrypto.jwk import JWK
from sd_jwt.common import SDObj
from sd_jwt.holder import SDJWTHolder
from sd_jwt.issuer import SDJWTIssuer
from sd_jwt.verifier import SDJWTVerifier

from keys.jwk import generate_private_key, public_jwk
from vc import sd_jwt

ISSUER = generate_private_key("ES256")
HOLDER = generate_private_key("ES256")
AUD, NONCE = "https://verifier.example", "n-123456"


def jwcrypto_private(key) -> JWK:
    return JWK.from_pyca(key)


def jwcrypto_public(key) -> JWK:
    return JWK.from_json(json.dumps(public_jwk(key)))


def reference_issue() -> str:
    claims = {
        "iss": "https://issuer.example",
        SDObj("given_name"): "John",
        SDObj("family_name"): "Doe",
        "address": {SDObj("street"): "Main St 1", "locality": "Anytown"},
        "nationalities": [SDObj("US"), SDObj("DE"), "KR"],
    }
    issuer = SDJWTIssuer(
        claims,
        jwcrypto_private(ISSUER),
        holder_key=jwcrypto_public(HOLDER),
        sign_alg="ES256",
        add_decoy_claims=True,
        extra_header_parameters={"typ": "example+sd-jwt"},
    )
    return issuer.sd_jwt_issuance


def test_reference_presentation_with_kb_verifies_with_ours():
    holder = SDJWTHolder(reference_issue())
    holder.create_presentation(
        {"given_name": True, "address": {"street": True}, "nationalities": [False, True]},
        nonce=NONCE,
        aud=AUD,
        holder_key=jwcrypto_private(HOLDER),
        sign_alg="ES256",
    )
    now = int(time.time())
    result = sd_jwt.verify_sd_jwt(
        holder.sd_jwt_presentation,
        ISSUER.public_key(),
        require_key_binding=True,
        expected_aud=AUD,
        expected_nonce=NONCE,
        now=now,
        typ="example+sd-jwt",
    )
    assert result.claims["given_name"] == "John"
    assert "family_name" not in result.claims
    assert result.claims["address"] == {"street": "Main St 1", "locality": "Anytown"}
    assert result.claims["nationalities"] == ["DE", "KR"]
    assert result.key_binding["nonce"] == NONCE


def test_reference_presentation_with_wrong_nonce_rejected_by_ours():
    holder = SDJWTHolder(reference_issue())
    holder.create_presentation(
        {"given_name": True}, nonce="other", aud=AUD, holder_key=jwcrypto_private(HOLDER), sign_alg="ES256"
    )
    with pytest.raises(sd_jwt.KeyBindingNonceMismatch):
        sd_jwt.verify_sd_jwt(
            holder.sd_jwt_presentation,
            ISSUER.public_key(),
            require_key_binding=True,
            expected_aud=AUD,
            expected_nonce=NONCE,
            now=int(time.time()),
        )


def test_our_presentation_verifies_with_reference():
    claims = {
        "iss": "https://issuer.example",
        "given_name": "길동",
        "address": {"street": "세종대로 110", "locality": "Seoul"},
        "nationalities": ["KR", "US", "FR"],
    }
    token = sd_jwt.issue_sd_jwt(
        claims,
        ISSUER,
        disclosable=[("given_name",), ("address", "street"), ("nationalities", None)],
        holder_jwk=public_jwk(HOLDER),
        decoys=3,
        typ="example+sd-jwt",
    )
    presentation = sd_jwt.create_presentation(
        token,
        [("address", "street"), ("nationalities", 2)],
        holder_key=HOLDER,
        aud=AUD,
        nonce=NONCE,
        iat=int(time.time()),
    )
    issuer_jwk = jwcrypto_public(ISSUER)
    verifier = SDJWTVerifier(presentation, lambda iss, header: issuer_jwk, expected_aud=AUD, expected_nonce=NONCE)
    payload = verifier.get_verified_payload()
    assert payload["address"] == {"street": "세종대로 110", "locality": "Seoul"}
    assert payload["nationalities"] == ["FR"]
    assert "given_name" not in payload


def test_our_presentation_with_wrong_aud_rejected_by_reference():
    token = sd_jwt.issue_sd_jwt({"a": 1}, ISSUER, disclosable=[("a",)], holder_jwk=public_jwk(HOLDER))
    presentation = sd_jwt.create_presentation(token, [("a",)], holder_key=HOLDER, aud="other", nonce=NONCE, iat=1)
    with pytest.raises(ValueError, match="audience"):
        SDJWTVerifier(presentation, lambda iss, header: jwcrypto_public(ISSUER), expected_aud=AUD, expected_nonce=NONCE)
