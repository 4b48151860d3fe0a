"""The issuer's secrets, all derived from the master key so the database holds none of them.

- claim values of pending offers are AES-256-GCM sealed, bound to the offer id (a ciphertext moved
  to another offer does not open);
- pre-authorized codes and credential offer URIs are MACs of the offer id, so nothing secret is
  stored and a database dump cannot be turned into a redeemable offer;
- transaction codes (PINs) are kept as keyed MACs: a 6-digit PIN hashed without a key would fall to
  a brute force of a million guesses.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from typing import Any

from keys.envelope import associated_data, decrypt, encrypt
from keys.identifiers import random_identifier
from keys.jwk import b64url_encode
from keys.master import derive_key


def sha256_hex(value: str) -> str:
    """Lookup hash for high-entropy bearer values (access tokens, nonces)."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def new_id(prefix: str = "") -> str:
    """A 128-bit random identifier."""
    return prefix + random_identifier()


class IssuerSecrets:
    """Keys for one deployment, derived once from the master key with HKDF (one key per purpose)."""

    def __init__(self, master_key: bytes) -> None:
        self._claims_key = derive_key(master_key, "seoul-wallet issuers: offer claims v1")
        self._mac_key = derive_key(master_key, "seoul-wallet issuers: offer codes v1")
        self._permutation_key = derive_key(master_key, "seoul-wallet issuers: status index permutation v1")

    # -- claims at rest ----------------------------------------------------------------------------

    def seal_claims(self, offer_id: str, claims: dict[str, Any]) -> bytes:
        plaintext = json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        return encrypt(self._claims_key, plaintext, associated_data("offer-claims", offer_id))

    def open_claims(self, offer_id: str, sealed: bytes) -> dict[str, Any]:
        return json.loads(decrypt(self._claims_key, sealed, associated_data("offer-claims", offer_id)))

    # -- codes derived from the offer id -------------------------------------------------------------

    def _mac(self, purpose: str, value: str) -> str:
        digest = hmac.new(self._mac_key, associated_data(purpose, value), hashlib.sha256).digest()
        return b64url_encode(digest[:24])

    def pre_authorized_code(self, offer_id: str) -> str:
        return f"{offer_id}.{self._mac('pre-authorized-code', offer_id)}"

    def offer_reference(self, offer_id: str) -> str:
        """The unguessable last path segment of the offer's `credential_offer_uri`."""
        return f"{offer_id}.{self._mac('credential-offer-uri', offer_id)}"

    def _check(self, purpose: str, value: str) -> str | None:
        offer_id, dot, mac = value.partition(".") if isinstance(value, str) else ("", "", "")
        if not dot or not offer_id or len(value) > 100:
            return None
        # Compared as bytes: compare_digest refuses non-ASCII str, and input here is attacker-chosen.
        return offer_id if hmac.compare_digest(mac.encode(), self._mac(purpose, offer_id).encode()) else None

    def offer_id_from_code(self, code: str) -> str | None:
        """The offer a pre-authorized code belongs to, or None if the code is not one of ours."""
        return self._check("pre-authorized-code", code)

    def offer_id_from_reference(self, reference: str) -> str | None:
        return self._check("credential-offer-uri", reference)

    def c_nonce(self, agency: str, expires_at: int) -> str:
        """A self-authenticating `c_nonce`: expiry, randomness and a MAC binding both to the agency.
        Issuing one writes nothing; the credential endpoint records it as used (single use)."""
        body = f"{expires_at}.{secrets.token_urlsafe(16)}"
        return f"{body}.{self._mac('c-nonce:' + agency, body)}"

    def check_c_nonce(self, agency: str, nonce: str, now: int) -> bool:
        """True if `nonce` was issued by this agency's nonce endpoint and has not expired."""
        body, dot, mac = nonce.rpartition(".") if isinstance(nonce, str) and len(nonce) <= 120 else ("", "", "")
        if not dot or not hmac.compare_digest(mac.encode(), self._mac("c-nonce:" + agency, body).encode()):
            return False
        expires = body.partition(".")[0]
        return expires.isdigit() and int(expires) > now

    def tx_code_mac(self, offer_id: str, tx_code: str) -> str:
        return hmac.new(self._mac_key, associated_data("tx-code", offer_id, tx_code), hashlib.sha256).hexdigest()

    def status_list_key(self, list_id: str) -> bytes:
        """The key of one list's index permutation."""
        return hmac.new(self._permutation_key, list_id.encode(), hashlib.sha256).digest()
