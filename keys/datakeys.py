"""Per-owner data keys (envelope encryption): created on first use, wrapped by the master key,
destroyed to crypto-shred everything encrypted under them."""

from __future__ import annotations

import time

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from keys.envelope import decrypt_record, encrypt_record, new_data_key, unwrap_data_key, wrap_data_key
from keys.models import DataKey
from storage.reads import read_connection


class DataKeyDestroyed(LookupError):
    """The owner's data key was destroyed: their records can no longer be decrypted."""


# Built once: constructing a statement costs more client CPU than PostgreSQL's answer to it, and
# every decryption and encryption reads the key (bench/RESULTS.md, "statements built once").
_WRAPPED_KEY = select(DataKey.__table__.c.wrapped_key).where(DataKey.__table__.c.owner_id == bindparam("owner"))  # type: ignore[attr-defined]


class DataKeyStore:
    def __init__(self, engine: Engine, master_key: bytes) -> None:
        self._engine = engine
        self._master_key = master_key

    def key_for(self, owner_id: str, *, create: bool = True) -> bytes:
        """The owner's data key, created on first use (safe against concurrent first use). Never
        cached: once `destroy` deletes it, no worker can use it again."""
        # The common case, a key that exists, is one read outside a transaction.
        with read_connection(self._engine) as connection:
            wrapped = connection.execute(_WRAPPED_KEY, {"owner": owner_id}).scalar_one_or_none()
        if wrapped is None and create:
            with Session(self._engine) as session:
                wrapped = wrap_data_key(self._master_key, new_data_key(), owner_id)
                session.add(DataKey(owner_id=owner_id, wrapped_key=wrapped, created_at=int(time.time())))
                try:
                    session.commit()
                except IntegrityError:  # a concurrent first use created it: use that one
                    session.rollback()
                    row = session.get(DataKey, owner_id)
                    wrapped = None if row is None else row.wrapped_key
        if wrapped is None:
            raise DataKeyDestroyed(f"no data key for {owner_id!r}")
        return unwrap_data_key(self._master_key, wrapped, owner_id)

    def encrypt(self, owner_id: str, record_id: str, plaintext: bytes) -> bytes:
        """Encrypt one record of `owner_id` under their data key."""
        return encrypt_record(self.key_for(owner_id), plaintext, owner_id, record_id)

    def decrypt(self, owner_id: str, record_id: str, ciphertext: bytes) -> bytes:
        """Decrypt one record; `DataKeyDestroyed` after `destroy`."""
        return decrypt_record(self.key_for(owner_id, create=False), ciphertext, owner_id, record_id)

    def destroy(self, owner_id: str) -> bool:
        """Delete the wrapped data key: every record under it becomes unreadable."""
        with Session(self._engine) as session:
            row = session.get(DataKey, owner_id)
            if row is None:
                return False
            session.delete(row)
            session.commit()
        return True
