"""Pages: the sharing request (the consent screen) at the wallet's authorization endpoint
(`/wallet/present?client_id=…&request_uri=…`), and the answer."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from wallet.present_errors import SharingRefused
from wallet.web.messages import N_
from wallet.web.rendering import Pages

MAX_QUERY = 8192


def install(app: FastAPI, pages: Pages) -> None:
    services = pages.services

    @app.get("/wallet/present", include_in_schema=False)
    def present_page(request: Request) -> Response:
        citizen = pages.citizen(request)
        if citizen is None:
            return pages.sign_in_first(request)
        query = request.url.query
        if len(query) > MAX_QUERY:
            return pages.message(request, 400, N_("Bad request"))
        try:
            sharing = services.presenter.open_request(citizen, dict(parse_qsl(query)))
        except SharingRefused as exc:
            return pages.message(request, 400, N_("This request cannot be answered"), exc.messages)
        return pages.render(request, "wallet_present.html", view=sharing.view, request_query=query)

    @app.post("/wallet/present", include_in_schema=False)
    async def present_answer(request: Request) -> Response:
        citizen = pages.citizen(request)
        if citizen is None:
            return RedirectResponse("/wallet", 303)
        form = await request.form()
        query, notice, action = form.get("request_query"), form.get("notice_sha256"), form.get("action")
        if not isinstance(query, str) or len(query) > MAX_QUERY or action not in ("share", "decline"):
            return pages.message(request, 400, N_("Bad request"))
        choices = {
            key.removeprefix("choice:"): value
            for key, value in form.items()
            if key.startswith("choice:") and isinstance(value, str)
        }
        try:
            sharing = services.presenter.open_request(citizen, dict(parse_qsl(query)))
            if sharing.view.notice_sha256 != notice:
                raise SharingRefused("request_changed")
            if action == "share":
                outcome = services.presenter.approve(citizen, sharing, choices)
            else:
                outcome = services.presenter.deny(citizen, sharing)
        except SharingRefused as exc:
            return pages.message(request, 400, N_("Nothing was sent"), exc.messages)
        if not outcome.accepted:
            said = {"ko": f"요청한 곳이 거절했습니다: {outcome.error}", "en": f"The verifier refused: {outcome.error}"}
            return pages.message(request, 400, N_("The verifier refused"), said)
        title = N_("Shared") if outcome.sent == "presentation" else N_("Declined")
        items = [f"동의 기록 (consent record): {outcome.consent_record_id}"] if outcome.consent_record_id else []
        return pages.message(request, 200, title, items=items, next_url=outcome.redirect_uri)
