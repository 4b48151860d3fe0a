"""The citizen's vault: credentials and their holder keys, encrypted per citizen.

Each citizen has a data key (keys/datakeys.py, wrapped by the master key). A credential is an
AES-256-GCM record under it, with the citizen and the record id as associated data, so a record
copied to another citizen or another row does not open; its holder key (one ES256 key per
credential, so two credentials cannot be linked by their `cnf`) is a second record. Destroying the
data key erases the whole vault (crypto-shredding).

A citizen only ever reaches her own records: every lookup is by (citizen, id), and someone else's id
answers exactly like an id that does not exist.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import delete, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from keys.datakeys import DataKeyStore
from keys.identifiers import random_identifier
from keys.jwk import public_jwk, thumbprint
from keys.subjects import check_platform_id
from vc.sd_jwt import SDJWT, parse_sd_jwt
from vc.status_list import StatusListError, status_reference
from wallet.models import WalletAccount, WalletCredential

_CREDENTIALS = WalletCredential.__table__
STATUSES = ("valid", "revoked", "suspended")


class VaultError(Exception):
    """A vault operation is refused; `reason` is stable, the message is for people."""

    reason = "vault_error"


class CredentialNotFound(VaultError):
    reason = "credential_not_found"


class AccountNotFound(VaultError):
    reason = "account_not_found"


def data_key_owner(citizen_id: str) -> str:
    """The owner id of a citizen's vault data key."""
    return f"wallet:citizen:{citizen_id}"


@dataclass(frozen=True, slots=True)
class StoredCredential:
    """What the wallet knows of a credential without opening it: no claim value."""

    id: str
    citizen_id: str
    issuer: str
    vct: str
    configuration_id: str
    display: dict[str, Any]
    issued_at: int
    expires_at: int | None
    received_at: int
    status: str
    status_uri: str | None
    status_idx: int | None
    status_checked_at: int | None

    def usable(self, now: float) -> bool:
        """Valid for presenting: not revoked or suspended, not expired."""
        return self.status == "valid" and (self.expires_at is None or now < self.expires_at)


@dataclass(frozen=True)
class OpenedCredential:
    """A decrypted credential: the SD-JWT as issued, its claims, and the holder key."""

    stored: StoredCredential
    sd_jwt: str
    parsed: SDJWT
    holder_key: ec.EllipticCurvePrivateKey

    @property
    def claims(self) -> dict[str, Any]:
        """Every claim, with every disclosure applied (the holder sees all of her credential)."""
        return {k: v for k, v in self.parsed.claims.items() if k not in ("_sd", "_sd_alg")}


@dataclass(frozen=True)
class NewCredential:
    """A verified credential to store, with its holder key and the issuer's display metadata."""

    sd_jwt: str
    holder_key: ec.EllipticCurvePrivateKey = field(repr=False)
    issuer: str
    vct: str
    configuration_id: str
    display: dict[str, Any]


def new_holder_key() -> ec.EllipticCurvePrivateKey:
    """A fresh ES256 holder key: one per credential."""
    return ec.generate_private_key(ec.SECP256R1())


def _seconds(value: Any) -> int | None:
    """A JWT NumericDate (RFC 7519 §2: integer or not) as whole seconds, None when absent or absurd.
    Not rounded up: a credential is treated as expired from the second its `exp` falls in."""
    if type(value) not in (int, float) or not 0 <= value < 2**53:
        return None
    return int(value)


def _stored(row: WalletCredential) -> StoredCredential:
    return StoredCredential(
        id=row.id,
        citizen_id=row.citizen_id,
        issuer=row.issuer,
        vct=row.vct,
        configuration_id=row.configuration_id,
        display=json.loads(row.display),
        issued_at=row.issued_at,
        expires_at=row.expires_at,
        received_at=row.received_at,
        status=row.status,
        status_uri=row.status_uri,
        status_idx=row.status_idx,
        status_checked_at=row.status_checked_at,
    )


class Vault:
    def __init__(self, engine: Engine, data_keys: DataKeyStore, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.data_keys = data_keys
        self.clock = clock

    # -- accounts -----------------------------------------------------------------------------------

    def ensure_account(self, citizen_id: str) -> None:
        """Create the citizen's wallet on first sign-in (idempotent, safe when two requests race)."""
        check_platform_id(citizen_id)
        with Session(self.engine) as session:
            if session.get(WalletAccount, citizen_id) is not None:
                return
            session.add(WalletAccount(citizen_id=citizen_id, created_at=int(self.clock())))
            try:
                session.commit()
            except IntegrityError:
                session.rollback()  # another request created it first

    def has_account(self, citizen_id: str) -> bool:
        with Session(self.engine) as session:
            return session.get(WalletAccount, citizen_id) is not None

    # -- credentials --------------------------------------------------------------------------------

    def store(
        self,
        citizen_id: str,
        *,
        sd_jwt: str,
        holder_key: ec.EllipticCurvePrivateKey,
        issuer: str,
        vct: str,
        configuration_id: str,
        display: dict[str, Any],
    ) -> StoredCredential:
        """Store a credential the caller has verified (wallet/receive.py does, before calling this).
        Dates and the status reference are read from the credential itself."""
        new = NewCredential(sd_jwt, holder_key, issuer, vct, configuration_id, display)
        return self.store_all(citizen_id, [new])[0]

    def store_all(self, citizen_id: str, credentials: Sequence[NewCredential]) -> list[StoredCredential]:
        """Store several verified credentials in one transaction: all of them or none (an offer
        may carry several, and a failure must leave nothing behind)."""
        if not self.has_account(citizen_id):
            raise AccountNotFound("the citizen has no wallet")
        rows = [self._new_row(citizen_id, new) for new in credentials]
        with Session(self.engine, expire_on_commit=False) as session:
            session.add_all(rows)
            session.commit()
        return [_stored(row) for row in rows]

    def _new_row(self, citizen_id: str, new: NewCredential) -> WalletCredential:
        sd_jwt, holder_key = new.sd_jwt, new.holder_key
        parsed = parse_sd_jwt(sd_jwt)
        payload = parsed.payload
        try:
            reference = status_reference(payload)
        except StatusListError:
            reference = None
        now = int(self.clock())
        credential_id = random_identifier()
        owner = data_key_owner(citizen_id)
        key_der = holder_key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        row = WalletCredential(
            id=credential_id,
            citizen_id=citizen_id,
            issuer=new.issuer,
            vct=new.vct,
            configuration_id=new.configuration_id,
            display=json.dumps(new.display, ensure_ascii=False),
            issued_at=_seconds(payload.get("iat")) or now,
            expires_at=_seconds(payload.get("exp")),
            received_at=now,
            status_idx=reference[0] if reference else None,
            status_uri=reference[1] if reference else None,
            status="valid",
            status_checked_at=now,
            holder_jkt=thumbprint(public_jwk(holder_key.public_key())),
            sealed_credential=self.data_keys.encrypt(owner, credential_id, sd_jwt.encode("ascii")),
            sealed_holder_key=self.data_keys.encrypt(owner, f"{credential_id}/holder-key", key_der),
        )
        return row

    def list(self, citizen_id: str) -> list[StoredCredential]:
        """The citizen's credentials, newest first."""
        with Session(self.engine) as session:
            rows = session.exec(
                select(WalletCredential)
                .where(WalletCredential.citizen_id == citizen_id)
                .order_by(WalletCredential.received_at.desc(), WalletCredential.id)  # type: ignore[attr-defined]
            ).all()
            return [_stored(row) for row in rows]

    def _row(self, session: Session, citizen_id: str, credential_id: str) -> WalletCredential:
        row = session.get(WalletCredential, credential_id)
        if row is None or row.citizen_id != citizen_id:
            raise CredentialNotFound("no such credential")
        return row

    def get(self, citizen_id: str, credential_id: str) -> StoredCredential:
        with Session(self.engine) as session:
            return _stored(self._row(session, citizen_id, credential_id))

    def open(self, citizen_id: str, credential_id: str) -> OpenedCredential:
        """Decrypt one of the citizen's credentials with its holder key."""
        with Session(self.engine) as session:
            row = self._row(session, citizen_id, credential_id)
            stored = _stored(row)
            sealed_credential, sealed_key = row.sealed_credential, row.sealed_holder_key
        owner = data_key_owner(citizen_id)
        sd_jwt = self.data_keys.decrypt(owner, credential_id, sealed_credential).decode("ascii")
        key = serialization.load_der_private_key(
            self.data_keys.decrypt(owner, f"{credential_id}/holder-key", sealed_key), password=None
        )
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return OpenedCredential(stored=stored, sd_jwt=sd_jwt, parsed=parse_sd_jwt(sd_jwt), holder_key=key)

    def open_usable(self, citizen_id: str) -> list[OpenedCredential]:
        """Every credential the citizen may present now: valid status, not expired."""
        now = self.clock()
        return [self.open(citizen_id, c.id) for c in self.list(citizen_id) if c.usable(now)]

    def delete(self, citizen_id: str, credential_id: str) -> None:
        """Remove one of the citizen's credentials (its holder key goes with it)."""
        with Session(self.engine) as session:
            result = session.execute(
                delete(WalletCredential).where(
                    WalletCredential.id == credential_id,  # type: ignore[arg-type]
                    WalletCredential.citizen_id == citizen_id,  # type: ignore[arg-type]
                )
            )
            session.commit()
        if not result.rowcount:  # type: ignore[attr-defined]
            raise CredentialNotFound("no such credential")

    def set_status(self, credential_id: str, status: str, checked_at: int | None = None) -> None:
        """Record what the credential's status list said (the background status check calls this)."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        with self.engine.begin() as connection:
            connection.execute(
                update(_CREDENTIALS)
                .where(_CREDENTIALS.c.id == credential_id)
                .values(status=status, status_checked_at=int(self.clock()) if checked_at is None else checked_at)
            )

    def erase(self, citizen_id: str) -> int:
        """Erase the citizen's vault: destroy the data key (every record becomes unreadable), then
        delete the rows and the account. Returns how many credentials were erased."""
        self.data_keys.destroy(data_key_owner(citizen_id))
        with self.engine.begin() as connection:
            result = connection.execute(delete(_CREDENTIALS).where(_CREDENTIALS.c.citizen_id == citizen_id))
            connection.execute(
                delete(WalletAccount.__table__).where(WalletAccount.__table__.c.citizen_id == citizen_id)
            )
        return int(result.rowcount or 0)
