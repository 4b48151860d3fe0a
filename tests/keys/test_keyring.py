"""Signing keys in the database: generation, encryption at rest, rotation, JWKS, owner isolation."""

from __future__ import annotations

import threading

import pytest
from sqlmodel import Session, select

from keys import jws
from keys.jwk import thumbprint
from keys.keyring import KeyRing
from keys.models import SigningKey


def test_kid_is_the_rfc7638_thumbprint_and_private_keys_are_encrypted(platform) -> None:
    info = platform.keyring.ensure_key("agency:mois")
    assert info.kid == thumbprint(info.public_jwk)
    assert "d" not in info.public_jwk
    with Session(platform.engine) as session:
        row = session.get(SigningKey, info.kid)
    assert b"PRIVATE KEY" not in row.private_key_wrapped
    # The wrapped key is useless under another master key.
    other = KeyRing(platform.engine, b"\x00" * 32)
    other._active.clear()
    with pytest.raises(ValueError):
        other.active_key("agency:mois")


def test_eddsa_keys_for_the_ledger(platform) -> None:
    info = platform.keyring.ensure_key("ledger", "EdDSA")
    assert info.public_jwk["kty"] == "OKP" and info.public_jwk["crv"] == "Ed25519"
    token = platform.keyring.sign("ledger", {"hello": "world"})
    assert jws.verify(token, platform.keyring.resolver("ledger")).payload == {"hello": "world"}


def test_rotation_keeps_old_tokens_verifiable_until_retirement(platform) -> None:
    ring = platform.keyring
    old = ring.ensure_key("agency:nts")
    old_token = ring.sign("agency:nts", {"n": 1})
    new = ring.rotate("agency:nts", retire_after=3600)
    assert new.kid != old.kid
    new_token = ring.sign("agency:nts", {"n": 2})
    assert jws.read_header(new_token)["kid"] == new.kid
    assert [k["kid"] for k in ring.jwks("agency:nts")["keys"]] == [new.kid, old.kid]
    assert jws.verify(old_token, ring.resolver("agency:nts")).payload == {"n": 1}
    # After the retirement time the old key is no longer published nor accepted.
    later = old.created_at + 7200 + 10
    assert [k["kid"] for k in ring.jwks("agency:nts", now=later)["keys"]] == [new.kid]
    with pytest.raises(jws.UnknownKey):
        ring.public_key("agency:nts", old.kid, now=later)


def test_kid_of_another_owner_is_refused(platform) -> None:
    ring = platform.keyring
    ring.ensure_key("agency:a")
    ring.ensure_key("agency:b")
    token_by_b = ring.sign("agency:b", {"sub": "x"})
    with pytest.raises(jws.UnknownKey):
        jws.verify(token_by_b, ring.resolver("agency:a"))


def test_concurrent_first_use_yields_one_key(platform) -> None:
    results: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            results.append(KeyRing(platform.engine, platform.keyring._master_key).ensure_key("verifier:race").kid)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(set(results)) == 1
    with Session(platform.engine) as session:
        assert len(session.exec(select(SigningKey).where(SigningKey.owner == "verifier:race")).all()) == 1
