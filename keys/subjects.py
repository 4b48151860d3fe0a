"""Who a credential is about: the citizen's platform id, and the pairwise subjects services see.

Every credential our agencies issue carries `sub`, the citizen's pseudonymous platform id (never a
resident registration number). It ties the credentials of one response to one person. A service
never sees it: it sees a pairwise subject (OpenID Connect Core 1.0 §8.1), a keyed hash of the
service's sector identifier and the platform id, stable for that service and unlinkable across
services. Decisions carry it, and the platform's OpenID provider gives the same value as `sub` to a
service that signs citizens in, so a backend can match a decision to its signed-in applicant.

The key is derived from the master key, so the database holds nothing that computes the mapping.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from keys.jwk import b64url_encode
from keys.master import derive_key

SUBJECT_CLAIM = "sub"  # the binding claim: SD-JWT VC's `sub`, selectively disclosable
# A platform id: 8 to 64 URL-safe characters (it becomes `citizen:<id>` in the consent ledger).
PLATFORM_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
# A resident registration number (주민등록번호): six digits, optional dash, seven digits.
_RRN = re.compile(r"\d{6}-?\d{7}")
# A pairwise subject: base64url of an HMAC-SHA-256, 43 characters.
PAIRWISE_SUBJECT = re.compile(r"[A-Za-z0-9_-]{43}")


class SubjectError(ValueError):
    """A value is not a pseudonymous platform id."""


def check_platform_id(value: object) -> str:
    """`value` if it is a platform id; `SubjectError` (saying why, never echoing it) otherwise."""
    if not isinstance(value, str) or not PLATFORM_ID.fullmatch(value):
        raise SubjectError("a platform id is 8 to 64 letters, digits, '-' or '_'")
    if _RRN.search(value):
        raise SubjectError("a platform id must be pseudonymous, never a resident registration number")
    return value


def verifier_sector(slug: str) -> str:
    """The sector identifier of a verifier (service backend): its OAuth subject on the platform."""
    return f"verifier:{slug}"


class PairwiseSubjects:
    """Computes pairwise subjects under one key derived from the master key."""

    def __init__(self, master_key: bytes) -> None:
        self._key = derive_key(master_key, "seoul-wallet: pairwise subjects v1")

    def for_sector(self, sector: str, platform_id: str) -> str:
        """The pairwise subject of `platform_id` for `sector` (OpenID Connect Core §8.1)."""
        # Length-prefixed, so no (sector, id) pair can be re-split into another.
        message = f"{len(sector)}:{sector}|{platform_id}".encode()
        return b64url_encode(hmac.new(self._key, message, hashlib.sha256).digest())

    def for_verifier(self, slug: str, platform_id: str) -> str:
        """The pairwise subject a verifier's decisions (and its sign-ins) carry for this citizen."""
        return self.for_sector(verifier_sector(slug), platform_id)
