"""Pages: home (signed out, what the wallet is and a sign-in button; signed in, the inbox and the
shortcuts) and the language switch (a form, so it works without JavaScript; remembered in a cookie)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from wallet.web.messages import LANGUAGES
from wallet.web.rendering import LANGUAGE_COOKIE, Pages, local_path

LANGUAGE_COOKIE_AGE = 365 * 86400
HOME_INBOX_ITEMS = 5


def install(app: FastAPI, pages: Pages) -> None:
    services = pages.services

    @app.get("/wallet", include_in_schema=False)
    def home(request: Request) -> HTMLResponse:
        citizen = pages.citizen(request)
        if citizen is None:
            return pages.render(
                request,
                "wallet_home.html",
                signin_error=request.query_params.get("signin"),
                deleted=request.query_params.get("deleted") == "1",
            )
        items = services.inbox.list(citizen, limit=HOME_INBOX_ITEMS)
        return pages.render(
            request,
            "wallet_home.html",
            items=items,
            unread=services.inbox.unread_count(citizen),
            credential_count=len(services.vault.list(citizen)),
        )

    @app.post("/wallet/language", include_in_schema=False)
    async def choose_language(request: Request) -> Response:
        form = await request.form()
        language, back = form.get("lang"), form.get("next")
        response = RedirectResponse(local_path(back if isinstance(back, str) else None), 303)
        if language in LANGUAGES:
            response.set_cookie(
                LANGUAGE_COOKIE,
                str(language),
                max_age=LANGUAGE_COOKIE_AGE,
                path="/wallet",
                httponly=True,
                samesite="lax",
                secure=not services.development,
            )
        return response
