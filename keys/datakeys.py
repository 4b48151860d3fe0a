"""Per-owner data keys (envelope encryption): created on first use, wrapped by the master key,
destroyed to crypto-shred everything encrypted under them."""

from __future__ import annotations

import time

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from keys.envelope import decrypt_record, encrypt_record, new_data_key, unwrap_data_key, wrap_data_key
from keys.models import DataKey


class DataKeyDestroyed(LookupError):
    """The owner's data key was destroyed: their records can no longer be decrypted."""


class DataKeyStore:
    def __init__(self, engine: Engine, master_key: bytes) -> None:
        self._engine = engine
        self._master_key = master_key

    def key_for(self, owner_id: str, *, create: bool = True) -> bytes:
        """The owner's data key, created on first use (safe against concurrent first use)."""
        with Session(self._engine) as session:
            row = session.get(DataKey, owner_id)
            if row is None and create:
                row = DataKey(
                    owner_id=owner_id,
                    wrapped_key=wrap_data_key(self._master_key, new_data_key(), owner_id),
                    created_at=int(time.time()),
                )
                session.add(row)
                try:
                    session.commit()
                except IntegrityError:
                    session.rollback()
                    row = session.get(DataKey, owner_id)
            if row is None:
                raise DataKeyDestroyed(f"no data key for {owner_id!r}")
            return unwrap_data_key(self._master_key, row.wrapped_key, owner_id)

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
