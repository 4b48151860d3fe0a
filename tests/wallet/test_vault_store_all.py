"""Vault.store_all: the credentials of one offer are stored together or not at all."""

from __future__ import annotations

import pytest

from keys.datakeys import DataKeyStore
from keys.jwk import generate_private_key, public_jwk
from vc.sd_jwt import SDJWTError
from vc.sd_jwt_vc import issue_sd_jwt_vc
from wallet.vault import AccountNotFound, NewCredential, Vault, new_holder_key

MINJI = "citizen-minji-0001"


@pytest.fixture
def vault(platform) -> Vault:
    vault = Vault(platform.engine, DataKeyStore(platform.engine, platform.master_key))
    vault.ensure_account(MINJI)
    return vault


def _new(vct: str, sd_jwt: str | None = None) -> NewCredential:
    holder = new_holder_key()
    claims = {"iss": "https://issuer.example", "vct": vct, "iat": 1_790_000_000, "sub": MINJI}
    token = issue_sd_jwt_vc(claims, generate_private_key(), kid="k", holder_jwk=public_jwk(holder))
    return NewCredential(sd_jwt or token, holder, "https://issuer.example", vct, vct, {"credential": {"name": {}}})


def test_several_credentials_are_stored_together(vault) -> None:
    stored = vault.store_all(MINJI, [_new("urn:a"), _new("urn:b")])
    assert sorted(c.vct for c in vault.list(MINJI)) == ["urn:a", "urn:b"] == sorted(c.vct for c in stored)
    assert vault.open(MINJI, stored[1].id).claims["sub"] == MINJI


def test_one_unreadable_credential_stores_none(vault) -> None:
    with pytest.raises(SDJWTError):
        vault.store_all(MINJI, [_new("urn:a"), _new("urn:b", sd_jwt="not an sd-jwt")])
    assert vault.list(MINJI) == []


def test_a_citizen_without_a_wallet_stores_nothing(vault) -> None:
    with pytest.raises(AccountNotFound):
        vault.store_all("citizen-nobody-0003", [_new("urn:a")])
    assert vault.list("citizen-nobody-0003") == []
