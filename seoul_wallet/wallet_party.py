"""The wallet party over the platform: its services, the citizen's sign-in, the JSON API and the
home page. The wallet reaches issuers and verifiers over HTTP (`platform.http`) like any wallet, and
writes to the consent ledger directly (same operator)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from starlette.middleware.sessions import SessionMiddleware

from auth.oidc_clients import WALLET_CLIENT_ID, development_wallet_client
from auth.oidc_provider import provider_issuer
from keys.datakeys import DataKeyStore
from keys.master import derive_key
from seoul_wallet.app import Platform, consent_ledger
from seoul_wallet.browser import csrf_token
from wallet.activity_api import create_router as create_activity_router
from wallet.api import WalletServices, citizen_dependency, create_router, install_error_handlers
from wallet.consents import WalletConsents
from wallet.consents_api import create_router as create_consents_router
from wallet.history import History
from wallet.inbox import Inbox
from wallet.my_data import MyData
from wallet.my_data_api import create_router as create_my_data_router
from wallet.offer_delivery import create_router as create_offer_delivery_router
from wallet.present import PresentationService
from wallet.receive import CredentialReceiver
from wallet.recipients import PlatformVerifiers
from wallet.services_api import create_router as create_services_router
from wallet.services_for_me import APPLY_SCOPE, APPLY_TOKEN_TTL, ServicesForMe, platform_issuers
from wallet.signin import ProviderConfig, SignInUnavailable, WalletSignIn
from wallet.status_refresh import StatusRefresher, run_status_refresher
from wallet.vault import Vault
from wallet.web import install_pages

SESSION_MAX_AGE = 8 * 3600  # a working day; the provider's own session may be longer


def wallet_services(platform: Platform) -> WalletServices:
    """The wallet's services (shared by the API, the pages and the CLI)."""
    settings = platform.settings
    vault = Vault(platform.engine, DataKeyStore(platform.engine, platform.master_key))
    anchors = [path.read_bytes() for path in settings.trust_anchor_files]
    ledger = consent_ledger(platform)
    # -- history and inbox (wallet/history.py, wallet/inbox.py) --
    history = History(platform.engine)
    # Two kinds of items are derived from services built below (services for me, my consents):
    # the inbox reaches them through `built`, filled once the WalletServices exists.
    built: list[WalletServices] = []
    inbox = Inbox(
        platform.engine,
        eligible_now=lambda citizen: built[0].services.eligible_ids(citizen),
        expiring=lambda citizen, seconds: built[0].consents.expiring_within(citizen, seconds),
    )
    # -- end history and inbox --
    consents = WalletConsents(ledger, platform.http, settings.public_url, development=settings.development)
    services = WalletServices(
        vault=vault,
        receiver=CredentialReceiver(
            vault, platform.http, development=settings.development, history=history, inbox=inbox
        ),
        presenter=PresentationService(
            vault,
            ledger,
            platform.http,
            trust_anchors=anchors,
            platform=PlatformVerifiers(settings.public_url),
            development=settings.development,
            subject_for=platform.subjects.for_verifier,
            history=history,
        ),
        # -- my consents (wallet/consents.py) --
        consents=consents,
        # -- end my consents --
        history=history,
        inbox=inbox,
        my_data=MyData(vault, ledger, consents, history, inbox),
        services=ServicesForMe(
            vault,
            trusted=platform_issuers(settings.public_url),
            # One minute, one scope: the verifier's apply endpoint binds the check to this citizen.
            apply_token=lambda citizen: platform.tokens.issue(
                f"citizen:{citizen}", WALLET_CLIENT_ID, [APPLY_SCOPE], ttl=APPLY_TOKEN_TTL
            ),
            http=platform.http,
            public_url=settings.public_url,
            development=settings.development,
        ),
        development=settings.development,
    )
    built.append(services)
    return services


def provider_config(platform: Platform) -> ProviderConfig | None:
    """The OpenID provider the wallet signs citizens in with: the configured one, else the built-in
    one in development (with its development client), else none."""
    settings = platform.settings
    public = settings.public_url
    urls = {"redirect_uri": f"{public}/wallet/auth/callback", "post_logout_redirect_uri": f"{public}/wallet"}
    if settings.oidc_issuer and settings.oidc_client_id and settings.oidc_client_secret:
        return ProviderConfig(
            settings.oidc_issuer,  # compared exactly with the ID token's `iss`: no normalising
            settings.oidc_client_id,
            settings.oidc_client_secret.get_secret_value(),
            **urls,
        )
    if settings.idp_enabled and settings.development:
        client_id, secret = development_wallet_client(settings, platform.master_key)
        return ProviderConfig(provider_issuer(public), client_id, secret, **urls)
    return None


def mount_wallet(app: FastAPI, platform: Platform) -> WalletServices:
    """Mount the wallet: the session cookie, sign-in, home page and JSON API."""
    services = wallet_services(platform)
    app.state.wallet = services
    # The background status check: revocations and suspensions reach the citizen's inbox.
    refresher = StatusRefresher(
        services.vault, services.inbox, platform.http, development=platform.settings.development
    )
    app.state.wallet_status_refresher = refresher
    interval = platform.settings.wallet_status_refresh_seconds
    if interval > 0:
        app.state.background_workers.append(lambda: run_status_refresher(refresher, interval))
    signin = WalletSignIn(
        provider_config(platform),
        services.vault.ensure_account,
        transport=lambda: platform.provider_transport,
    )
    app.state.wallet_signin = signin
    app.add_middleware(
        SessionMiddleware,
        secret_key=derive_key(platform.master_key, "seoul-wallet: wallet browser session v1").hex(),
        session_cookie="seoul_wallet_session",
        path="/wallet",
        max_age=SESSION_MAX_AGE,
        same_site="lax",
        https_only=not platform.settings.development,
    )
    install_pages(app, services, csrf_token)

    @app.get("/wallet/auth/login", include_in_schema=False)
    async def login(request: Request, return_to: str | None = None) -> Response:
        return await _available(signin.login, request, return_to)

    @app.get("/wallet/auth/callback", include_in_schema=False)
    async def callback(request: Request) -> Response:
        return await _available(signin.callback, request)

    @app.post("/wallet/auth/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        return await signin.logout(request)

    install_error_handlers(app)
    citizen_id = citizen_dependency(services, platform.bearer.require("wallet"))
    app.include_router(create_router(services, citizen_id))
    app.include_router(
        create_consents_router(
            services,
            citizen_id,
            reading=platform.bearer.require("consent:read"),
            withdrawing=platform.bearer.require("consent:withdraw"),
        )
    )
    app.include_router(create_activity_router(services, citizen_id))
    app.include_router(create_services_router(services, citizen_id))
    app.include_router(
        create_my_data_router(
            services,
            citizen_id,
            reading=platform.bearer.require("consent:read"),
            withdrawing=platform.bearer.require("consent:withdraw"),
        )
    )
    app.include_router(create_offer_delivery_router(services, platform.bearer, platform.settings.public_url))
    return services


async def _available(step: Callable[..., Awaitable[Response]], request: Request, *args: object) -> Response:
    try:
        return await step(request, *args)
    except SignInUnavailable:
        return HTMLResponse("<p>Sign-in is not configured (SEOUL_WALLET_OIDC_ISSUER).</p>", status_code=503)
