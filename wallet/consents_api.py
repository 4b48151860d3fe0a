"""Skeleton router, filled in by its feature work."""

# No `from __future__ import annotations`: FastAPI must see dependencies (locals) as objects.
from collections.abc import Callable

from fastapi import APIRouter

from wallet.api import WalletServices


def create_router(services: WalletServices, citizen_id: Callable[..., str]) -> APIRouter:
    return APIRouter(prefix="/wallet/api", tags=["wallet (citizen)"])
