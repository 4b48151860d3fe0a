"""My consents over the wallet's JSON API: every consent of the citizen with its history (from the
consent ledger, whichever wallet gave it), withdrawal of one or all, the receipt as a download, and
the receipt checked against the ledger's public log. Thin: parse, call `WalletConsents`, map its
refusals to RFC 9457 Problem Details with a stable `reason` and the citizen-facing messages.
"""

# No `from __future__ import annotations`: FastAPI must see dependencies (locals) as objects.
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from wallet.api import PROBLEM, WalletServices, problem_response
from wallet.consents import ConsentsError

JWT_MEDIA_TYPE = "application/jwt"
RecordId = Annotated[
    str,
    Path(
        pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
        description="the consent record's id (a UUID)",
    ),
]


class LocalizedText(BaseModel):
    ko: str
    en: str


class NamedParty(BaseModel):
    id: str
    name: LocalizedText


class PurposeOut(BaseModel):
    code: str = Field(description="a W3C DPV purpose concept")
    text: LocalizedText


class LegalBasisOut(BaseModel):
    type: Literal["consent", "public_task"]
    statute: str | None = None


class ValidityOut(BaseModel):
    start: str = Field(description="RFC 3339")
    end: str = Field(description="RFC 3339")


class FrequencyOut(BaseModel):
    kind: Literal["one_time", "periodic"]
    interval_days: int | None = None


class NoticeOut(BaseModel):
    sha256: str = Field(description="SHA-256 of the consent text the citizen was shown")
    version: str


class StatusListRef(BaseModel):
    uri: str = Field(description="the verifier's consent status list (statuslist+jwt)")
    index: int = Field(description="this consent's index in it")


class EventOut(BaseModel):
    type: str = Field(description="requested, granted, denied, used, paused, resumed, withdrawn, revoked, …")
    time: int = Field(description="unix milliseconds")
    actor: str = Field(description="citizen, verifier, operator, system, …")
    details: dict[str, Any] | None = None
    leaf_index: int = Field(description="this event's leaf in the consent ledger's transparency log")


class ConsentOut(BaseModel):
    id: str
    state: str = Field(description="current state, from the events and the clock (used_up: a one-time consent, used)")
    verifier_id: str = Field(description="who receives the data: verifier:<slug>")
    controller: NamedParty
    service: NamedParty
    purpose: PurposeOut
    legal_basis: LegalBasisOut
    data_items: list[list[str | int | None]] = Field(description="the claims shared, as claim paths (names, no values)")
    disclosure: Literal["values", "predicate_only"] = Field(description="values, or only a yes/no")
    validity: ValidityOut
    frequency: FrequencyOut
    retention_days: int = Field(description="how long the recipient may keep what it receives")
    method: str = Field(description="how the consent was given: wallet_app, web, …")
    notice: NoticeOut = Field(description="the notice in force (changes on re-consent)")
    created_at: int | None = Field(description="unix milliseconds of the request")
    has_receipt: bool = Field(description="whether the ledger signed a receipt (every grant has one)")
    status_list: StatusListRef
    history: list[EventOut]


class ConsentList(BaseModel):
    consents: list[ConsentOut]


class WithdrawAllOut(BaseModel):
    withdrawn: list[str] = Field(description="ids of the consents withdrawn now")


class CheckOut(BaseModel):
    name: Literal[
        "receipt_signature",
        "receipt_structure",
        "commitment",
        "receipt_checkpoint",
        "inclusion",
        "this_consent",
        "current_checkpoint",
        "consistency",
    ]
    ok: bool
    detail: str
    label: LocalizedText


class ReceiptCheckOut(BaseModel):
    valid: bool = Field(description="every check passed")
    checks: list[CheckOut] = Field(description="the checks made, in order, up to the first that failed")
    receipt_tree_size: int | None = Field(description="tree size of the receipt's checkpoint, once verified")
    current_tree_size: int | None = Field(description="tree size of the ledger's current checkpoint, once verified")
    leaf_index: int | None = Field(description="the grant's leaf in the log, once verified")


def _problem(exc: ConsentsError) -> JSONResponse:
    return problem_response(exc.status, exc.reason, exc.messages, **exc.extra)


def create_router(
    services: WalletServices,
    citizen_id: Callable[..., str],
    reading: Callable[..., Any] | None = None,
    withdrawing: Callable[..., Any] | None = None,
) -> APIRouter:
    """`reading` and `withdrawing` require the ledger's own scopes (consent:read, consent:withdraw)
    on top of `wallet`: the wallet's routes grant nothing the ledger's API would refuse."""
    """My consents under /wallet/api. `citizen_id` is `wallet.api.citizen_dependency(...)`."""
    router = APIRouter(prefix="/wallet/api", tags=["wallet (citizen)"])
    problem = {"description": "Problem Details", "content": {PROBLEM: {}}}
    # Every route: no or a bad token (401), a token that does not act for a citizen (403).
    signed_in = {401: problem, 403: problem}
    Citizen = Annotated[str, Depends(citizen_id)]
    read_scope = [Depends(reading)] if reading is not None else []
    withdraw_scope = [Depends(withdrawing)] if withdrawing is not None else []
    consents = services.consents

    @router.get(
        "/consents",
        dependencies=read_scope,
        summary="My consents, each with its full history, from the consent ledger (whichever wallet gave it)",
        response_model=ConsentList,
        responses=signed_in,
    )
    def list_consents(me: Citizen) -> dict[str, Any]:
        return {"consents": consents.list(me)}

    @router.post(
        "/consents/withdraw-all",
        dependencies=withdraw_scope,
        summary="Withdraw all my open consents at once (their status flips at once)",
        response_model=WithdrawAllOut,
        responses=signed_in,
    )
    def withdraw_all(me: Citizen) -> dict[str, Any]:
        return {"withdrawn": consents.withdraw_all(me)}

    @router.get(
        "/consents/{record_id}",
        dependencies=read_scope,
        summary="One of my consents, with its full history",
        response_model=ConsentOut,
        responses={**signed_in, 404: problem, 422: problem},
    )
    def get_consent(record_id: RecordId, me: Citizen) -> Any:
        try:
            return consents.get(me, record_id)
        except ConsentsError as exc:
            return _problem(exc)

    @router.post(
        "/consents/{record_id}/withdraw",
        dependencies=withdraw_scope,
        summary="Withdraw one of my consents (its status in the verifier's list flips at once)",
        response_model=ConsentOut,
        responses={
            **signed_in,
            404: problem,
            409: {**problem, "description": "the consent is no longer open"},
            422: problem,
        },
    )
    def withdraw(record_id: RecordId, me: Citizen) -> Any:
        try:
            return consents.withdraw(me, record_id)
        except ConsentsError as exc:
            return _problem(exc)

    @router.get(
        "/consents/{record_id}/receipt",
        dependencies=read_scope,
        summary="Download the consent's latest receipt (a JWT the ledger signed)",
        response_class=Response,
        responses={
            200: {"description": "the receipt", "content": {JWT_MEDIA_TYPE: {"schema": {"type": "string"}}}},
            **signed_in,
            404: problem,
            422: problem,
        },
    )
    def get_receipt(record_id: RecordId, me: Citizen) -> Response:
        try:
            receipt = consents.receipt(me, record_id)
        except ConsentsError as exc:
            return _problem(exc)
        return Response(
            receipt,
            media_type=JWT_MEDIA_TYPE,
            headers={
                "Content-Disposition": f'attachment; filename="consent-receipt-{record_id}.jwt"',
                "Cache-Control": "no-store",
            },
        )

    @router.post(
        "/consents/{record_id}/receipt-check",
        dependencies=read_scope,
        summary="Check the consent's receipt against the ledger's public log, as an outsider would",
        response_model=ReceiptCheckOut,
        responses={
            **signed_in,
            404: problem,
            422: problem,
            502: {**problem, "description": "the ledger could not be reached"},
        },
    )
    def check_receipt(record_id: RecordId, me: Citizen) -> Any:
        try:
            return consents.check_receipt(me, record_id)
        except ConsentsError as exc:
            return _problem(exc)

    return router
