"""The master key (key-encryption key): from the environment or a 0600 key file, never the database."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from keys.jwk import b64url_decode, b64url_encode

MASTER_KEY_BYTES = 32


class MasterKeyError(RuntimeError):
    """The master key is missing, malformed or stored unsafely; the service must not start."""


def derive_key(master_key: bytes, purpose: str) -> bytes:
    """A 32-byte key for one purpose, derived from the master key with HKDF-SHA-256 (RFC 5869).

    `purpose` is the HKDF info: one distinct, versioned string per use, so no two uses share a key."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(master_key)


def _parse(encoded: str, source: str) -> bytes:
    try:
        key = b64url_decode(encoded.strip())
    except ValueError:
        raise MasterKeyError(f"{source}: the master key is not base64url") from None
    if len(key) != MASTER_KEY_BYTES:
        raise MasterKeyError(f"{source}: the master key must be {MASTER_KEY_BYTES} bytes, found {len(key)}")
    return key


def load_master_key(env_value: str | None, key_file: Path) -> bytes:
    """Return the 32-byte master key.

    `env_value` (from SEOUL_WALLET_MASTER_KEY) wins when set. Otherwise the key file is read, or
    created with mode 0600 on first run. A key file readable or writable by group or others, or one
    that does not hold exactly 32 base64url-encoded bytes, is refused with a message saying how to fix it.
    """
    if env_value:
        return _parse(env_value, "SEOUL_WALLET_MASTER_KEY")
    if not key_file.exists():
        return _create_key_file(key_file)
    mode = stat.S_IMODE(key_file.stat().st_mode)
    if mode & 0o077:
        raise MasterKeyError(
            f"{key_file}: the master key file has mode {mode:04o}; it must be readable by its owner only "
            f"(run: chmod 600 {key_file})"
        )
    return _parse(key_file.read_text(encoding="ascii", errors="replace"), str(key_file))


def _create_key_file(key_file: Path) -> bytes:
    key = secrets.token_bytes(MASTER_KEY_BYTES)
    key_file.parent.mkdir(parents=True, exist_ok=True)
    # Written whole to a private temporary file, then linked into place: two workers starting at
    # once never see a half-written key, and link() fails if another worker's key is already there.
    temporary = key_file.with_name(f".{key_file.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(b64url_encode(key) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, key_file)
        except FileExistsError:
            return load_master_key(None, key_file)
    finally:
        temporary.unlink(missing_ok=True)
    return key
