"""A bearer token's signature is verified once per worker, not once per call (issue 15), and no
check is lost to it: the key is still looked up in the fresh key set on every use, `exp` and the
scopes are checked every time, and a token changed by one byte is verified anew.

Each test goes through the platform's own bearer check (`AccessTokenService.validate`, the one
every API dependency calls), on a real keyring in the test database."""

from __future__ import annotations

import time

import pytest
from authlib.oauth2.rfc6750.errors import InsufficientScopeError, InvalidTokenError

from auth.tokens import JWKS_CACHE_SECONDS
from keys import jws


def _token(platform, scopes: list[str], ttl: int = 3600) -> str:
    return platform.tokens.issue("agency:mois", "c_mois", scopes, ttl=ttl)


def _verifications(platform, monkeypatch) -> list[str]:
    """Count the signature verifications the validator makes from here on."""
    calls: list[str] = []
    validator = platform.tokens.validator
    parent = type(validator).__mro__[1].authenticate_token

    def counted(self, token_string):
        calls.append(token_string)
        return parent(self, token_string)

    monkeypatch.setattr(type(validator).__mro__[1], "authenticate_token", counted)
    return calls


def test_a_token_used_again_is_not_verified_again(platform, monkeypatch) -> None:
    token = _token(platform, ["credentials:offer"])
    calls = _verifications(platform, monkeypatch)
    first = platform.tokens.validate(token, ["credentials:offer"])
    first.claims["scope"] = "everything"  # a route that changes what it was given changes nothing kept
    again = platform.tokens.validate(token, ["credentials:offer"])
    assert calls == [token]
    assert again.subject == "agency:mois" and again.scopes == frozenset({"credentials:offer"})


def test_a_changed_token_is_verified_and_refused(platform) -> None:
    token = _token(platform, ["credentials:offer"])
    platform.tokens.validate(token, ["credentials:offer"])
    header, payload, signature = token.split(".")
    forged = ".".join((header, payload, signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")))
    with pytest.raises(InvalidTokenError):
        platform.tokens.validate(forged, ["credentials:offer"])


def test_scopes_are_checked_on_every_use(platform) -> None:
    token = _token(platform, ["credentials:offer"])
    platform.tokens.validate(token, ["credentials:offer"])
    with pytest.raises(InsufficientScopeError):
        platform.tokens.validate(token, ["verifiers:admin"])


def test_an_expired_token_is_refused_though_its_signature_was_verified(platform) -> None:
    token = _token(platform, ["credentials:offer"], ttl=1)
    platform.tokens.validate(token, ["credentials:offer"])
    time.sleep(2.1)
    with pytest.raises(InvalidTokenError):
        platform.tokens.validate(token, ["credentials:offer"])


def test_a_retired_key_refuses_its_tokens_once_the_key_set_is_read_again(platform, monkeypatch) -> None:
    token = _token(platform, ["credentials:offer"])
    platform.tokens.validate(token, ["credentials:offer"])  # verified, and kept as verified
    old_kid = jws.read_header(token)["kid"]
    platform.keyring.rotate("platform", retire_after=0)  # the old key is no longer published
    assert old_kid not in {key["kid"] for key in platform.keyring.jwks("platform")["keys"]}
    # The worker's copy of the key set expires (JWKS_CACHE_SECONDS); the kept verification does not.
    later = time.monotonic() + JWKS_CACHE_SECONDS + 1
    monkeypatch.setattr("auth.tokens.time.monotonic", lambda: later)
    with pytest.raises(InvalidTokenError):
        platform.tokens.validate(token, ["credentials:offer"])
