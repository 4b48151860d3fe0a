"""The FastAPI app factory: one app that mounts each party's router over shared infrastructure."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.engine import Engine

from auth.dependencies import BearerAuth
from auth.server import authorization_server_router
from auth.tokens import AccessTokenService
from keys.api import jwks_router
from keys.keyring import KeyRing
from keys.master import load_master_key
from seoul_wallet.database import create_database_engine
from seoul_wallet.middleware import BodySizeLimitMiddleware, RequestIdMiddleware
from seoul_wallet.problems import install_problem_handlers, problem_response
from seoul_wallet.settings import Settings

PLATFORM_OWNER = "platform"
# Every scope a client of the platform authorization server may hold, by the party that checks it.
SCOPES = [
    "agencies:admin",
    "verifiers:admin",
    "credentials:offer",
    "credentials:revoke",
    "presentations:request",
    "consent:read",
    "consent:withdraw",
    "consent:verifier-read",
]


@dataclass
class Platform:
    """What every party shares in the embedded deployment: settings, database, keys."""

    settings: Settings
    engine: Engine
    keyring: KeyRing
    tokens: AccessTokenService
    bearer: BearerAuth


def build_platform(settings: Settings, engine: Engine | None = None) -> Platform:
    """The shared infrastructure; `engine` lets tests share one migrated engine across apps."""
    engine = engine or create_database_engine(settings.resolved_database_url)
    master_key = load_master_key(settings.master_key, settings.resolved_master_key_file)
    keyring = KeyRing(engine, master_key)
    tokens = AccessTokenService(keyring, issuer=settings.public_url)
    return Platform(settings=settings, engine=engine, keyring=keyring, tokens=tokens, bearer=BearerAuth(tokens))


def create_app(settings: Settings | None = None, platform: Platform | None = None) -> FastAPI:
    """Build the app. The database must already be migrated (`seoul-wallet db upgrade`, done by `serve`)."""
    platform = platform or build_platform(settings or Settings())
    app = FastAPI(
        title="Seoul Wallet (서울지갑)",
        version="0.1.0",
        description=(
            "A MyData-style citizen data wallet: agencies issue SD-JWT VCs over OpenID4VCI, citizens hold them "
            "and consent to each use, services verify eligibility over OpenID4VP, and a transparency log "
            "records every consent event. Errors are RFC 9457 Problem Details."
        ),
    )
    app.state.platform = platform
    install_problem_handlers(app)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=platform.settings.max_body_bytes)
    app.add_middleware(RequestIdMiddleware)

    @app.get("/healthz", tags=["operations"], summary="Liveness: the process answers")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["operations"],
        summary="Readiness: the database answers",
        responses={503: {"description": "The database is unreachable", "content": {"application/problem+json": {}}}},
    )
    def readyz() -> JSONResponse:
        try:
            with platform.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as exc:  # any driver error means "not ready", never a 500
            return problem_response(503, "Database unavailable", str(exc.__class__.__name__))
        return JSONResponse({"status": "ready"})

    app.include_router(
        jwks_router(platform.keyring, PLATFORM_OWNER, "/.well-known/jwks.json", "The platform's public signing keys")
    )
    app.include_router(authorization_server_router(platform.engine, platform.tokens, SCOPES))
    return app
