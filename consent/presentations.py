"""Consent behind each presentation: the link between a verifier's request and a consent record.

Two ways a presentation gets its grant (issue: "every accepted presentation is tied to a grant"):
- the citizen's own wallet records and grants the consent before it posts, and links it to the
  verifier's request (`link_presentation`); the verifier then finds it, and a withdrawal or
  revocation in between makes the presentation refused;
- any other wallet: the verifier records the grant from the presentation itself, since a KB-JWT
  over the request's nonce is the holder's signed act; its hash and the holder keys are kept in the
  record as the evidence. The record is the citizen's, `citizen:<sub>` (the platform id every
  presented credential disclosed), so it appears in her own list of consents whichever wallet
  presented.

Either way the ledger logs a `used` event for the presentation, exactly once per request.

Idempotency (the verifier's key is its request id): the verifier may repeat a grant call whose
answer it never got (a timeout, its own crash; see verifiers/acceptance.py). A repeat of the same
presentation (same request id, same evidence) answers the same record and receipt and appends
nothing, whatever became of the consent since: a use already logged is never logged twice, nor
refused afterwards (a withdrawal after the use does not undo it). Each presentation consent is a
one-time record under one link, so the record's one `used` event is this request's use. A 409
means nothing was logged for this request (the verifier then rolls its acceptance back).
"""

# No `from __future__ import annotations`: FastAPI must see the dependency (a local) as an object.
import datetime as dt
import inspect
import time
from collections.abc import Callable
from typing import Annotated, Any, Literal

from anyio import to_thread
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import Connection, bindparam, delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field as SQLField
from sqlmodel import Session, SQLModel

from consent.models import ConsentEvent, ConsentRecord
from consent.presentation_writes import grant_at_presentation
from consent.schemas import (
    HOLDER_KEY_PATTERN,
    PLATFORM_ID_PATTERN,
    Actor,
    ConsentRecordIn,
    Frequency,
    LegalBasis,
    Notice,
    Party,
    PresentationEvidence,
    Purpose,
    Service,
    Validity,
)
from consent.service import ConsentError, ConsentLedger, ConsentNotFound, StateConflict
from keys.subjects import PairwiseSubjects, SubjectError, check_platform_id
from storage.reads import read_connection
from storage.threads import LoopThreads

PROBLEM_JSON = "application/problem+json"
# A presentation's consent covers that one check; it is valid for a day so a slow wallet still fits.
PRESENTATION_VALIDITY = dt.timedelta(days=1)
# Threads of this route's own, per event loop (so per worker process): a verifier awaiting this
# route from a request of the same server must find it able to run, whatever holds the shared pool
# of synchronous routes (issue 14, defect 8). Appends are serialised by the log lock anyway.
GRANT_CAPACITY = 4
_grant_limiter = LoopThreads("consent_presentation_grant_threads", GRANT_CAPACITY)


class PresentationLink(SQLModel, table=True):
    """Which consent record covers which verifier request (one record per request)."""

    __tablename__ = "consent_presentation_links"

    verifier_id: str = SQLField(primary_key=True, max_length=80)
    request_id: str = SQLField(primary_key=True, max_length=64)
    record_id: str = SQLField(foreign_key="consent_records.id", max_length=36)
    evidence_sha256: str | None = SQLField(default=None, max_length=64)
    created_at: int


_LINKS = PresentationLink.__table__
_RECORDS = ConsentRecord.__table__
_EVENTS = ConsentEvent.__table__


class PresentationGrantIn(BaseModel):
    """What a verifier knows of a presentation it is about to accept."""

    model_config = ConfigDict(extra="ignore")

    request_id: str = Field(pattern=r"^[A-Za-z0-9_-]{8,64}$")
    client_id: str = Field(min_length=1, max_length=400)
    verifier_name_ko: str = Field(min_length=1, max_length=200)
    verifier_name_en: str = Field(min_length=1, max_length=200)
    service_id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")
    service_name_ko: str = Field(min_length=1, max_length=200)
    service_name_en: str = Field(min_length=1, max_length=200)
    purpose: str
    data_items: list[list[str]] = Field(min_length=1, max_length=50)
    values_shared: bool
    retention_days: int = Field(ge=0, le=3650)
    subject: str = Field(
        pattern=PLATFORM_ID_PATTERN,
        description="the citizen's platform id: the `sub` every presented credential disclosed",
    )
    holder_keys: list[Annotated[str, Field(pattern=HOLDER_KEY_PATTERN)]] = Field(
        min_length=1, max_length=50, description="RFC 7638 thumbprints of each presented credential's cnf.jwk"
    )
    evidence_sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the KB-JWT(s)")
    notice_sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the request object shown")
    notice_version: str = Field(pattern=r"^[A-Za-z0-9._-]{1,40}$", description="the policy version")
    language: Literal["ko", "en"] = "ko"

    @field_validator("subject")
    @classmethod
    def _pseudonymous(cls, value: str) -> str:
        try:
            return check_platform_id(value)
        except SubjectError as exc:
            raise ValueError(str(exc)) from None


class PresentationGrantOut(BaseModel):
    record_id: str
    receipt: str = Field(description="the ledger's signed consent receipt (JWT)")
    recorded_by: Literal["wallet", "verifier"]


# Built once, as every presentation reads it (bench/RESULTS.md, "statements built once").
_LINK_AND_OWNER = (
    select(_LINKS.c.record_id, _LINKS.c.evidence_sha256, _RECORDS.c.citizen_id)
    .join(_RECORDS, _RECORDS.c.id == _LINKS.c.record_id)
    .where(_LINKS.c.verifier_id == bindparam("verifier"), _LINKS.c.request_id == bindparam("request"))
)
_INSERT_LINK = insert(_LINKS)


def _link_and_owner(conn: Connection, verifier_id: str, request_id: str) -> Any:
    """The link of a verifier's request (record_id, evidence_sha256) and its record's owner, or None."""
    return conn.execute(_LINK_AND_OWNER, {"verifier": verifier_id, "request": request_id}).first()


def _drop_link(conn: Connection, verifier_id: str, request_id: str, record_id: str) -> bool:
    result = conn.execute(
        delete(_LINKS).where(
            _LINKS.c.verifier_id == verifier_id, _LINKS.c.request_id == request_id, _LINKS.c.record_id == record_id
        )
    )
    return bool(result.rowcount)


def release_foreign_link(ledger: ConsentLedger, verifier_id: str, request_id: str, citizen: str) -> bool:
    """Drop the link of a verifier's request to a consent of someone other than `citizen`.

    A wallet links its citizen's consent before posting; if the verifier then refuses that answer
    (someone else's credentials, a check opened for another applicant), the link stays behind and
    must not speak for the citizen who answers next. Returns whether a link was dropped."""
    with ledger.engine.begin() as conn:
        link = _link_and_owner(conn, verifier_id, request_id)
        if link is None or link.citizen_id == citizen:
            return False
        return _drop_link(conn, verifier_id, request_id, link.record_id)


def link_presentation(ledger: ConsentLedger, record_id: str, verifier_id: str, request_id: str) -> None:
    """Called by the citizen's wallet after granting, before it posts the presentation."""
    with Session(ledger.engine) as session:
        session.add(
            PresentationLink(
                verifier_id=verifier_id, request_id=request_id, record_id=record_id, created_at=int(time.time())
            )
        )
        session.commit()


class PresentationConsentRefused(ConsentError):
    status = 409
    code = "consent_refused"
    title = "The consent behind this presentation is not in force"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _use_logged(ledger: ConsentLedger, record_id: str) -> bool:
    with ledger.engine.connect() as conn:
        used = select(_EVENTS.c.id).where(_EVENTS.c.record_id == record_id, _EVENTS.c.type == "used").limit(1)
        return conn.execute(used).first() is not None


def _out(
    ledger: ConsentLedger, record_id: str, verifier_id: str, by: Literal["wallet", "verifier"]
) -> PresentationGrantOut:
    return PresentationGrantOut(
        record_id=record_id, receipt=ledger.receipt_for_verifier(record_id, verifier_id), recorded_by=by
    )


def _use_wallet_consent(ledger: ConsentLedger, verifier_id: str, record_id: str) -> PresentationGrantOut:
    """Log the use of the consent the citizen's wallet linked, once: a repeat finds it logged."""
    with ledger.engine.connect() as conn:
        row = conn.execute(
            select(_RECORDS.c.one_time).where(
                _RECORDS.c.id == record_id, _RECORDS.c.verifier_id == verifier_id, _RECORDS.c.body.is_not(None)
            )
        ).first()
    if row is None:
        raise ConsentNotFound("no such consent")
    if not row.one_time:
        # Idempotency rests on it: one link, one record, one `used` event (the state machine makes
        # a one-time consent `used_up`), so a logged use is this request's and no other's.
        raise PresentationConsentRefused("consent_not_one_time", "a presentation's consent is a one-time consent")
    if not _use_logged(ledger, record_id):
        try:
            ledger.record_use(record_id, verifier_id)
        except StateConflict as exc:
            # `used_up` with its use logged: a concurrent post of this request logged it first.
            if exc.state != "used_up" or not _use_logged(ledger, record_id):
                raise PresentationConsentRefused(f"consent_{exc.state}", f"the consent is {exc.state}") from None
    return _out(ledger, record_id, verifier_id, "wallet")


def record_presentation_grant(
    ledger: ConsentLedger, verifier_id: str, body: PresentationGrantIn, subjects: PairwiseSubjects | None = None
) -> PresentationGrantOut:
    """Find the grant the wallet linked to this request, or record one from the presentation; then
    log the use. Refused (PresentationConsentRefused) when the linked consent is not in force.

    Idempotent per (verifier, request id): a repeat of the same presentation answers the same
    record and logs nothing (see the module docstring)."""
    # One read, on an autocommit connection (no transaction to begin and roll back): the link, if
    # any. A link to another citizen's consent (her answer was refused) never covers this one.
    citizen = f"citizen:{body.subject}"
    with read_connection(ledger.engine) as conn:
        link = _link_and_owner(conn, verifier_id, body.request_id)
    if link is not None and link.citizen_id != citizen:
        with ledger.engine.begin() as conn:
            _drop_link(conn, verifier_id, body.request_id, link.record_id)
        link = None
    if link is not None and link.evidence_sha256 is None:
        # The citizen's wallet recorded this consent: it must still be granted when the response arrives.
        return _use_wallet_consent(ledger, verifier_id, link.record_id)
    if link is None:

        def add_link(conn: Connection, record_id: str) -> None:
            conn.execute(
                _INSERT_LINK,
                {
                    "verifier_id": verifier_id,
                    "request_id": body.request_id,
                    "record_id": record_id,
                    "evidence_sha256": body.evidence_sha256,
                    "created_at": int(time.time()),
                },
            )

        try:
            record = _record_from(verifier_id, body, subjects)
            record_id, receipt = grant_at_presentation(ledger, record, verifier_id, add_link)
        except IntegrityError:
            # A concurrent post of this request linked first, and its transaction recorded the
            # whole consent; this one recorded nothing. Carry on with that record below.
            with ledger.engine.connect() as conn:
                link = _link_and_owner(conn, verifier_id, body.request_id)
            assert link is not None
        except StateConflict as exc:  # cannot happen to a fresh record; refused, and nothing written
            raise PresentationConsentRefused(f"consent_{exc.state}", f"the consent is {exc.state}") from None
        else:
            return PresentationGrantOut(record_id=record_id, receipt=receipt, recorded_by="verifier")
    if link.evidence_sha256 != body.evidence_sha256:
        raise PresentationConsentRefused("consent_for_another_presentation", "this request has another grant")
    record_id = link.record_id
    if _use_logged(ledger, record_id):
        # A repeat of this presentation (a retry, a concurrent post): the same record, nothing appended.
        return _out(ledger, record_id, verifier_id, "verifier")
    # A record left partial by an older version (which wrote it in several transactions): both
    # steps are idempotent, so they complete it.
    try:
        ledger.grant(record_id, actor="citizen")
    except StateConflict as exc:
        if exc.state not in ("granted", "used_up"):
            raise PresentationConsentRefused(f"consent_{exc.state}", f"the consent is {exc.state}") from None
    try:
        ledger.record_use(record_id, verifier_id)
    except StateConflict as exc:
        if exc.state != "used_up":  # a retry after the use was logged is fine
            raise PresentationConsentRefused(f"consent_{exc.state}", f"the consent is {exc.state}") from None
    return _out(ledger, record_id, verifier_id, "verifier")


def _record_from(verifier_id: str, body: PresentationGrantIn, subjects: PairwiseSubjects | None) -> ConsentRecordIn:
    now = dt.datetime.now(dt.UTC)
    slug = verifier_id.removeprefix("verifier:")
    return ConsentRecordIn(
        citizen=f"citizen:{body.subject}",
        # The record reaches the verifier in its receipt: it names her by the verifier's pairwise subject.
        citizen_at_recipient=subjects.for_verifier(slug, body.subject) if subjects is not None else None,
        recipient=verifier_id,
        controller=Party(id=slug, name_ko=body.verifier_name_ko, name_en=body.verifier_name_en),
        service=Service(id=body.service_id, name_ko=body.service_name_ko, name_en=body.service_name_en),
        purpose=Purpose(
            code=body.purpose,
            text_ko=f"{body.service_name_ko} 자격 확인",
            text_en=f"Eligibility check for {body.service_name_en}",
        ),
        legal_basis=LegalBasis(type="consent"),
        data_items=body.data_items,
        disclosure="values" if body.values_shared else "predicate_only",
        retention_days=body.retention_days,
        validity=Validity(start=now, end=now + PRESENTATION_VALIDITY),
        frequency=Frequency(kind="one_time"),
        notice=Notice(sha256=body.notice_sha256, version=body.notice_version),
        method="wallet_app",
        actor=Actor(role="citizen"),
        language=body.language,
        evidence=PresentationEvidence(holder_keys=body.holder_keys, presentation_sha256=body.evidence_sha256),
    )


def presentation_grants_router(
    ledger: ConsentLedger, verifier_record: Callable[[Request], Any], subjects: PairwiseSubjects | None = None
) -> APIRouter:
    """POST /consent/presentation-grants, for verifiers (scope `consent:record`).

    `verifier_record(request)` authenticates the caller (a bearer check). It and the grant run in
    this route's own threads (GRANT_CAPACITY per worker), never in the pool the synchronous routes
    share: the platform's verifier awaits this route from inside a request of the same server, so
    it must be able to run while that pool is busy."""
    router = APIRouter(prefix="/consent")

    async def authenticated(request: Request) -> Any:
        if inspect.iscoroutinefunction(verifier_record):
            return await verifier_record(request)  # the platform's bearer check: CPU on the loop
        return await to_thread.run_sync(verifier_record, request, limiter=_grant_limiter())

    # The contract's `security` (and the fuzzing's check of it) comes from the bearer check's scopes.
    authenticated.required_scopes = getattr(verifier_record, "required_scopes", ())  # type: ignore[attr-defined]

    @router.post(
        "/presentation-grants",
        tags=["consent (verifier)"],
        summary="Tie a presentation to its consent: the grant the wallet linked, or one recorded from the KB-JWT",
        response_model=PresentationGrantOut,
        responses={
            409: {"description": "The consent is withdrawn, revoked or otherwise not in force"},
            **{s: {"content": {PROBLEM_JSON: {}}} for s in (401, 403, 422)},
        },
    )
    async def record(body: PresentationGrantIn, caller: Annotated[Any, Depends(authenticated)]) -> Any:
        subject = getattr(caller, "subject", "")
        if not subject.startswith("verifier:"):
            raise HTTPException(403, "this endpoint is for verifiers")
        try:
            return await to_thread.run_sync(
                record_presentation_grant, ledger, subject, body, subjects, limiter=_grant_limiter()
            )
        except ValidationError as exc:
            # The body passed its own schema but not the consent record's (a purpose code that is not
            # a DPV purpose, an empty claim path): the caller's mistake, answered like any invalid body.
            raise RequestValidationError(exc.errors(include_url=False, include_context=False)) from None
        except PresentationConsentRefused as exc:
            return JSONResponse(
                {
                    "type": f"/problems/consent/{exc.reason}",
                    "title": exc.title,
                    "status": 409,
                    "detail": str(exc),
                    "reason": exc.reason,
                },
                status_code=409,
                media_type=PROBLEM_JSON,
            )
        except ConsentError as exc:
            return JSONResponse(
                {"type": f"/problems/consent/{exc.code}", "title": exc.title, "status": exc.status, "detail": str(exc)},
                status_code=exc.status,
                media_type=PROBLEM_JSON,
            )

    return router
