"""Pages: my data — what the export holds and its download (the same document as the JSON API's
`GET /wallet/api/export`: `services.my_data.export`), and deleting the account after a
confirmation page where the citizen types the word shown (`services.my_data.erase`).
"""

from __future__ import annotations

import json

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from wallet.my_data import CONFIRMATION, export_filename
from wallet.web.messages import N_
from wallet.web.rendering import PAGE_HEADERS, Pages, language_of

# The word to type: the Korean page shows 삭제, the English one the service's DELETE; either is
# accepted whatever the page's language, in any case, with spaces around it.
CONFIRMATION_WORDS = {"ko": "삭제", "en": CONFIRMATION}
ACCEPTED = frozenset(word.casefold() for word in CONFIRMATION_WORDS.values())
MAX_WORD = 20  # the API's bound on the confirmation


def confirmed(value: object) -> bool:
    return isinstance(value, str) and len(value) <= MAX_WORD and value.strip().casefold() in ACCEPTED


def install(app: FastAPI, pages: Pages) -> None:
    services = pages.services

    @app.get("/wallet/my-data", include_in_schema=False)
    def my_data(request: Request) -> Response:
        citizen = pages.citizen(request)
        if citizen is None:
            return pages.sign_in_first(request)
        return pages.render(
            request,
            "wallet_my_data.html",
            credential_count=len(services.vault.list(citizen)),
            consent_count=len(services.consents.list(citizen)),
        )

    @app.get("/wallet/my-data/export", include_in_schema=False)
    def export(request: Request) -> Response:
        citizen = pages.citizen(request)
        if citizen is None:
            return pages.sign_in_first(request)
        document = services.my_data.export(citizen)
        # As wallet/my_data_api.py names it, so the page and the API give the same file.
        return Response(
            json.dumps(document, ensure_ascii=False, indent=2),
            media_type="application/json",
            headers={**PAGE_HEADERS, "Content-Disposition": f'attachment; filename="{export_filename(document)}"'},
        )

    def confirmation(request: Request, status: int = 200, error: str | None = None) -> Response:
        errors = [{"field": "confirm", "message": error}] if error else None
        return pages.render(
            request,
            "wallet_my_data_delete.html",
            status,
            errors=errors,
            error=error,
            word=CONFIRMATION_WORDS[language_of(request)],
        )

    @app.get("/wallet/my-data/delete", include_in_schema=False)
    def delete_confirm(request: Request) -> Response:
        if pages.citizen(request) is None:
            return pages.sign_in_first(request)
        return confirmation(request)

    @app.post("/wallet/my-data/delete", include_in_schema=False)
    async def delete(request: Request) -> Response:
        citizen = pages.citizen(request)
        if citizen is None:
            return pages.sign_in_first(request)  # back to the confirmation page (GET, same path)
        form = await request.form()
        word = form.get("confirm")
        if not isinstance(word, str) or not word.strip():
            return confirmation(request, 400, N_("Type the word shown to confirm that you want to delete your account"))
        if not confirmed(word):
            return confirmation(request, 400, N_("The word you typed is not the one shown. Type it exactly as shown"))
        services.my_data.erase(citizen)
        # The account is gone: so is the session that held it (the citizen id, the tokens).
        request.session.clear()
        return RedirectResponse("/wallet?deleted=1", 303)
