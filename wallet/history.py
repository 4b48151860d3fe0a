"""The citizen's history: every issuance and presentation, as the EUDI ARF "dashboard" transaction
log asks (time, the party's name and identifier, the credential types and the claims requested and
shared, the outcome, the consent record), and never a claim value.

What is written is the names of claims (their paths), as the consent ledger's data items name them.
A DCQL claim query may carry `values` (the verifier's filter on a value): they are not copied, and
neither is what the verifier says in an error description, which could echo anything.

The receiver (wallet/receive.py) records after a successful store, the presentation service
(wallet/present.py) after the answer is posted, whatever the verifier said.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from keys.identifiers import random_identifier
from wallet.consent_view import localized
from wallet.models import WalletHistoryEntry

if TYPE_CHECKING:  # present.py imports this module for its hook
    from wallet.present import PresentationOutcome, SharingRequest

KINDS = ("issuance", "presentation", "denial")
MAX_LIMIT = 1000  # rows per call (the API's pages are smaller)
# Bounds on what a request can make the wallet write: a verifier names its own queries and claims.
MAX_CREDENTIALS = 50
MAX_CLAIMS = 50
MAX_TEXT = 200

ClaimPath = Sequence[str | int | None]


def sortable_id(now: float) -> str:
    """A random id that sorts by time (milliseconds as 12 hex digits, then 96 random bits): newest
    first is a descending sort on the id alone, and a page boundary is one id."""
    return f"{max(int(now * 1000), 0):012x}{random_identifier(12)}"


class CredentialClaims(NamedTuple):
    """A credential as the history names it: its type (the issuer's configuration id), its vct and
    the claims (names, or paths for nested claims) issued or shared; optionally its vault id."""

    type: str
    vct: str | None
    claims: Sequence[str | ClaimPath]
    credential_id: str | None = None


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    id: str
    time: int
    kind: str
    party_id: str
    party_name: dict[str, str]
    credential_types: list[dict[str, Any]]
    claims_requested: list[dict[str, Any]]
    claims_shared: list[dict[str, Any]]
    outcome: str
    consent_record_id: str | None
    detail: dict[str, Any]


def _text(value: Any) -> str:
    return str(value)[:MAX_TEXT]


def _path(claim: str | ClaimPath) -> list[str | int | None]:
    """A claim name as a path (a top-level claim is a path of one name)."""
    parts: Iterable[Any] = [claim] if isinstance(claim, str) else claim
    return [p if p is None or (isinstance(p, int) and not isinstance(p, bool)) else _text(p) for p in parts][:10]


def _claims(credentials: Iterable[CredentialClaims]) -> list[dict[str, Any]]:
    out = []
    for credential in list(credentials)[:MAX_CREDENTIALS]:
        paths = [_path(c) for c in list(credential.claims)[:MAX_CLAIMS]]
        out.append({"type": _text(credential.type), "claims": [list(p) for p in dict.fromkeys(map(tuple, paths))]})
    return out


def _types(credentials: Iterable[CredentialClaims]) -> list[dict[str, Any]]:
    seen: dict[tuple[str, str | None], None] = {}
    for credential in list(credentials)[:MAX_CREDENTIALS]:
        seen.setdefault((_text(credential.type), None if credential.vct is None else _text(credential.vct)))
    return [{"type": t, "vct": v} for t, v in seen]


def _names(name: Mapping[str, str]) -> dict[str, str]:
    return {"ko": localized(name, "ko")[:500], "en": localized(name, "en")[:500]}


def requested_credentials(sharing: SharingRequest) -> list[CredentialClaims]:
    """What the request asked for: per credential query, the type of the credential shown for it
    (else the query's id) and every claim path the query names — never its `values`."""
    shown = {c.query_id: c for c in sharing.view.credentials}
    out = []
    for query in sharing.request.query.credentials:
        view = shown.get(query.id)
        type_name = view.candidates[0].configuration_id if view is not None and view.candidates else query.id
        vct = query.vct_values[0] if query.vct_values else None
        out.append(CredentialClaims(type_name, vct, [c.path for c in query.claims or ()]))
    return out


def _entry(row: WalletHistoryEntry) -> HistoryEntry:
    return HistoryEntry(
        id=row.id,
        time=row.time,
        kind=row.kind,
        party_id=row.party_id,
        party_name=dict(row.party_name),
        credential_types=list(row.credential_types),
        claims_requested=list(row.claims_requested),
        claims_shared=list(row.claims_shared),
        outcome=row.outcome,
        consent_record_id=row.consent_record_id,
        detail=dict(row.detail),
    )


class History:
    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.clock = clock

    def _write(self, citizen_id: str, **values: Any) -> HistoryEntry:
        now = self.clock()
        row = WalletHistoryEntry(id=sortable_id(now), citizen_id=citizen_id, time=int(now), **values)
        with Session(self.engine, expire_on_commit=False) as session:
            session.add(row)
            session.commit()
        return _entry(row)

    def record_issuance(
        self,
        citizen_id: str,
        issuer_id: str,
        issuer_name: Mapping[str, str],
        credentials: Sequence[CredentialClaims | tuple[str, str | None, Sequence[str | ClaimPath]]],
    ) -> HistoryEntry:
        """Credentials received from `issuer_id` (the credential issuer identifier), with the
        names of the claims each carries."""
        issued = [c if isinstance(c, CredentialClaims) else CredentialClaims(*c) for c in credentials]
        return self._write(
            citizen_id,
            kind="issuance",
            party_id=issuer_id[:2000],
            party_name=_names(issuer_name),
            credential_types=_types(issued),
            claims_requested=[],
            claims_shared=_claims(issued),  # what the issuer put in the wallet
            outcome="received",
            consent_record_id=None,
            detail={"credential_ids": [c.credential_id for c in issued if c.credential_id]},
        )

    def _answer(
        self,
        citizen_id: str,
        sharing: SharingRequest,
        outcome: PresentationOutcome,
        kind: str,
        result: str,
        shared: Sequence[CredentialClaims],
    ) -> HistoryEntry:
        recipient, request = sharing.recipient, sharing.request
        requested = requested_credentials(sharing)
        service = recipient.service
        return self._write(
            citizen_id,
            kind=kind,
            party_id=request.client_id[:2000],
            party_name=_names(recipient.name),
            credential_types=_types([*requested, *shared]),
            claims_requested=_claims(requested),
            claims_shared=_claims(shared),
            outcome=result,
            consent_record_id=outcome.consent_record_id,
            detail={
                "verifier_id": recipient.verifier_id,
                "verified": recipient.name_verified,
                "service": {"id": service.id, "name": _names(service.name)} if service is not None else None,
                "purpose": _names(recipient.purpose) if recipient.purpose else None,
                "response_host": _text(request.response_host),
                "status_code": outcome.status_code,
                # The OAuth error code only: the description is the verifier's free text.
                "error": _text(outcome.error) if outcome.error else None,
                "linked_to_request": outcome.linked_to_request,
                "credential_ids": [c.credential_id for c in shared if c.credential_id],
            },
        )

    def record_presentation(
        self,
        citizen_id: str,
        sharing: SharingRequest,
        outcome: PresentationOutcome,
        shared: Sequence[CredentialClaims],
    ) -> HistoryEntry:
        """A presentation sent: `shared` is each credential presented with the claims disclosed.
        Outcome: accepted (the verifier answered 2xx), rejected, or unreachable."""
        if outcome.accepted:
            result = "accepted"
        elif outcome.status_code is None:
            result = "unreachable"
        else:
            result = "rejected"
        return self._answer(citizen_id, sharing, outcome, "presentation", result, shared)

    def record_denial(self, citizen_id: str, sharing: SharingRequest, outcome: PresentationOutcome) -> HistoryEntry:
        """The citizen declined: nothing shared. `detail.status_code` says whether the verifier was told."""
        return self._answer(citizen_id, sharing, outcome, "denial", "declined", [])

    def list(self, citizen_id: str, limit: int = 50, before: str | None = None) -> list[HistoryEntry]:
        """The citizen's entries, newest first; `before`: the id of the last entry of the previous page."""
        limit = max(1, min(limit, MAX_LIMIT))
        query = select(WalletHistoryEntry).where(WalletHistoryEntry.citizen_id == citizen_id)
        if before is not None:
            query = query.where(col(WalletHistoryEntry.id) < before)
        with Session(self.engine) as session:
            rows = session.exec(query.order_by(col(WalletHistoryEntry.id).desc()).limit(limit)).all()
            return [_entry(row) for row in rows]

    def export(self, citizen_id: str) -> list[dict[str, Any]]:
        """Every entry of the citizen, newest first, as JSON (her data export)."""
        with Session(self.engine) as session:
            rows = session.exec(
                select(WalletHistoryEntry)
                .where(WalletHistoryEntry.citizen_id == citizen_id)
                .order_by(col(WalletHistoryEntry.id).desc())
            ).all()
            return [asdict(_entry(row)) for row in rows]

    def erase(self, citizen_id: str) -> int:
        """Delete every entry of the citizen; returns how many."""
        with self.engine.begin() as connection:
            table = WalletHistoryEntry.__table__
            result = connection.execute(delete(table).where(table.c.citizen_id == citizen_id))  # type: ignore[attr-defined]
        return int(result.rowcount or 0)
