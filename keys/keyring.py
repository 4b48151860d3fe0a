"""Signing keys per owner: generate on first use, rotate, publish as JWKS, sign, resolve by `kid`.

Owners are plain strings: `platform`, `ledger`, `agency:<slug>`, `verifier:<slug>`. A `kid` resolves
only within the owner a verifier asked for, so a token naming another owner's key is refused.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from keys import jws
from keys.envelope import associated_data, decrypt, encrypt
from keys.jwk import (
    PrivateKey,
    PublicKey,
    SigningAlgorithm,
    generate_private_key,
    load_public_jwk,
    public_jwk,
    thumbprint,
)
from keys.models import SigningKey

DEFAULT_RETIRE_AFTER_SECONDS = 400 * 24 * 3600


@dataclass(frozen=True, slots=True)
class ActiveKey:
    kid: str
    alg: str
    private_key: PrivateKey


@dataclass(frozen=True, slots=True)
class KeyInfo:
    kid: str
    owner: str
    alg: str
    generation: int
    created_at: int
    rotated_at: int | None
    retire_at: int | None
    public_jwk: dict[str, Any]

    @property
    def active(self) -> bool:
        return self.rotated_at is None


def _info(row: SigningKey) -> KeyInfo:
    return KeyInfo(
        kid=row.kid,
        owner=row.owner,
        alg=row.alg,
        generation=row.generation,
        created_at=row.created_at,
        rotated_at=row.rotated_at,
        retire_at=row.retire_at,
        public_jwk=json.loads(row.public_jwk),
    )


class KeyRing:
    """Signing keys of every owner, stored wrapped under the master key."""

    def __init__(self, engine: Engine, master_key: bytes) -> None:
        self._engine = engine
        self._master_key = master_key
        # Decrypted active keys, by owner. Invalidated on rotation in this process; other workers
        # pick up a rotation within `_ACTIVE_TTL` seconds, and old keys stay published meanwhile.
        self._active: dict[str, tuple[float, ActiveKey]] = {}
        # Public keys by (owner, kid) with their retirement time, so a retired key stops verifying.
        self._public: dict[tuple[str, str], tuple[PublicKey, int | None]] = {}
        self._lock = threading.Lock()

    _ACTIVE_TTL = 30.0

    # -- creation and rotation -------------------------------------------------------------------

    def _insert_key(self, session: Session, owner: str, generation: int, alg: SigningAlgorithm) -> SigningKey:
        private = generate_private_key(alg)
        jwk = public_jwk(private)
        kid = thumbprint(jwk)
        der = private.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        row = SigningKey(
            kid=kid,
            owner=owner,
            generation=generation,
            alg=alg,
            public_jwk=json.dumps({**jwk, "kid": kid, "alg": alg, "use": "sig"}),
            private_key_wrapped=encrypt(self._master_key, der, associated_data("signing-key", owner, kid)),
            created_at=int(time.time()),
        )
        session.add(row)
        return row

    def ensure_key(self, owner: str, alg: SigningAlgorithm = "ES256") -> KeyInfo:
        """The owner's active key, generated on first use (safe against concurrent first use)."""
        with Session(self._engine) as session:
            current = self._current_row(session, owner)
            if current is not None:
                return _info(current)
            try:
                row = self._insert_key(session, owner, 1, alg)
                session.commit()
                return _info(row)
            except IntegrityError:
                session.rollback()
        with Session(self._engine) as session:
            current = self._current_row(session, owner)
            assert current is not None, "a concurrent insert won, so a key exists"
            return _info(current)

    def rotate(
        self, owner: str, alg: SigningAlgorithm | None = None, retire_after: int = DEFAULT_RETIRE_AFTER_SECONDS
    ) -> KeyInfo:
        """Make a new key active at once; the previous one stays published for `retire_after` seconds,
        which must cover the lifetime of everything it signed."""
        now = int(time.time())
        with Session(self._engine) as session:
            current = self._current_row(session, owner)
            if current is None:
                row = self._insert_key(session, owner, 1, alg or "ES256")
            else:
                current.rotated_at = now
                current.retire_at = now + retire_after
                session.add(current)
                row = self._insert_key(session, owner, current.generation + 1, alg or current.alg)  # type: ignore[arg-type]
            session.commit()
            info = _info(row)
        with self._lock:
            self._active.pop(owner, None)
        return info

    # -- reading -----------------------------------------------------------------------------------

    @staticmethod
    def _current_row(session: Session, owner: str) -> SigningKey | None:
        statement = (
            select(SigningKey).where(SigningKey.owner == owner).order_by(col(SigningKey.generation).desc()).limit(1)
        )
        return session.exec(statement).first()

    def list_keys(self, owner: str | None = None) -> list[KeyInfo]:
        """Every key, newest first, optionally of one owner."""
        with Session(self._engine) as session:
            statement = select(SigningKey).order_by(col(SigningKey.owner), col(SigningKey.generation).desc())
            if owner is not None:
                statement = statement.where(SigningKey.owner == owner)
            return [_info(row) for row in session.exec(statement)]

    def published_keys(self, owner: str, now: int | None = None) -> list[KeyInfo]:
        """The active key and every rotated key not yet past its retirement time."""
        now = int(time.time()) if now is None else now
        return [k for k in self.list_keys(owner) if k.retire_at is None or k.retire_at > now]

    def jwks(self, owner: str, now: int | None = None) -> dict[str, list[dict[str, Any]]]:
        """The owner's JWKS document (RFC 7517), active key first."""
        return {"keys": [k.public_jwk for k in self.published_keys(owner, now)]}

    def active_key(self, owner: str, alg: SigningAlgorithm = "ES256") -> ActiveKey:
        """The owner's active private key (generated on first use), cached briefly in memory."""
        with self._lock:
            cached = self._active.get(owner)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        info = self.ensure_key(owner, alg)
        with Session(self._engine) as session:
            row = session.get(SigningKey, info.kid)
            assert row is not None
            der = decrypt(self._master_key, row.private_key_wrapped, associated_data("signing-key", owner, row.kid))
        private = serialization.load_der_private_key(der, password=None)
        active = ActiveKey(kid=info.kid, alg=info.alg, private_key=private)  # type: ignore[arg-type]
        with self._lock:
            self._active[owner] = (time.monotonic() + self._ACTIVE_TTL, active)
        return active

    def public_key(self, owner: str, kid: str, now: int | None = None) -> PublicKey:
        """A published public key of `owner` by `kid`; `jws.UnknownKey` if it is not one of theirs."""
        now = int(time.time()) if now is None else now
        cached = self._public.get((owner, kid))
        if cached is not None and (cached[1] is None or cached[1] > now):
            # A key cached while active may have been rotated since by another worker: its retirement
            # time is re-read on the slow path once the cached one would have expired.
            return cached[0]
        for info in self.published_keys(owner, now):
            if info.kid == kid:
                key = load_public_jwk({k: v for k, v in info.public_jwk.items() if k in ("kty", "crv", "x", "y")})
                # An active key has no retirement time yet; re-check it at most every _ACTIVE_TTL seconds.
                expires = info.retire_at if info.retire_at is not None else now + int(self._ACTIVE_TTL)
                self._public[(owner, kid)] = (key, expires)
                return key
        raise jws.UnknownKey(f"no published key {kid!r} for {owner!r}")

    def resolver(self, owner: str) -> jws.KeyResolver:
        """A `jws.verify` key resolver over the owner's published keys, by the header's `kid`."""

        def resolve(header: dict[str, Any], payload: dict[str, Any]) -> PublicKey:
            kid = header.get("kid")
            if not isinstance(kid, str):
                raise jws.UnknownKey("the token names no kid")
            return self.public_key(owner, kid)

        return resolve

    # -- signing -----------------------------------------------------------------------------------

    def sign(
        self, owner: str, payload: dict[str, Any], *, typ: str | None = None, headers: dict[str, Any] | None = None
    ) -> str:
        """Sign with the owner's active key; the header names it by `kid`."""
        key = self.active_key(owner)
        return jws.sign(payload, key.private_key, typ=typ, kid=key.kid, headers=headers)
