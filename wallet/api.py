"""The wallet's JSON API for a mobile app (and the pages' second face): the citizen's credentials,
receiving (OpenID4VCI) and sharing (OpenID4VP). Every route takes the citizen's platform token
(`citizen:<id>`, scope `wallet`), obtained through the same sign-in as the web app; a credential id
that is not the caller's answers 404, exactly like one that does not exist.

Thin: parse, call the wallet's services (receive.py, present.py, vault.py), map their refusals to
RFC 9457 Problem Details that carry the stable `reason` and the citizen-facing messages.
"""

# No `from __future__ import annotations`: FastAPI must see the dependency (a local) as an object.
import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from auth.tokens import AccessToken
from vc.sd_jwt_vc import ISSUED_IN_CLEAR
from wallet.consents import WalletConsents
from wallet.history import History
from wallet.inbox import Inbox
from wallet.my_data import MyData
from wallet.present import PresentationService, SharingRequest
from wallet.present_errors import SharingRefused
from wallet.receive import CredentialReceiver, ReceiveError
from wallet.services_for_me import ServicesForMe
from wallet.vault import CredentialNotFound, StoredCredential, Vault

PROBLEM = "application/problem+json"
MAX_LINK = 8192


@dataclass(frozen=True)
class WalletServices:
    """The wallet party's services, built by the composition root."""

    vault: Vault
    receiver: CredentialReceiver
    presenter: PresentationService
    consents: WalletConsents
    history: History
    inbox: Inbox
    services: ServicesForMe
    my_data: MyData
    development: bool


# -- bodies -------------------------------------------------------------------------------------------


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore")


class OfferIn(_In):
    offer: str = Field(
        min_length=1,
        max_length=MAX_LINK,
        description="openid-credential-offer://?credential_offer=… or ?credential_offer_uri=…",
    )


class ReceiveIn(OfferIn):
    tx_code: str | None = Field(default=None, max_length=64, description="the code (PIN), when the offer asks for one")


class RequestIn(_In):
    request: str = Field(
        min_length=1, max_length=MAX_LINK, description="openid4vp://?client_id=…&request_uri=… (or by value)"
    )


class ApproveIn(RequestIn):
    notice_sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$", description="the notice_sha256 of the sharing request the citizen approved"
    )
    choices: dict[str, str] = Field(
        default_factory=dict, max_length=50, description="credential query id -> the credential id chosen"
    )
    language: Literal["ko", "en"] = "ko"


class DenyIn(RequestIn):
    language: Literal["ko", "en"] = "ko"


class CredentialOut(BaseModel):
    id: str
    issuer: str
    vct: str
    configuration_id: str
    display: dict[str, Any]
    status: str = Field(description="valid, revoked or suspended")
    issued_at: int
    expires_at: int | None
    received_at: int
    status_checked_at: int | None


class CredentialDetail(CredentialOut):
    claims: list[dict[str, Any]] = Field(description="each claim: path, display name per locale, value")


class CredentialList(BaseModel):
    credentials: list[CredentialOut]


def credential_summary(stored: StoredCredential) -> dict[str, Any]:
    # The fields the API shows (not the status list reference: that is the issuer's business).
    return {name: getattr(stored, name) for name in CredentialOut.model_fields}


def jsonable(value: Any) -> Any:
    """A view dataclass as JSON: tuples become lists, durations seconds."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dt.timedelta):
        return int(value.total_seconds())
    return value


def problem_response(status: int, reason: str, messages: dict[str, str], **extra: Any) -> JSONResponse:
    return JSONResponse(
        {
            "type": f"/problems/wallet/{reason}",
            "title": messages.get("en", reason),
            "status": status,
            "detail": messages.get("ko", ""),
            "reason": reason,
            "messages": messages,
            **extra,
        },
        status_code=status,
        media_type=PROBLEM,
    )


def _not_found() -> JSONResponse:
    return problem_response(404, "credential_not_found", {"ko": "그런 증명서가 없습니다.", "en": "No such credential."})


def _claims(opened: Any) -> list[dict[str, Any]]:
    names = {tuple(c.get("path", ())): c.get("name", {}) for c in opened.stored.display.get("claims", [])}
    return [
        {"path": [name], "name": names.get((name,), {}), "value": value}
        for name, value in opened.claims.items()
        if name not in ISSUED_IN_CLEAR  # the registered claims: metadata, shown as such, not as claims
    ]


def citizen_dependency(services: WalletServices, bearer: Callable[..., Any]) -> Callable[..., str]:
    """A FastAPI dependency: the platform id of the citizen the bearer token (scope `wallet`) acts
    for; any other subject is refused (403 `not_a_citizen`). Every wallet router uses it."""

    def citizen_id(token: Annotated[AccessToken, Depends(bearer)]) -> str:
        if not token.subject.startswith("citizen:"):
            raise _Forbidden()
        citizen = token.subject.removeprefix("citizen:")
        # The provider's sign-in created the account; a token alone for a new id opens it too
        # (the same platform id, so the same person: the token is the platform's own).
        services.vault.ensure_account(citizen)
        return citizen

    return citizen_id


def create_router(services: WalletServices, citizen_id: Callable[..., str]) -> APIRouter:
    """The JSON API under /wallet/api. `citizen_id` is `citizen_dependency(...)`."""
    router = APIRouter(prefix="/wallet/api", tags=["wallet (citizen)"])
    problem = {"content": {PROBLEM: {}}}
    Citizen = Annotated[str, Depends(citizen_id)]

    @router.get("/credentials", summary="My credentials (no claim values)", response_model=CredentialList)
    def list_credentials(me: Citizen) -> dict[str, Any]:
        return {"credentials": [credential_summary(c) for c in services.vault.list(me)]}

    @router.get(
        "/credentials/{credential_id}",
        summary="One of my credentials, with its claims and the issuer's display names",
        response_model=CredentialDetail,
        responses={404: problem},
    )
    def get_credential(credential_id: str, me: Citizen) -> Any:
        try:
            opened = services.vault.open(me, credential_id)
        except CredentialNotFound:
            return _not_found()
        return {**credential_summary(opened.stored), "claims": _claims(opened)}

    @router.delete(
        "/credentials/{credential_id}",
        summary="Remove one of my credentials (its holder key goes with it)",
        status_code=204,
        response_class=Response,
        responses={404: problem},
    )
    def delete_credential(credential_id: str, me: Citizen) -> Response:
        try:
            services.vault.delete(me, credential_id)
        except CredentialNotFound:
            return _not_found()
        return Response(status_code=204)

    @router.post(
        "/offers",
        summary="Read a credential offer: who offers what, and whether a code is needed (nothing stored)",
        responses={400: problem},
    )
    async def read_offer(body: OfferIn, me: Citizen) -> Any:
        try:
            offer = await run_in_threadpool(services.receiver.parse_offer, body.offer)
        except ReceiveError as exc:
            return receive_problem(exc)
        return {
            "credential_issuer": offer.credential_issuer,
            "issuer_name": offer.issuer_name,
            "credentials": [jsonable(c) for c in offer.credentials],
            "tx_code": jsonable(offer.tx_code) if offer.tx_code else None,
        }

    @router.post(
        "/credentials",
        status_code=201,
        summary="Accept a credential offer: receive, verify and store its credentials",
        response_model=CredentialList,
        responses={400: problem},
    )
    async def receive(body: ReceiveIn, me: Citizen) -> Any:
        def run() -> list[StoredCredential]:
            offer = services.receiver.parse_offer(body.offer)
            return services.receiver.receive(me, offer, body.tx_code)

        try:
            stored = await run_in_threadpool(run)
        except ReceiveError as exc:
            return receive_problem(exc)
        return JSONResponse({"credentials": [credential_summary(c) for c in stored]}, status_code=201)

    async def _open(me: str, link: str) -> SharingRequest:
        return await run_in_threadpool(services.presenter.open_request, me, link)

    @router.post(
        "/sharing-requests",
        summary="Open a sharing request (OpenID4VP): who asks, for what, exactly which claims (nothing sent)",
        responses={400: problem},
    )
    async def open_request(body: RequestIn, me: Citizen) -> Any:
        try:
            sharing = await _open(me, body.request)
        except SharingRefused as exc:
            return sharing_problem(exc)
        return jsonable(sharing.view)

    @router.post(
        "/sharing-requests/approve",
        summary="Share what the sharing request showed: the consent is recorded first, then the presentation sent",
        responses={400: problem, 409: problem},
    )
    async def approve(body: ApproveIn, me: Citizen) -> Any:
        try:
            sharing = await run_in_threadpool(services.presenter.reopen, me, body.request, body.notice_sha256)
            outcome = await run_in_threadpool(
                lambda: services.presenter.approve(me, sharing, body.choices, language=body.language)
            )
        except SharingRefused as exc:
            return sharing_problem(exc)
        return jsonable(outcome)

    @router.post(
        "/sharing-requests/deny",
        summary="Decline a sharing request: the refusal is recorded and the verifier told (access_denied)",
        responses={400: problem},
    )
    async def deny(body: DenyIn, me: Citizen) -> Any:
        try:
            sharing = await _open(me, body.request)
            outcome = await run_in_threadpool(lambda: services.presenter.deny(me, sharing, language=body.language))
        except SharingRefused as exc:
            return sharing_problem(exc)
        return jsonable(outcome)

    return router


class _Forbidden(Exception):
    """A token that does not act for a citizen (an agency's or a verifier's)."""


def install_error_handlers(app: Any) -> None:
    @app.exception_handler(_Forbidden)
    async def _forbidden(request: Request, exc: _Forbidden) -> JSONResponse:
        return problem_response(
            403, "not_a_citizen", {"ko": "시민의 토큰이 아닙니다.", "en": "This token does not act for a citizen."}
        )


def receive_problem(exc: ReceiveError) -> JSONResponse:
    return problem_response(400, exc.reason, exc.messages, step=exc.step)


def sharing_problem(exc: SharingRefused) -> JSONResponse:
    return problem_response(409 if exc.reason == "request_changed" else 400, exc.reason, exc.messages)
