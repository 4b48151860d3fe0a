"""The wallet's JSON API for my data: export everything, delete the account (wallet/my_data.py)."""

# No `from __future__ import annotations`: FastAPI must see the dependency (a local) as an object.
import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import BaseModel, Field

from wallet.api import PROBLEM, WalletServices, problem_response
from wallet.my_data import CONFIRMATION, export_filename


class EraseIn(BaseModel):
    confirm: str = Field(max_length=20, description=f'"{CONFIRMATION}": the citizen confirms, knowing it is final')


class ErasedOut(BaseModel):
    erased: bool
    consents: int = Field(description="consent records erased from the ledger (tombstones keep their status INVALID)")
    history: int
    inbox: int
    credentials: int


def create_router(
    services: WalletServices,
    citizen_id: Callable[..., str],
    reading: Callable[..., Any] | None = None,
    withdrawing: Callable[..., Any] | None = None,
) -> APIRouter:
    """`reading` and `withdrawing` require the ledger's own scopes (consent:read, consent:withdraw)
    on top of `wallet`, as wallet/consents_api.py does: the export holds every consent with its
    receipts (what GET /consent/me serves), and erasing the account withdraws and erases them (more
    than POST /consent/me/withdraw-all does), so neither grants what the ledger's API would refuse."""
    my_data = services.my_data
    router = APIRouter(prefix="/wallet/api", tags=["wallet (citizen)"])
    Citizen = Annotated[str, Depends(citizen_id)]
    read_scope = [Depends(reading)] if reading is not None else []
    withdraw_scope = [Depends(withdrawing)] if withdrawing is not None else []

    @router.get(
        "/export",
        dependencies=read_scope,
        summary="Export everything as one JSON file: credentials decoded, consents with receipts, history, inbox",
        responses={200: {"content": {"application/json": {}}}},
    )
    def export(me: Citizen) -> Response:
        document = my_data.export(me)
        return Response(
            json.dumps(document, ensure_ascii=False, indent=2),
            media_type="application/json",
            headers={
                "Content-Disposition": f'attachment; filename="{export_filename(document)}"',
                "Cache-Control": "no-store",
            },
        )

    @router.post(
        "/account/erase",
        dependencies=withdraw_scope,
        summary="Delete my account: ledger erasure, history and inbox deleted, vault crypto-shredded",
        response_model=ErasedOut,
        responses={400: {"content": {PROBLEM: {}}}},
    )
    def erase(body: EraseIn, me: Citizen) -> Any:
        if body.confirm != CONFIRMATION:
            return problem_response(
                400,
                "confirmation_required",
                {
                    "ko": f'계정을 삭제하려면 "{CONFIRMATION}"를 입력해 확인하세요. 삭제는 되돌릴 수 없습니다.',
                    "en": f'Type "{CONFIRMATION}" to confirm. Deleting cannot be undone.',
                },
            )
        erased = my_data.erase(me)
        return {"erased": True, **erased.__dict__}

    return router
