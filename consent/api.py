"""HTTP API of the consent ledger: the public log, consent status lists, citizens' and verifiers' views.

A thin router: parse, call `ConsentLedger`, map its errors to RFC 9457 Problem Details. It knows
nothing of the app around it: authentication comes in as FastAPI dependencies that yield the
caller (anything with a `subject` such as `citizen:<id>` or `verifier:<slug>`).
"""

# No `from __future__ import annotations`: FastAPI must see the dependencies (locals) in the
# route signatures as objects, not strings.
import base64
import binascii
from collections.abc import Callable
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from consent import log as tlog
from consent.schemas import (
    ConsentList,
    ConsentOut,
    ConsistencyProofOut,
    EntriesOut,
    EntryOut,
    EventOut,
    InclusionProofOut,
    LedgerKeysOut,
    ReceiptOut,
    VerifierConsentList,
    VerifierConsentOut,
    WithdrawOut,
)
from consent.service import ConsentError, ConsentLedger, ConsentView, StateConflict

PROBLEM_JSON = "application/problem+json"
STATUS_LIST_MEDIA_TYPE = "application/statuslist+jwt"
MAX_TREE_SIZE = 2**53
RecordId = Annotated[str, Path(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]


class Caller(Protocol):
    subject: str


def _problem(request: Request, exc: ConsentError | tlog.LogError) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"/problems/consent/{exc.code}",
        "title": getattr(exc, "title", "Log request refused"),
        "status": exc.status,
        "detail": str(exc),
        "instance": request.url.path,
    }
    if isinstance(exc, StateConflict):
        body["state"] = exc.state
    return JSONResponse(body, status_code=exc.status, media_type=PROBLEM_JSON)


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"description": "Problem Details", "content": {PROBLEM_JSON: {}}} for status in statuses}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _parse_leaf_hash(text: str) -> bytes:
    # Accept standard base64 and base64url (a '+' in a query string is easily mangled).
    normalised = text.replace("-", "+").replace("_", "/")
    try:
        value = base64.b64decode(normalised + "=" * (-len(normalised) % 4), validate=True)
    except (binascii.Error, ValueError):
        value = b""
    if len(value) != 32:
        raise tlog.BadProofRequest("leaf_hash is the base64 of a 32-byte hash")
    return value


def _consent_out(view: ConsentView, ledger: ConsentLedger) -> ConsentOut:
    return ConsentOut(
        id=view.id,
        state=view.state,
        status_index=view.status_index,
        status_list_uri=ledger.status_list_uri(view.verifier_id),
        record=view.record,
        notice=view.notice,
        history=[
            EventOut(type=e.type, time=e.time, actor=e.actor, details=e.details, leaf_index=e.leaf_index)
            for e in view.history
        ],
    )


def _subject(caller: Caller, kind: str) -> str:
    subject = getattr(caller, "subject", "")
    if not isinstance(subject, str) or not subject.startswith(kind + ":"):
        raise HTTPException(403, f"this endpoint is for {kind}s")
    return subject


def create_router(
    ledger: ConsentLedger,
    *,
    citizen_read: Callable[..., Any],
    citizen_withdraw: Callable[..., Any],
    verifier_read: Callable[..., Any],
) -> APIRouter:
    """The ledger's routes under /consent. The three dependencies authenticate the caller and check
    the scopes `consent:read`, `consent:withdraw` and `consent:verifier-read`."""
    router = APIRouter(prefix="/consent")

    # -- the public log ----------------------------------------------------------------------------

    @router.get(
        "/log/checkpoint",
        tags=["consent log"],
        summary="The latest signed checkpoint (C2SP tlog-checkpoint in a signed note)",
        response_class=PlainTextResponse,
        responses={200: {"content": {"text/plain": {}}}, **_problems(503)},
    )
    def get_checkpoint(request: Request) -> Response:
        try:
            note = ledger.checkpoint()
        except (ConsentError, tlog.LogError) as exc:
            return _problem(request, exc)
        return PlainTextResponse(note, headers={"Cache-Control": "no-cache"})

    @router.get(
        "/log/keys",
        tags=["consent log"],
        summary="The log's origin and signed-note verifier keys",
        response_model=LedgerKeysOut,
    )
    def get_keys() -> LedgerKeysOut:
        return LedgerKeysOut(origin=ledger.origin, note_verifier_keys=[v.encode() for v in ledger.note_verifiers()])

    @router.get(
        "/jwks.json",
        tags=["consent log"],
        summary="The ledger's public keys (receipts, status lists, checkpoints)",
        response_model=dict[str, list[dict[str, Any]]],
    )
    def get_jwks(response: Response) -> dict[str, Any]:
        response.headers["Cache-Control"] = "public, max-age=300"
        return ledger.jwks()

    @router.get(
        "/log/proof/inclusion",
        tags=["consent log"],
        summary="Inclusion proof of a leaf (by index or by hash) in the tree of a given size",
        response_model=InclusionProofOut,
        responses=_problems(400, 404, 422, 503),
    )
    def get_inclusion_proof(
        request: Request,
        tree_size: Annotated[int, Query(ge=1, le=MAX_TREE_SIZE)],
        index: Annotated[int | None, Query(ge=0, le=MAX_TREE_SIZE)] = None,
        leaf_hash: Annotated[str | None, Query(max_length=64, description="base64 or base64url")] = None,
    ) -> Any:
        try:
            if (index is None) == (leaf_hash is None):
                raise tlog.BadProofRequest("give exactly one of index and leaf_hash")
            parsed = _parse_leaf_hash(leaf_hash) if leaf_hash is not None else None
            result = ledger.inclusion_proof(tree_size, index=index, leaf_hash=parsed)
        except (ConsentError, tlog.LogError) as exc:
            return _problem(request, exc)
        return InclusionProofOut(
            leaf_index=result["leaf_index"],
            tree_size=tree_size,
            leaf_hash=_b64(result["leaf_hash"]),
            proof=[_b64(p) for p in result["proof"]],
        )

    @router.get(
        "/log/proof/consistency",
        tags=["consent log"],
        summary="Consistency proof between two tree sizes",
        response_model=ConsistencyProofOut,
        responses=_problems(400, 422, 503),
    )
    def get_consistency_proof(
        request: Request,
        first: Annotated[int, Query(ge=1, le=MAX_TREE_SIZE)],
        second: Annotated[int, Query(ge=1, le=MAX_TREE_SIZE)],
    ) -> Any:
        try:
            proof = ledger.consistency_proof(first, second)
        except (ConsentError, tlog.LogError) as exc:
            return _problem(request, exc)
        return ConsistencyProofOut(first=first, second=second, proof=[_b64(p) for p in proof])

    @router.get(
        "/log/entries",
        tags=["consent log"],
        summary="Log entries by index range, paged",
        response_model=EntriesOut,
        responses=_problems(400, 422),
    )
    def get_entries(
        request: Request,
        start: Annotated[int, Query(ge=0, le=MAX_TREE_SIZE)] = 0,
        limit: Annotated[int, Query(ge=1, le=tlog.MAX_ENTRIES_PAGE)] = 100,
    ) -> Any:
        try:
            size, entries = ledger.entries(start, limit)
        except (ConsentError, tlog.LogError) as exc:
            return _problem(request, exc)
        following = start + len(entries)
        return EntriesOut(
            tree_size=size,
            entries=[EntryOut(index=i, entry=e.decode("utf-8")) for i, e in entries],
            next=following if entries and following < size else None,
        )

    @router.get(
        "/status/{verifier}",
        tags=["consent status"],
        summary="A verifier's consent status list (IETF Token Status List, statuslist+jwt)",
        response_class=Response,
        responses={200: {"content": {STATUS_LIST_MEDIA_TYPE: {}}}, **_problems(422)},
    )
    def get_status_list(verifier: Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]) -> Response:
        token = ledger.status_list_token(f"verifier:{verifier}")
        return Response(token, media_type=STATUS_LIST_MEDIA_TYPE, headers={"Cache-Control": "no-cache"})

    # -- citizens -----------------------------------------------------------------------------------

    @router.get(
        "/me",
        tags=["consent (citizen)"],
        summary="My consents, each with its full history",
        response_model=ConsentList,
        responses=_problems(401, 403),
    )
    def list_mine(caller: Annotated[Any, Depends(citizen_read)]) -> ConsentList:
        citizen = _subject(caller, "citizen")
        return ConsentList(consents=[_consent_out(v, ledger) for v in ledger.list_for_citizen(citizen)])

    @router.get(
        "/me/{record_id}",
        tags=["consent (citizen)"],
        summary="One of my consents",
        response_model=ConsentOut,
        responses=_problems(401, 403, 404, 422),
    )
    def get_mine(request: Request, record_id: RecordId, caller: Annotated[Any, Depends(citizen_read)]) -> Any:
        citizen = _subject(caller, "citizen")
        try:
            return _consent_out(ledger.get_for_citizen(record_id, citizen), ledger)
        except ConsentError as exc:
            return _problem(request, exc)

    @router.post(
        "/me/{record_id}/withdraw",
        tags=["consent (citizen)"],
        summary="Withdraw one of my consents (its status flips at once)",
        response_model=ConsentOut,
        responses=_problems(401, 403, 404, 409, 422),
    )
    def withdraw_mine(request: Request, record_id: RecordId, caller: Annotated[Any, Depends(citizen_withdraw)]) -> Any:
        citizen = _subject(caller, "citizen")
        try:
            ledger.withdraw(record_id, citizen)
            return _consent_out(ledger.get_for_citizen(record_id, citizen), ledger)
        except ConsentError as exc:
            return _problem(request, exc)

    @router.post(
        "/me/withdraw-all",
        tags=["consent (citizen)"],
        summary="Withdraw all my open consents at once",
        response_model=WithdrawOut,
        responses=_problems(401, 403),
    )
    def withdraw_all_mine(caller: Annotated[Any, Depends(citizen_withdraw)]) -> WithdrawOut:
        return WithdrawOut(withdrawn=ledger.withdraw_all(_subject(caller, "citizen")))

    # -- verifiers -----------------------------------------------------------------------------------

    @router.get(
        "/granted",
        tags=["consent (verifier)"],
        summary="Consents granted to me (the calling verifier), with their receipts",
        response_model=VerifierConsentList,
        responses=_problems(401, 403),
    )
    def list_granted(caller: Annotated[Any, Depends(verifier_read)]) -> VerifierConsentList:
        verifier = _subject(caller, "verifier")
        return VerifierConsentList(
            consents=[
                VerifierConsentOut(
                    id=v.id,
                    state=v.state,
                    status_index=v.status_index,
                    status_list_uri=ledger.status_list_uri(verifier),
                    record=v.record,
                    receipt=v.receipt,
                )
                for v in ledger.list_for_verifier(verifier)
            ]
        )

    @router.get(
        "/granted/{record_id}/receipt",
        tags=["consent (verifier)"],
        summary="The latest receipt of a consent granted to me",
        response_model=ReceiptOut,
        responses=_problems(401, 403, 404, 422),
    )
    def get_receipt(request: Request, record_id: RecordId, caller: Annotated[Any, Depends(verifier_read)]) -> Any:
        verifier = _subject(caller, "verifier")
        try:
            return ReceiptOut(receipt=ledger.receipt_for_verifier(record_id, verifier))
        except ConsentError as exc:
            return _problem(request, exc)

    return router
