"""The vault: a citizen's credentials and holder keys are encrypted records only she reaches."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import text

from keys.datakeys import DataKeyStore
from keys.envelope import DecryptionError
from keys.jwk import b64url_encode, generate_private_key, public_jwk
from vc.sd_jwt_vc import issue_sd_jwt_vc
from wallet.vault import CredentialNotFound, Vault, new_holder_key

MINJI, JUNHO = "citizen-minji-0001", "citizen-junho-0002"
BIRTH_DATE = "2001-03-04"


@pytest.fixture
def vault(platform) -> Vault:
    vault = Vault(platform.engine, DataKeyStore(platform.engine, platform.master_key))
    vault.ensure_account(MINJI)
    vault.ensure_account(JUNHO)
    return vault


def _credential(holder) -> str:
    issuer_key = generate_private_key("ES256")
    claims = {
        "iss": "https://issuer.example",
        "vct": "urn:example:resident:1",
        "iat": 1_790_000_000,
        "exp": 4_000_000_000,
        "status": {"status_list": {"idx": 7, "uri": "https://issuer.example/status/1"}},
        "sub": MINJI,
        "birth_date": BIRTH_DATE,
    }
    return issue_sd_jwt_vc(
        claims,
        issuer_key,
        kid="k1",
        disclosable=[("sub",), ("birth_date",)],
        holder_jwk=public_jwk(holder.public_key()),
    )


def _store(vault: Vault, citizen: str = MINJI):
    holder = new_holder_key()
    sd_jwt = _credential(holder)
    stored = vault.store(
        citizen,
        sd_jwt=sd_jwt,
        holder_key=holder,
        issuer="https://issuer.example",
        vct="urn:example:resident:1",
        configuration_id="resident_registration",
        display={"name": {"ko": "주민등록 정보"}},
    )
    return stored, sd_jwt, holder


def test_a_stored_credential_opens_for_its_citizen_only(vault) -> None:
    stored, sd_jwt, holder = _store(vault)
    assert (stored.status_idx, stored.status_uri, stored.expires_at) == (7, "https://issuer.example/status/1", 4e9)
    opened = vault.open(MINJI, stored.id)
    assert opened.sd_jwt == sd_jwt and opened.claims["birth_date"] == BIRTH_DATE
    assert public_jwk(opened.holder_key.public_key()) == public_jwk(holder.public_key())
    assert [c.id for c in vault.list(MINJI)] == [stored.id] and vault.list(JUNHO) == []
    for call in (vault.open, vault.get, vault.delete):
        with pytest.raises(CredentialNotFound):
            call(JUNHO, stored.id)
    assert vault.get(MINJI, stored.id).id == stored.id  # Junho's attempts changed nothing


def test_a_database_dump_holds_no_claim_value_and_no_private_key(vault, platform) -> None:
    _, sd_jwt, holder = _store(vault)
    d = holder.private_numbers().private_value.to_bytes(32, "big")
    der = holder.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with platform.engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM wallet_credentials")).all()
    dump = b"".join(v if isinstance(v, bytes) else str(v).encode() for row in rows for v in row)
    for secret in (BIRTH_DATE.encode(), sd_jwt.split("~")[1].encode(), d, der, b64url_encode(d).encode()):
        assert secret not in dump


def test_a_record_moved_to_another_row_does_not_open(vault, platform) -> None:
    first, _, _ = _store(vault)
    second, _, _ = _store(vault)
    with platform.engine.begin() as connection:
        sealed = connection.execute(
            text("SELECT sealed_credential FROM wallet_credentials WHERE id = :id"), {"id": first.id}
        ).scalar()
        connection.execute(
            text("UPDATE wallet_credentials SET sealed_credential = :s WHERE id = :id"), {"s": sealed, "id": second.id}
        )
    assert vault.open(MINJI, first.id).claims["birth_date"] == BIRTH_DATE
    with pytest.raises(DecryptionError):
        vault.open(MINJI, second.id)


def test_erasing_a_vault_shreds_its_key_and_rows(vault) -> None:
    _store(vault)
    _store(vault, JUNHO)
    assert vault.erase(MINJI) == 1
    assert vault.list(MINJI) == [] and not vault.has_account(MINJI)
    assert len(vault.list(JUNHO)) == 1
