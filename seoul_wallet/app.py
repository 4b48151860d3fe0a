"""The FastAPI app factory: one app that mounts each party's router over shared infrastructure."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.engine import Engine

import catalog
from auth.dependencies import BearerAuth
from auth.oidc_provider import SESSION_MAX_AGE, openid_provider_router, provider_issuer
from auth.oidc_server import OpenIDProviderServer
from auth.server import authorization_server_router
from auth.tokens import AccessTokenService
from consent.api import create_router as consent_router
from consent.presentations import presentation_grants_router
from consent.service import ConsentLedger, origin_from_url
from consent.status_indexes import status_index_key
from eligibility.policies import load_policies
from issuers.api import create_router as issuers_router
from keys.api import jwks_router
from keys.datakeys import DataKeyStore
from keys.keyring import KeyRing
from keys.master import load_master_key
from keys.subjects import PairwiseSubjects
from outbound.status_lists import StatusListClient
from seoul_wallet.api_docs import install_api_docs
from seoul_wallet.browser import SignedSessionCookie, csrf_token, install_csrf
from seoul_wallet.database import create_database_engine
from seoul_wallet.demo_data import install_demo_seeding
from seoul_wallet.landing import landing_router
from seoul_wallet.logging_setup import configure_logging
from seoul_wallet.middleware import BodySizeLimitMiddleware, RequestIdMiddleware, SecurityHeadersMiddleware
from seoul_wallet.openapi_errors import install_error_contract
from seoul_wallet.problems import install_problem_handlers, problem_response
from seoul_wallet.rate_limits import build_rate_limits, install_rate_limits
from seoul_wallet.settings import Settings
from seoul_wallet.text_guard import TextGuardMiddleware
from verifiers.api import create_router as verifiers_router
from verifiers.api import run_callback_worker
from verifiers.consent_http import HttpConsentGateway
from verifiers.responses import PresentationResponses, recover_acceptances
from verifiers.rp_ca import RelyingPartyCA
from verifiers.service import VerifierError, VerifierService, VerifierSettings
from verifiers.trusted_issuers import TrustedIssuerRegistry

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
    "consent:record",
    "wallet",
]


@dataclass
class Platform:
    """What every party shares in the embedded deployment: settings, database, keys."""

    settings: Settings
    engine: Engine
    keyring: KeyRing
    tokens: AccessTokenService
    bearer: BearerAuth
    # Pairwise subjects: what verifiers' decisions (and, for services, sign-ins) say of a citizen.
    subjects: PairwiseSubjects
    master_key: bytes = field(repr=False, default=b"")
    # Outbound HTTP from one party to another (issuer metadata, status lists, the consent ledger):
    # the parties meet over HTTP even when one process hosts them all. Tests point it at the app.
    # The verifier's call to the ledger, awaited inside a request, uses a keep-alive async client
    # beside it when this one reaches the network, and follows it otherwise (verifiers/consent_http.py).
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10.0))
    # The wallet's sign-in calls the OpenID provider asynchronously; tests route it to the app.
    provider_transport: httpx.AsyncBaseTransport | None = None


def build_platform(settings: Settings, engine: Engine | None = None) -> Platform:
    """The shared infrastructure; `engine` lets tests share one migrated engine across apps."""
    engine = engine or create_database_engine(settings.resolved_database_url)
    master_key = load_master_key(settings.master_key_value, settings.resolved_master_key_file)
    keyring = KeyRing(engine, master_key)
    tokens = AccessTokenService(keyring, issuer=settings.public_url)
    return Platform(
        settings=settings,
        engine=engine,
        keyring=keyring,
        tokens=tokens,
        bearer=BearerAuth(tokens),
        subjects=PairwiseSubjects(master_key),
        master_key=master_key,
    )


def consent_ledger(platform: Platform) -> ConsentLedger:
    """The consent ledger over the platform's database and keys (shared by the API and the CLI)."""
    public_url = platform.settings.public_url
    return ConsentLedger(
        platform.engine,
        platform.keyring,
        origin=origin_from_url(public_url),
        base_url=public_url,
        status_index_key=status_index_key(platform.master_key),
    )


def verifier_service(platform: Platform) -> VerifierService:
    """The verifier party over the platform: trusted issuers, status lists and the consent ledger are
    reached over HTTP (`platform.http`), as another organisation's verifier would reach them."""
    settings = platform.settings
    types = catalog.credential_types()
    services = catalog.services()
    return VerifierService(
        engine=platform.engine,
        keyring=platform.keyring,
        data_keys=DataKeyStore(platform.engine, platform.master_key),
        registry=TrustedIssuerRegistry(platform.engine, platform.http, allow_http=settings.development),
        status_lists=StatusListClient(platform.http, allow_http=settings.development),
        ca=RelyingPartyCA(platform.engine, platform.keyring),
        consent=HttpConsentGateway(platform.http, settings.public_url, platform.tokens),
        subjects=platform.subjects,
        policies=load_policies(services, types),
        services=services,
        types=types,
        settings=VerifierSettings(
            public_url=settings.public_url,
            development=settings.development,
            vp_token_retention=settings.vp_token_retention_seconds,
        ),
    )


def openid_provider(platform: Platform) -> APIRouter:
    """The built-in OpenID provider at `{public_url}/idp`, for development and the demo only."""
    settings = platform.settings
    issuer = provider_issuer(settings.public_url)
    server = OpenIDProviderServer(platform.engine, platform.keyring, platform.tokens, platform.subjects, issuer)
    session = SignedSessionCookie(
        platform.master_key,
        purpose="seoul-wallet: OpenID provider session v1",
        name="idp_session",
        path=urlsplit(issuer).path,
        secure=not settings.development,
        max_age=SESSION_MAX_AGE,
    )
    return openid_provider_router(server, session=session, csrf_token=csrf_token, development=settings.development)


def create_served_app() -> FastAPI:
    """The factory `serve` hands to uvicorn. Each worker process runs it, and worker processes are
    spawned fresh, so each must set up the JSON logs itself (otherwise the access log is lost)."""
    settings = Settings()
    configure_logging(settings.log_level)
    app = create_app(settings)
    install_demo_seeding(app)  # development only (it checks): the demo citizens' offers, once served
    return app


def create_app(settings: Settings | None = None, platform: Platform | None = None) -> FastAPI:
    """Build the app. The database must already be migrated (`seoul-wallet db upgrade`, done by `serve`)."""
    platform = platform or build_platform(settings or Settings())

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        workers = [asyncio.create_task(start()) for start in app.state.background_workers]
        if platform.settings.callback_worker:
            workers.append(asyncio.create_task(run_callback_worker(app.state.verifiers, platform.http)))
            # Acceptances an attempt left in flight (a crash, a lost ledger answer), at startup and
            # every few seconds: each is completed or rolled back as the ledger answers.
            workers.append(asyncio.create_task(recover_acceptances(PresentationResponses(app.state.verifiers))))
        try:
            yield
        finally:
            for worker in workers:
                worker.cancel()
            for worker in workers:
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
            if isinstance(app.state.verifiers.consent, HttpConsentGateway):
                await app.state.verifiers.consent.aclose()  # this worker's keep-alive client to the ledger

    app = FastAPI(
        lifespan=lifespan,
        # A trailing-slash redirect is built from the request's Host header: an open redirect for
        # anyone who controls that header. A path either exists or is a 404.
        redirect_slashes=False,
        # /docs is served from this app's own files, with its own CSP (seoul_wallet/api_docs.py).
        docs_url=None,
        redoc_url=None,
        title="Seoul Wallet (서울지갑)",
        version="0.1.0",
        description=(
            "A MyData-style citizen data wallet: agencies issue SD-JWT VCs over OpenID4VCI, citizens hold them "
            "and consent to each use, services verify eligibility over OpenID4VP, and a transparency log "
            "records every consent event. Errors are RFC 9457 Problem Details."
        ),
    )
    app.state.platform = platform
    install_api_docs(app)
    # Long-running tasks a party adds (coroutine factories), started and cancelled with the app.
    app.state.background_workers = []
    install_problem_handlers(app)
    install_error_contract(app, token_url="/oauth/token")  # the app-wide errors, in the OpenAPI document
    # Before the body-size limit, which then wraps it: the limit bounds the form asgi-csrf reads too.
    install_csrf(app, platform.master_key, secure=not platform.settings.development)
    app.add_middleware(TextGuardMiddleware)  # inside the size limit: it reads bounded bodies only
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=platform.settings.max_body_bytes)
    app.add_middleware(SecurityHeadersMiddleware, development=platform.settings.development)
    app.add_middleware(RequestIdMiddleware)
    # Counters every worker shares (Redis or the database); each request knows its caller's address.
    install_rate_limits(app, build_rate_limits(platform.settings, platform.engine, platform.master_key))

    @app.get("/healthz", tags=["operations"], summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:  # async: answered on the event loop, never waits for a pool thread
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

    # Routes are matched one by one in the order they are included, so the presentation path
    # (request creation, request object, response, result, the ledger's grant) comes first: behind
    # the other parties' routes each of its requests spent ~0.4 ms matching (bench/RESULTS.md).
    # No two parties share a path, so the order changes which route is tried first, never which one
    # answers; the OpenAPI document lists operations in this order.
    ledger = consent_ledger(platform)
    verifiers = verifier_service(platform)
    app.state.verifiers = verifiers
    app.include_router(verifiers_router(verifiers, platform.bearer))
    app.include_router(
        presentation_grants_router(ledger, platform.bearer.require("consent:record"), subjects=platform.subjects)
    )
    app.include_router(landing_router(platform))
    app.include_router(
        jwks_router(platform.keyring, PLATFORM_OWNER, "/.well-known/jwks.json", "The platform's public signing keys")
    )
    app.include_router(authorization_server_router(platform.engine, platform.tokens, SCOPES))
    if platform.settings.idp_enabled:
        app.include_router(openid_provider(platform))
    app.include_router(
        consent_router(
            ledger,
            citizen_read=platform.bearer.require("consent:read"),
            citizen_withdraw=platform.bearer.require("consent:withdraw"),
            verifier_read=platform.bearer.require("consent:verifier-read"),
        )
    )
    # The issuers derive their own keys (offer sealing, codes) from the master key by HKDF.
    app.include_router(
        issuers_router(
            platform.engine,
            platform.keyring,
            platform.master_key,
            platform.settings.public_url,
            platform.bearer.require,
        )
    )
    from seoul_wallet.wallet_party import mount_wallet  # it builds on this module's Platform

    mount_wallet(app, platform)
    from consoles.mount import mount_consoles  # the officers' consoles, a front end of the parties' APIs

    mount_consoles(app, platform)

    @app.exception_handler(VerifierError)
    async def _verifier_error(request: Request, exc: VerifierError) -> JSONResponse:
        title = exc.reason.replace("_", " ").capitalize()
        return problem_response(exc.status, title, exc.detail, instance=request.url.path, reason=exc.reason)

    return app
