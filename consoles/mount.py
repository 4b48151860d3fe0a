"""Mounting the consoles on the platform's app (called once from seoul_wallet.app.create_app): their
sign-in, session cookie, landing page and language switch, and the agency and service consoles.

This is the one module of the package that knows the composition root (the Platform, the browser
security helpers); everything else receives what it needs.

Configuration. In development the built-in provider signs officers in with the client
`seoul-wallet-consoles`, and the consoles act for the demo parties with their demo clients (ids and
secrets derived from the master key: consoles/clients.py), seeded with the officers before the first
console page. Elsewhere: the wallet's provider (`SEOUL_WALLET_OIDC_ISSUER`) with the consoles' own
client, `SEOUL_WALLET_CONSOLES_CLIENT_ID` and `SEOUL_WALLET_CONSOLES_CLIENT_SECRET`; the parties'
OAuth clients in the JSON file `SEOUL_WALLET_CONSOLES_PARTY_CLIENTS_FILE`; and the officers'
affiliations in the `console_officers` table (consoles.officers.affiliate).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.concurrency import run_in_threadpool

from auth.oidc_clients import development_client_secret
from auth.oidc_provider import provider_issuer
from consoles import agency, cohort, service
from consoles.clients import PartyClients, PartyCredentials, credentials_from_file, demo_client_credentials
from consoles.context import Console
from consoles.officers import CONSOLES_CLIENT_ID, officer, seed_development_consoles
from consoles.records import Records
from consoles.rendering import CONSOLE_OF, ConsolePages
from consoles.signin import (
    ConsoleProvider,
    ConsoleSignIn,
    SignInFailed,
    SignInThrottled,
    SignInUnavailable,
    local_path,
)
from seoul_wallet.app import Platform
from seoul_wallet.browser import SignedSessionCookie, csrf_token
from wallet.web.messages import LANGUAGES, N_
from wallet.web.rendering import LANGUAGE_COOKIE

SESSION_MAX_AGE = 8 * 3600  # a working day
LANGUAGE_COOKIE_AGE = 365 * 86400


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SEOUL_WALLET_CONSOLES_", env_file=".env", extra="ignore")

    client_id: str | None = None
    client_secret: SecretStr | None = None
    party_clients_file: Path | None = None


def console_provider(platform: Platform, settings: ConsoleSettings) -> ConsoleProvider | None:
    """The configured provider with the consoles' client; else the built-in one in development."""
    main = platform.settings
    urls = {
        "redirect_uri": f"{main.public_url}/consoles/auth/callback",
        "post_logout_redirect_uri": f"{main.public_url}/consoles",
    }
    if main.oidc_issuer and settings.client_id and settings.client_secret:
        return ConsoleProvider(main.oidc_issuer, settings.client_id, settings.client_secret.get_secret_value(), **urls)
    if main.idp_enabled and main.development:
        secret = development_client_secret(platform.master_key, CONSOLES_CLIENT_ID)
        return ConsoleProvider(provider_issuer(main.public_url), CONSOLES_CLIENT_ID, secret, **urls)
    return None


def mount_consoles(app: FastAPI, platform: Platform) -> Console:
    main, settings = platform.settings, ConsoleSettings()
    cookie = SignedSessionCookie(
        platform.master_key,
        purpose="seoul-wallet: consoles browser session v1",
        name="seoul_wallet_console",
        path="/consoles",
        secure=not main.development,
        max_age=SESSION_MAX_AGE,
    )
    signin = ConsoleSignIn(console_provider(platform, settings), cookie, transport=lambda: platform.provider_transport)
    if main.development:
        credentials = lambda subject: demo_client_credentials(platform.master_key, subject)  # noqa: E731
        # Not at app creation: the app is also built over an empty database (the OpenAPI export).
        prepare = lambda: seed_development_consoles(platform.engine, platform.master_key, main.public_url)  # noqa: E731
    else:
        none: dict[str, PartyCredentials] = {}
        file = settings.party_clients_file
        credentials = credentials_from_file(file) if file else none.get
        prepare = lambda: None  # noqa: E731
    pages = ConsolePages(platform.engine, signin, csrf_token, prepare)
    console = Console(
        pages, PartyClients(platform.http, main.public_url, credentials), Records(platform.engine), main.public_url
    )
    app.state.consoles = console
    _install_entry(app, console, signin, secure=not main.development)
    agency.install(app, console)
    # Each part of a cohort file well under the platform's body limit, which the issuer applies too.
    cohort.install(app, console, part_bytes=min(256 * 1024, main.max_body_bytes // 2))
    service.install(app, console)
    return console


def _install_entry(app: FastAPI, console: Console, signin: ConsoleSignIn, *, secure: bool) -> None:
    pages = console.pages

    @app.get("/consoles", include_in_schema=False)
    def landing(request: Request) -> Response:
        pages.prepare()
        who = signin.signed_in(request)
        if who is None:
            failed = request.query_params.get("signin") == "failed"
            return pages.render(request, "console_home.html", title=N_("Officers' consoles"), signin_error=failed)
        found = officer(pages.engine, who[0])
        if found is None:
            return pages.guard(request, "agency")  # the refusal page: not an officer
        return RedirectResponse(CONSOLE_OF[found.kind], 303)

    @app.post("/consoles/language", include_in_schema=False)
    async def choose_language(request: Request) -> Response:
        form = await request.form()
        language, back = form.get("lang"), form.get("next")
        response = RedirectResponse(local_path(back), 303)
        if language in LANGUAGES:
            response.set_cookie(
                LANGUAGE_COOKIE,
                str(language),
                max_age=LANGUAGE_COOKIE_AGE,
                path="/consoles",
                httponly=True,
                samesite="lax",
                secure=secure,
            )
        return response

    @app.get("/consoles/auth/login", include_in_schema=False)
    async def login(request: Request, return_to: str | None = None) -> Response:
        await run_in_threadpool(pages.prepare)  # database work (and password hashing): off the event loop
        try:
            return await signin.login(request, return_to)
        except SignInUnavailable as exc:
            return _unavailable(request, console, exc)

    @app.get("/consoles/auth/callback", include_in_schema=False)
    async def callback(request: Request) -> Response:
        try:
            return await signin.callback(request)
        except SignInUnavailable as exc:
            return _unavailable(request, console, exc)
        except SignInThrottled as exc:  # a rate limit (auth/rate_limits.py): 429, and when to come back
            page = pages.message(
                request,
                429,
                N_("Sign-in is not available"),
                N_("Nothing was done. Try again in a moment; if it persists, tell the platform's operators."),
                detail=str(exc),
            )
            page.headers["Retry-After"] = str(exc.retry_after)
            return page
        except SignInFailed as exc:
            return pages.message(
                request, 400, N_("Sign-in failed"), N_("Sign-in did not complete. Please try again."), detail=str(exc)
            )

    @app.post("/consoles/auth/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        return await signin.logout(request)


def _unavailable(request: Request, console: Console, exc: Exception) -> HTMLResponse:
    return console.pages.message(
        request,
        503,
        N_("Sign-in is not available"),
        N_("No identity provider is configured for the consoles, or it cannot be reached."),
        detail=str(exc),
    )
