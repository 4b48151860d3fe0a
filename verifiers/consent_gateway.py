"""The verifier's side of the consent ledger: every accepted presentation is tied to a grant.

The ledger is another party (same operator in the embedded deployment), reached over HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class ConsentRefused(Exception):
    """The ledger refuses the grant: withdrawn or revoked before the response arrived, or denied.
    Definitive: nothing was logged for this request."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason


class ConsentUnavailable(Exception):
    """The ledger could not be reached, or its answer was lost: whether it logged the grant is
    unknown, so the call is repeated later. A presentation is never accepted without its grant."""


@dataclass(frozen=True, slots=True)
class PresentationGrant:
    request_id: str  # links a grant the citizen's own wallet recorded before posting
    verifier: str
    verifier_name_ko: str
    verifier_name_en: str
    client_id: str
    service_id: str
    service_name_ko: str
    service_name_en: str
    purpose: str
    data_items: tuple[tuple[str, str], ...]  # (credential type, claim), e.g. (resident_registration, birth_date)
    values_shared: bool  # False: the backend receives only the decision
    retention_days: int
    # The citizen's platform id, the `sub` every presented credential disclosed: the consent is
    # recorded for `citizen:<subject>`, so it is in that citizen's own list, whichever wallet presented.
    subject: str
    holder_keys: tuple[str, ...]  # evidence: "holder-key:<RFC 7638 thumbprint>" of each credential's cnf.jwk
    evidence_sha256: str  # hash of the KB-JWTs: the holder's signed acts over this request's nonce
    notice_sha256: str  # hash of the request (canonical JSON of its claims): what the wallet showed
    notice_version: str  # the policy version
    language: str = "ko"


@dataclass(frozen=True, slots=True)
class GrantRecord:
    record_id: str
    receipt: str  # the ledger's signed consent receipt (JWT)


class ConsentGateway(Protocol):
    async def record_presentation_grant(self, grant: PresentationGrant) -> GrantRecord:
        """Record (or confirm) the grant behind a presentation; raises ConsentRefused/ConsentUnavailable.

        Awaited on the event loop (no worker thread waits for the ledger) and idempotent per request
        id: repeating the call for the same presentation answers the same record and logs nothing,
        so the verifier can repeat a call whose answer it lost. ConsentRefused means the ledger
        logged nothing for this request; ConsentUnavailable means it may or may not have."""
        ...
