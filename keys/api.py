"""Publishing public keys: a JWKS document per owner (RFC 7517)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from keys.keyring import KeyRing

# Verifiers may cache a JWKS briefly; rotation publishes the new key before it signs anything
# for longer than this, because old keys stay published until retired.
JWKS_MAX_AGE = 300


def jwks_router(keyring: KeyRing, owner: str, path: str, summary: str) -> APIRouter:
    """A router serving `owner`'s JWKS at `path`."""
    router = APIRouter(tags=["keys"])

    @router.get(path, summary=summary, response_model=dict[str, list[dict[str, Any]]])
    def jwks(response: Response) -> dict[str, list[dict[str, Any]]]:
        response.headers["Cache-Control"] = f"public, max-age={JWKS_MAX_AGE}"
        return keyring.jwks(owner)

    return router
