"""Accepting a checked presentation together with its consent: the decision the verifier stores and
the `used` event the ledger logs are one outcome, both or neither, across a crash or a failure at
any point, and a retry never doubles either.

The ledger is another party, reached over HTTP, so the two cannot share a transaction. Instead:

1. Intent, in one verifier transaction: the request goes `pending` -> `accepting` (a conditional
   update, so one acceptance per request), the KB-JWTs take their replay-guard rows, and a
   `presentation_acceptances` row keeps what the decision needs (the checks' outcome; the grant,
   which names the citizen's platform id, and any claim values, encrypted) with a lease: whoever
   holds it is calling the ledger.
2. The ledger call, idempotent per request id (consent/presentations.py): the first call logs the
   use; a repeat of the same presentation answers the same record and receipt, and logs nothing.
3. The outcome, in one verifier transaction:
   - recorded: the decision is signed with the record id and receipt and stored, the request goes
     `accepting` -> `answered`, the acceptance row is deleted, the callback scheduled (`complete`);
   - refused (409/422: the ledger logged nothing for this request): the acceptance row and the
     replay-guard rows are deleted and the request refused with the ledger's reason (`roll_back`);
   - no answer (unreachable, timeout, 5xx, or the decision could not be stored): whether the
     ledger logged the use is unknown. The acceptance stays; the wallet gets a 503.

A crash leaves nothing (before 1), an acceptance with or without its use logged (between 1 and 3),
or a complete answer. Recovery repeats steps 2 and 3 for an acceptance whose lease is free: when
the wallet retries the same response (it then gets the 200 and its redirect), and for every
acceptance left idle after its lease ran out, at startup and every few seconds after
(verifiers/responses.py; a recovered answer's `response_code` reaches no front end, so a
same-device backend learns of it from its callback). A repeated call logs nothing and completion
is a conditional update: neither a use nor a decision is ever doubled.

The ledger's public audit keeps passing: nothing is removed from the transparency log or written
to it out of order. A logged use is completed here, never undone there; a rollback happens only
when the ledger logged nothing. One case stays open: a citizen erased between the use and the
completion makes the repeat a 404 (an unknown outcome), so that acceptance is retried, and logged,
until an operator removes it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Column, LargeBinary, Text, and_, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, SQLModel

from storage.reads import read_connection
from verifiers.consent_gateway import GrantRecord, PresentationGrant
from verifiers.errors import VerifierError
from verifiers.models import AcceptedPresentation, CallbackDelivery, PresentationRequest
from verifiers.presentation_checks import CheckedPresentation
from verifiers.service import (
    DECISION_TYP,
    DECISIONS_OWNER,
    REQUEST_BY_ID,
    ResponseOutcome,
    VerifierService,
    verifier_owner,
)
from verifiers.texts import neutral_text

log = logging.getLogger("seoul_wallet.verifiers")

# Seconds an attempt owns an acceptance: longer than the ledger call may take (verifiers/
# consent_http.py: 5 s to connect, 10 s to read). An attempt outliving it only means two attempts
# at once, which is safe: the ledger call is idempotent, the completion conditional.
LEASE = 20
# Seconds an acceptance sits free and untouched before the background recovery takes it: a wallet
# retrying after a 503 carries it on first (and gets its 200); a crashed attempt's is taken after
# LEASE + IDLE_BEFORE_RECOVERY. A recovery that gets no answer keeps its lease: the same back-off.
IDLE_BEFORE_RECOVERY = 30
BEING_ANSWERED = "an answer to this request is being recorded"


class PresentationAcceptance(SQLModel, table=True):
    """A presentation that passed every check, whose consent the ledger is being asked to record."""

    __tablename__ = "presentation_acceptances"

    request_id: str = Field(primary_key=True, max_length=64, foreign_key="presentation_requests.id")
    verifier: str = Field(max_length=64)
    evidence_sha256: str = Field(max_length=64, description="the grant's evidence: a retry is the same response")
    grant_encrypted: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    decision_claims: str = Field(sa_column=Column(Text, nullable=False), description="signed on completion")
    eligible: bool
    subject: str = Field(max_length=43)
    values_encrypted: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    vp_token_encrypted: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    vp_token_purge_at: int | None = None
    checked_at: int
    lease_until: int = Field(index=True, description="an attempt owns it until then; free after")
    attempts: int = 0
    created_at: int


_ACCEPTANCES = PresentationAcceptance.__table__
_REQUESTS = PresentationRequest.__table__
_ACCEPTED = AcceptedPresentation.__table__
_CALLBACKS = CallbackDelivery.__table__
# The statements every presentation runs, built once (bench/RESULTS.md, "statements built once").
# A bound parameter named like a column would set that column, hence `b_id`.
_TAKE_PENDING = (
    update(_REQUESTS)
    .where(_REQUESTS.c.id == bindparam("b_id"), _REQUESTS.c.status == "pending")
    .values(status="accepting")
)
_INSERT_ACCEPTANCE = insert(_ACCEPTANCES)
_INSERT_ACCEPTED = insert(_ACCEPTED)
_ACCEPTANCE = select(_ACCEPTANCES).where(_ACCEPTANCES.c.request_id == bindparam("b_id"))
_END_ACCEPTANCE = delete(_ACCEPTANCES).where(_ACCEPTANCES.c.request_id == bindparam("b_id"))
# Its SET clause comes from the parameters given with it.
_ANSWER = update(_REQUESTS).where(_REQUESTS.c.id == bindparam("b_id"), _REQUESTS.c.status == "accepting")


@dataclass(frozen=True, slots=True)
class Acceptance:
    """An attempt's hold on an acceptance (it holds the lease)."""

    request_id: str
    verifier: str
    grant: PresentationGrant


def _grant_from_json(data: dict[str, Any]) -> PresentationGrant:
    data["data_items"] = tuple(tuple(item) for item in data["data_items"])
    data["holder_keys"] = tuple(data["holder_keys"])
    return PresentationGrant(**data)


class Acceptances:
    """The steps of an acceptance over the verifier's database (each one short transaction)."""

    def __init__(self, service: VerifierService) -> None:
        self.service = service

    def begin(self, checked: CheckedPresentation, vp_token_raw: str | None, now: int) -> Acceptance:
        """Step 1: record the intent and take its lease. Raises VerifierError when the request is
        answered or being answered already, or the presentation was accepted elsewhere."""
        service, request = self.service, checked.request
        owner = verifier_owner(request.verifier)
        # Encrypt first: a first use creates the verifier's data key, a write of its own.
        grant = json.dumps(asdict(checked.grant), ensure_ascii=False).encode()
        row: dict[str, Any] = {
            "request_id": request.id,
            "verifier": request.verifier,
            "evidence_sha256": checked.grant.evidence_sha256,
            "grant_encrypted": service.data_keys.encrypt(owner, f"{request.id}/grant", grant),
            "decision_claims": json.dumps(checked.decision_claims, ensure_ascii=False),
            "eligible": checked.eligible,
            "subject": checked.subject,
            "checked_at": now,
            "lease_until": now + LEASE,
            "attempts": 1,
            "created_at": now,
        }
        if checked.values:
            row["values_encrypted"] = service.data_keys.encrypt(owner, request.id, json.dumps(checked.values).encode())
        if service.settings.vp_token_retention > 0:
            row["vp_token_encrypted"] = service.data_keys.encrypt(
                owner, f"{request.id}/vp_token", (vp_token_raw or "").encode()
            )
            row["vp_token_purge_at"] = now + service.settings.vp_token_retention
        try:
            with service.engine.begin() as conn:
                # The conditional update first: a concurrent post of this response finds it taken.
                taken = conn.execute(_TAKE_PENDING, {"b_id": request.id})
                if taken.rowcount != 1:
                    raise VerifierError("request_already_answered", "this request has already been answered")
                conn.execute(_INSERT_ACCEPTANCE, row)
                # The replay guard, whose unique key refuses these KB-JWTs anywhere else.
                conn.execute(
                    _INSERT_ACCEPTED,
                    [{"kb_jwt_hash": h, "request_id": request.id, "accepted_at": now} for h in checked.kb_hashes],
                )
        except IntegrityError:
            raise VerifierError("presentation_replayed", "this presentation was already accepted") from None
        return Acceptance(request.id, request.verifier, checked.grant)

    def _take(self, request_id: str, now: int, evidence: str | None = None) -> Acceptance | None:
        """Take the lease of an acceptance whose lease is free (and, given `evidence`, of that
        response only); None when there is none or another attempt holds it."""
        with self.service.engine.begin() as conn:
            query = _ACCEPTANCES.c.request_id == request_id
            if evidence is not None:
                query = and_(query, _ACCEPTANCES.c.evidence_sha256 == evidence)
            taken = conn.execute(
                update(_ACCEPTANCES)
                .where(query, _ACCEPTANCES.c.lease_until <= now)
                .values(lease_until=now + LEASE, attempts=_ACCEPTANCES.c.attempts + 1)
            )
            if taken.rowcount != 1:
                return None
            row = conn.execute(select(_ACCEPTANCES.c.verifier, _ACCEPTANCES.c.grant_encrypted).where(query)).one()
        plain = self.service.data_keys.decrypt(verifier_owner(row.verifier), f"{request_id}/grant", row.grant_encrypted)
        return Acceptance(request_id, row.verifier, _grant_from_json(json.loads(plain)))

    def resume(self, request_id: str, evidence: str | None, now: int) -> Acceptance:
        """A retry of the response an acceptance holds (same KB-JWTs): it carries the acceptance
        on. Anything else, or while another attempt holds it, is told the request is being answered."""
        taken = self._take(request_id, now, evidence) if evidence is not None else None
        if taken is not None:
            return taken
        if evidence is not None and self._holds(request_id, evidence):
            # This very response, while an attempt (perhaps one a crash ended) holds its lease: not a
            # refusal, which a wallet would take as final, but "not yet" (503 with Retry-After).
            raise VerifierError("answer_in_progress", BEING_ANSWERED, status=503, error="temporarily_unavailable")
        raise VerifierError("request_already_answered", BEING_ANSWERED)

    def _holds(self, request_id: str, evidence: str) -> bool:
        with self.service.engine.connect() as conn:
            found = conn.execute(
                select(_ACCEPTANCES.c.request_id).where(
                    _ACCEPTANCES.c.request_id == request_id, _ACCEPTANCES.c.evidence_sha256 == evidence
                )
            ).first()
        return found is not None

    def take_stale(self, now: int, limit: int = 20) -> list[Acceptance]:
        """Acceptances no attempt holds nor touched for IDLE_BEFORE_RECOVERY seconds (a crash, a lost
        answer the wallet never retried): each taken for a recovery attempt."""
        with self.service.engine.connect() as conn:
            due = conn.execute(
                select(_ACCEPTANCES.c.request_id)
                .where(_ACCEPTANCES.c.lease_until <= now - IDLE_BEFORE_RECOVERY)
                .order_by(_ACCEPTANCES.c.lease_until)
                .limit(limit)
            ).scalars()
            request_ids = list(due)
        taken: list[Acceptance] = []
        for request_id in request_ids:
            try:
                acceptance = self._take(request_id, now)
            except Exception:  # one unreadable row (say, its verifier's data key erased) never blocks the rest
                log.exception("acceptance not recoverable", extra={"request_id": request_id})
                continue
            if acceptance is not None:
                taken.append(acceptance)
        return taken

    def release(self, acceptance: Acceptance) -> None:
        """Give the lease up (the ledger did not answer): the wallet's retry may carry it on at once,
        the background recovery only once it has sat idle."""
        with self.service.engine.begin() as conn:
            conn.execute(
                update(_ACCEPTANCES)
                .where(_ACCEPTANCES.c.request_id == acceptance.request_id)
                .values(lease_until=int(time.time()))
            )

    def complete(self, acceptance: Acceptance, record: GrantRecord) -> ResponseOutcome:
        """Step 3, recorded: sign and store the decision, end the acceptance, schedule the callback."""
        service = self.service
        # Read outside a transaction: the completion below is conditional on what it finds still there.
        with read_connection(service.engine) as conn:
            row = conn.execute(_ACCEPTANCE, {"b_id": acceptance.request_id}).first()
            request = conn.execute(REQUEST_BY_ID, {"id": acceptance.request_id}).one()
        if row is None:  # another attempt completed it (or rolled it back) meanwhile
            raise VerifierError("request_already_answered", "this request has already been answered")
        claims = {
            **json.loads(row.decision_claims),
            "iat": int(time.time()),
            "consent": {"record_id": record.record_id, "receipt": record.receipt},
        }
        # Signed before the transaction: signing reads the keyring through a connection of its own.
        decision = service.keyring.sign(DECISIONS_OWNER, claims, typ=DECISION_TYP)
        # OpenID4VP §13.3: a fresh, unguessable code only the redirected front end learns; the
        # backend presents it when fetching the result, so a fixated session cannot take it.
        response_code = secrets.token_urlsafe(32)
        changes: dict[str, Any] = {
            "response_code_sha256": hashlib.sha256(response_code.encode()).hexdigest(),
            "status": "answered",
            "answered_at": row.checked_at,
            "subject": row.subject,
            "decision": decision,
            "eligible": row.eligible,
            "consent_record_id": record.record_id,
            "values_encrypted": row.values_encrypted,
            "vp_token_encrypted": row.vp_token_encrypted,
            "vp_token_purge_at": row.vp_token_purge_at,
        }
        with service.engine.begin() as conn:
            # The acceptance row first: of two attempts completing at once, the second finds it gone.
            ended = conn.execute(_END_ACCEPTANCE, {"b_id": acceptance.request_id})
            if ended.rowcount != 1:
                raise VerifierError("request_already_answered", "this request has already been answered")
            answered = conn.execute(_ANSWER, {**changes, "b_id": acceptance.request_id})
            if answered.rowcount != 1:
                raise VerifierError("request_already_answered", "this request has already been answered")
            self._schedule_callback(conn, request)
        log.info(
            "presentation accepted",
            extra={"request_id": request.id, "verifier": request.verifier, "eligible": bool(row.eligible)},
        )
        verifier = service.get(request.verifier)
        redirect = f"{verifier.redirect_uri}#response_code={response_code}" if verifier.redirect_uri else None
        return ResponseOutcome(request_id=request.id, redirect_uri=redirect)

    def roll_back(self, acceptance: Acceptance, refusal: VerifierError) -> None:
        """Step 3, refused by the ledger (which logged nothing): undo the intent, record the refusal."""
        changes: dict[str, Any] = {
            "failure_reason": refusal.reason,
            "failure_detail": neutral_text(refusal.detail),
            "status": "pending",
        }
        if refusal.final:
            changes |= {"status": "rejected", "answered_at": int(time.time()), "eligible": False}
        with self.service.engine.begin() as conn:
            ended = conn.execute(delete(_ACCEPTANCES).where(_ACCEPTANCES.c.request_id == acceptance.request_id))
            if ended.rowcount != 1:
                return  # another attempt ended it meanwhile
            conn.execute(delete(_ACCEPTED).where(_ACCEPTED.c.request_id == acceptance.request_id))
            conn.execute(
                update(_REQUESTS)
                .where(_REQUESTS.c.id == acceptance.request_id, _REQUESTS.c.status == "accepting")
                .values(changes)
            )
            if refusal.final:
                request = conn.execute(REQUEST_BY_ID, {"id": acceptance.request_id}).one()
                self._schedule_callback(conn, request)
        log.warning(
            "presentation refused",
            extra={"request_id": acceptance.request_id, "verifier": acceptance.verifier, "reason": refusal.reason},
        )

    @staticmethod
    def _schedule_callback(conn: Any, request: Any) -> None:
        # In the transaction that ends the request: the backend hears of every end exactly once.
        if request.callback_url:
            now = int(time.time())
            conn.execute(
                insert(_CALLBACKS).values(
                    request_id=request.id,
                    url=request.callback_url,
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
