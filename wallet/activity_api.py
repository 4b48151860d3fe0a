"""The citizen's history and inbox over the wallet's JSON API.

`GET /wallet/api/history` is the transaction log (EUDI ARF dashboard): every issuance, presentation
and refusal, newest first, in pages (`limit`, `before` = the last id of the previous page). `GET
/wallet/api/inbox` lists the notices, newest first (it first adds the derived ones: services newly
eligible, consents expiring within 30 days), with the unread count; `POST …/inbox/{id}/read` marks
one read. Neither ever holds a claim value. Someone else's item id answers 404, like an unknown one.
"""

# No `from __future__ import annotations`: FastAPI must see dependencies (locals) as objects.
import dataclasses
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from wallet.api import PROBLEM, WalletServices, problem_response
from wallet.inbox import InboxItemNotFound

_ID = r"^[A-Za-z0-9_-]{1,32}$"
PAGE_MAX = 200


class ClaimsOut(BaseModel):
    type: str = Field(description="the credential type (the issuer's configuration id, or the query id)")
    claims: list[list[str | int | None]] = Field(description="claim paths (names), never values")


class CredentialTypeOut(BaseModel):
    type: str
    vct: str | None


class HistoryEntryOut(BaseModel):
    id: str
    time: int = Field(description="Unix seconds")
    kind: str = Field(description="issuance, presentation or denial")
    party_id: str = Field(description="the credential issuer identifier, or the verifier's full client_id")
    party_name: dict[str, str] = Field(description="{ko, en}")
    credential_types: list[CredentialTypeOut]
    claims_requested: list[ClaimsOut]
    claims_shared: list[ClaimsOut] = Field(description="for an issuance: what the issuer put in the wallet")
    outcome: str = Field(description="received; accepted, rejected or unreachable (the verifier's answer); declined")
    consent_record_id: str | None
    detail: dict[str, Any] = Field(description="verifier id, service, purpose, HTTP status, credential ids")


class HistoryPage(BaseModel):
    entries: list[HistoryEntryOut]
    next_before: str | None = Field(description="pass as `before` for the next page; null on the last page")


class InboxItemOut(BaseModel):
    id: str
    created_at: int
    kind: str = Field(
        description="credential_received, service_eligible, consent_expiring, credential_revoked, "
        "credential_suspended or credential_valid_again"
    )
    payload: dict[str, Any] = Field(description="ids and names of what the notice is about, never a claim value")
    read_at: int | None


class InboxOut(BaseModel):
    items: list[InboxItemOut]
    unread: int


def create_router(services: WalletServices, citizen_id: Callable[..., str]) -> APIRouter:
    router = APIRouter(prefix="/wallet/api", tags=["wallet (citizen)"])
    problem = {"content": {PROBLEM: {}}}
    Citizen = Annotated[str, Depends(citizen_id)]

    @router.get(
        "/history",
        summary="My history: every issuance and presentation, newest first (claim names, never values)",
        response_model=HistoryPage,
    )
    def history(
        me: Citizen,
        limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 50,
        before: Annotated[str | None, Query(pattern=_ID, description="the last id of the previous page")] = None,
    ) -> dict[str, Any]:
        # One more than asked tells whether another page follows.
        entries = services.history.list(me, limit + 1, before)
        page = entries[:limit]
        return {
            "entries": [dataclasses.asdict(e) for e in page],
            "next_before": page[-1].id if len(entries) > limit else None,
        }

    @router.get(
        "/inbox",
        summary="My inbox: new credentials, services I became eligible for, consents expiring, status changes",
        response_model=InboxOut,
    )
    def inbox(me: Citizen) -> dict[str, Any]:
        items = services.inbox.list(me)
        return {"items": [dataclasses.asdict(i) for i in items], "unread": services.inbox.unread_count(me)}

    @router.post(
        "/inbox/{item_id}/read",
        summary="Mark one of my inbox items read",
        response_model=InboxItemOut,
        responses={404: problem},
    )
    def mark_read(item_id: Annotated[str, Path(pattern=_ID)], me: Citizen) -> Any:
        try:
            item = services.inbox.mark_read(me, item_id)
        except InboxItemNotFound:
            return problem_response(
                404, "inbox_item_not_found", {"ko": "그런 알림이 없습니다.", "en": "No such inbox item."}
            )
        return dataclasses.asdict(item)

    return router
