"""Envelope encryption: AES-256-GCM records under per-owner data keys wrapped by the master key.

Each ciphertext is `version (1 byte) || nonce (12 bytes) || AES-GCM(ciphertext || tag)`. The
associated data binds a ciphertext to where it belongs (owner id, record id), so a ciphertext copied
to another owner or record fails to decrypt. Destroying an owner's wrapped data key makes every record
under it unreadable (crypto-shredding).
"""

from __future__ import annotations

import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = b"\x01"
_NONCE_BYTES = 12
DATA_KEY_BYTES = 32


class DecryptionError(ValueError):
    """The ciphertext is corrupt, was moved to another owner or record, or its key is gone."""


def associated_data(*parts: str) -> bytes:
    """Length-prefixed concatenation, so ("ab", "c") and ("a", "bc") never collide."""
    out = bytearray()
    for part in parts:
        encoded = part.encode("utf-8")
        out += len(encoded).to_bytes(4, "big") + encoded
    return bytes(out)


def encrypt(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """AES-256-GCM with a random 96-bit nonce; `aad` is authenticated, not stored."""
    nonce = secrets.token_bytes(_NONCE_BYTES)
    return _VERSION + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def decrypt(key: bytes, ciphertext: bytes, aad: bytes) -> bytes:
    """Inverse of `encrypt`; raises `DecryptionError` on any mismatch."""
    if len(ciphertext) < 1 + _NONCE_BYTES + 16 or ciphertext[:1] != _VERSION:
        raise DecryptionError("ciphertext is truncated or of an unknown version")
    try:
        return AESGCM(key).decrypt(ciphertext[1 : 1 + _NONCE_BYTES], ciphertext[1 + _NONCE_BYTES :], aad)
    except InvalidTag:
        raise DecryptionError("ciphertext does not authenticate under this key and context") from None


def new_data_key() -> bytes:
    """A fresh 256-bit data key."""
    return secrets.token_bytes(DATA_KEY_BYTES)


def wrap_data_key(master_key: bytes, data_key: bytes, owner_id: str) -> bytes:
    """Encrypt an owner's data key under the master key, bound to that owner."""
    return encrypt(master_key, data_key, associated_data("data-key", owner_id))


def unwrap_data_key(master_key: bytes, wrapped: bytes, owner_id: str) -> bytes:
    """Recover an owner's data key; fails if the wrapped key belongs to another owner."""
    return decrypt(master_key, wrapped, associated_data("data-key", owner_id))


def encrypt_record(data_key: bytes, plaintext: bytes, owner_id: str, record_id: str) -> bytes:
    """Encrypt one record of an owner; the owner and record ids are the associated data."""
    return encrypt(data_key, plaintext, associated_data("record", owner_id, record_id))


def decrypt_record(data_key: bytes, ciphertext: bytes, owner_id: str, record_id: str) -> bytes:
    """Decrypt one record; fails if it was moved to another owner or record id."""
    return decrypt(data_key, ciphertext, associated_data("record", owner_id, record_id))
