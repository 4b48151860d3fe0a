"""Random identifiers that are safe wherever they travel: URL paths, form fields, log lines and
command lines. base64url can begin with '-', which a command line reads as an option
(`seoul-wallet decision -RKLY…` failed), so such a draw is taken again (1 in 64; 128 bits drawn)."""

from __future__ import annotations

import secrets


def random_identifier(nbytes: int = 16) -> str:
    """A base64url identifier of `nbytes` random bytes that never starts with '-'."""
    while True:
        value = secrets.token_urlsafe(nbytes)
        if not value.startswith("-"):
            return value
