"""Citizens' passwords at the built-in OpenID provider: scrypt (RFC 7914) from the standard library.

A stored hash names its parameters (`scrypt$N$r$p$salt$hash`), so they can be raised later without
invalidating the accounts that exist.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from keys.jwk import b64url_decode, b64url_encode

# N = 2^15, r = 8: 32 MiB and roughly 0.1 s per guess on a server core, a cost that stays acceptable
# for a sign-in and makes an offline guess over a stolen table expensive.
_N, _R, _P = 2**15, 8, 1
_KEY_BYTES = 32
_SALT_BYTES = 16
_MAXMEM = 64 * 1024 * 1024
MIN_PASSWORD_LENGTH = 8
# Bounds the work an attacker can make one sign-in attempt cost.
MAX_PASSWORD_LENGTH = 256


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=_KEY_BYTES, maxmem=_MAXMEM)


def hash_password(password: str) -> str:
    """A salted scrypt hash of `password`, with its parameters, for storing."""
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise ValueError(f"a password has {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters")
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = _scrypt(password, salt, _N, _R, _P)
    return f"scrypt${_N}${_R}${_P}${b64url_encode(salt)}${b64url_encode(digest)}"


# Verifying against this when the account does not exist takes as long as a real check, so the time
# a sign-in takes does not tell which platform ids have accounts.
_DECOY = f"scrypt${_N}${_R}${_P}${b64url_encode(bytes(_SALT_BYTES))}${b64url_encode(bytes(_KEY_BYTES))}"


def verify_password(password: str, stored: str | None) -> bool:
    """Whether `password` matches the stored hash; `stored=None` (no such account) is always False,
    after the same work."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        scheme, n, r, p, salt, digest = (stored or _DECOY).split("$")
        if scheme != "scrypt":
            return False
        computed = _scrypt(password, b64url_decode(salt), int(n), int(r), int(p))
        return hmac.compare_digest(computed, b64url_decode(digest)) and stored is not None
    except ValueError:
        return False
