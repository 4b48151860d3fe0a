"""Shared keys and builders for crafting good and bad SD-JWTs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from keys import jws
from keys.jwk import b64url_encode, generate_private_key, public_jwk
from vc import sd_jwt

NOW = 1_800_000_000
AUD = "x509_san_dns:verifier.example"
NONCE = "n-0S6_WzA2Mj"

ISSUER_KEY = generate_private_key("ES256")
HOLDER_KEY = generate_private_key("ES256")
OTHER_KEY = generate_private_key("ES256")


@pytest.fixture
def issuer_key():
    return ISSUER_KEY


@pytest.fixture
def holder_key():
    return HOLDER_KEY


def raw_disclosure(content: Any) -> str:
    """A disclosure string over arbitrary JSON content (to build malformed ones)."""
    return b64url_encode(json.dumps(content).encode())


def craft(payload: dict[str, Any], disclosures: list[str], *, kb: str = "", key=ISSUER_KEY, typ=None) -> str:
    """An SD-JWT with a hand-written issuer payload and hand-written disclosures."""
    token = jws.sign(payload, key, typ=typ)
    return "~".join([token, *disclosures, ""]) + kb


def add_kb(
    presented: str, *, key=HOLDER_KEY, aud=AUD, nonce=NONCE, iat=NOW, typ="kb+jwt", sd_hash=None, **extra
) -> str:
    """Append a KB-JWT (with overridable fields, and `extra` claims) to a presentation ending in '~'."""
    payload = {"iat": iat, "aud": aud, "nonce": nonce, "sd_hash": sd_hash or sd_jwt.sd_hash(presented), **extra}
    return presented + jws.sign(payload, key, typ=typ)


def verify(presentation: str, *, require_key_binding: bool = True, **kwargs):
    options = {"expected_aud": AUD, "expected_nonce": NONCE, "now": NOW}
    options.update(kwargs)
    return sd_jwt.verify_sd_jwt(
        presentation, ISSUER_KEY.public_key(), require_key_binding=require_key_binding, **options
    )


HOLDER_JWK = public_jwk(HOLDER_KEY)
