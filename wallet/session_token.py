"""The citizen's platform access token, kept in her browser session for the one page step that
needs it (applying for a service: the verifier binds the check to whoever the token names).

The session cookie is signed, not encrypted, so the token goes in sealed: AES-256-GCM under a key
derived from the master key, bound to the citizen it was issued for, with its expiry. A token that
has expired, does not open, or names another citizen is no token: the page sends the citizen to
sign in again (with the provider's session still open, that is one redirect, no password).
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from keys.master import derive_key

SESSION_KEY = "access"
_PURPOSE = "seoul-wallet: wallet session access token v1"
_SKEW = 30  # seconds: a token about to expire is not worth a failed call


class SessionTokens:
    def __init__(self, master_key: bytes, clock: Callable[[], float] = time.time) -> None:
        self._aead = AESGCM(derive_key(master_key, _PURPOSE))
        self.clock = clock

    def seal(self, session: dict[str, Any], citizen_id: str, token: str, expires_in: Any) -> None:
        """Put the token in the session, sealed; a token without a usable lifetime is not kept."""
        if not isinstance(token, str) or type(expires_in) is not int or expires_in <= 0:
            session.pop(SESSION_KEY, None)
            return
        body = json.dumps({"t": token, "exp": int(self.clock()) + expires_in}).encode()
        nonce = os.urandom(12)
        sealed = nonce + self._aead.encrypt(nonce, body, citizen_id.encode())
        session[SESSION_KEY] = base64.urlsafe_b64encode(sealed).decode()

    def open(self, session: dict[str, Any], citizen_id: str) -> str | None:
        """The citizen's token from the session, or None (absent, expired, tampered, someone else's)."""
        sealed = session.get(SESSION_KEY)
        if not isinstance(sealed, str):
            return None
        try:
            raw = base64.urlsafe_b64decode(sealed.encode())
            body = json.loads(self._aead.decrypt(raw[:12], raw[12:], citizen_id.encode()))
        except (ValueError, InvalidTag):
            return None
        if not isinstance(body, dict) or not isinstance(body.get("t"), str) or type(body.get("exp")) is not int:
            return None
        return body["t"] if self.clock() < body["exp"] - _SKEW else None
