"""The wallet's pages: home, and its two entry points another site sends a citizen to: the credential
offer endpoint (`/wallet/receive?credential_offer=…|credential_offer_uri=…`) and the authorization
endpoint (`/wallet/present?client_id=…&request_uri=…`). Server-rendered, no JavaScript; the same
service calls as the JSON API. A signed-out citizen is sent to sign in and brought back."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from wallet.api import WalletServices
from wallet.present_errors import SharingRefused
from wallet.receive import ReceiveError
from wallet.signin import signed_in_citizen

TEMPLATES = Path(__file__).with_name("templates")
MAX_QUERY = 8192
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def install_pages(app: FastAPI, services: WalletServices, csrf_token: Callable[[Request], str]) -> None:
    templates = Jinja2Templates(directory=TEMPLATES)

    def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        response = templates.TemplateResponse(
            request, template, {"lang": "ko", "csrf_token": lambda: csrf_token(request), **context}, status_code=status
        )
        response.headers.update(_PAGE_HEADERS)
        return response

    def message(request: Request, status: int, title: tuple[str, str], messages: dict[str, str] | None, **extra: Any):
        return render(
            request, "wallet_message.html", status, title_ko=title[0], title_en=title[1], messages=messages, **extra
        )

    def sign_in_first(request: Request) -> Response:
        back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/wallet/auth/login?return_to={quote(back, safe='')}", 303)

    def citizen_of(request: Request) -> str | None:
        citizen = signed_in_citizen(request)
        if citizen is not None:
            services.vault.ensure_account(citizen)
        return citizen

    @app.get("/wallet", include_in_schema=False)
    def home(request: Request) -> HTMLResponse:
        citizen = citizen_of(request)
        return render(
            request,
            "wallet_home.html",
            citizen=citizen,
            credentials=services.vault.list(citizen) if citizen else [],
            signin_error=request.query_params.get("signin"),
        )

    @app.get("/wallet/receive", include_in_schema=False)
    def receive_page(request: Request) -> Response:
        citizen = citizen_of(request)
        if citizen is None:
            return sign_in_first(request)
        try:
            offer = services.receiver.parse_offer(dict(request.query_params))
        except ReceiveError as exc:
            return message(
                request, 400, ("증명서를 받을 수 없습니다", "The credential cannot be received"), exc.messages
            )
        return render(request, "wallet_receive.html", offer=offer, offer_json=json.dumps(offer.credential_offer))

    @app.post("/wallet/receive", include_in_schema=False)
    async def receive_accept(request: Request) -> Response:
        citizen = citizen_of(request)
        if citizen is None:
            return RedirectResponse("/wallet", 303)
        form = await request.form()
        offer_json, tx_code = form.get("credential_offer"), form.get("tx_code")
        if not isinstance(offer_json, str) or len(offer_json) > MAX_QUERY:
            return message(request, 400, ("잘못된 요청입니다", "Bad request"), None)
        try:
            offer = services.receiver.parse_offer({"credential_offer": offer_json})
            stored = services.receiver.receive(
                citizen, offer, tx_code if isinstance(tx_code, str) and tx_code else None
            )
        except ReceiveError as exc:
            return message(request, 400, ("증명서를 받지 못했습니다", "The credential was not received"), exc.messages)
        names = [c.display.get("credential", {}).get("name", {}).get("ko") or c.configuration_id for c in stored]
        return message(request, 200, ("증명서를 받았습니다", "Credential received"), None, items=names)

    @app.get("/wallet/present", include_in_schema=False)
    def present_page(request: Request) -> Response:
        citizen = citizen_of(request)
        if citizen is None:
            return sign_in_first(request)
        query = request.url.query
        if len(query) > MAX_QUERY:
            return message(request, 400, ("잘못된 요청입니다", "Bad request"), None)
        try:
            sharing = services.presenter.open_request(citizen, dict(parse_qsl(query)))
        except SharingRefused as exc:
            return message(
                request, 400, ("이 요청에는 답할 수 없습니다", "This request cannot be answered"), exc.messages
            )
        return render(request, "wallet_present.html", view=sharing.view, request_query=query)

    @app.post("/wallet/present", include_in_schema=False)
    async def present_answer(request: Request) -> Response:
        citizen = citizen_of(request)
        if citizen is None:
            return RedirectResponse("/wallet", 303)
        form = await request.form()
        query, notice, action = form.get("request_query"), form.get("notice_sha256"), form.get("action")
        if not isinstance(query, str) or len(query) > MAX_QUERY or action not in ("share", "decline"):
            return message(request, 400, ("잘못된 요청입니다", "Bad request"), None)
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
            return message(request, 400, ("보내지 않았습니다", "Nothing was sent"), exc.messages)
        if not outcome.accepted:
            said = {"ko": f"요청한 곳이 거절했습니다: {outcome.error}", "en": f"The verifier refused: {outcome.error}"}
            return message(request, 400, ("요청한 곳이 받지 않았습니다", "The verifier refused"), said)
        title = ("보냈습니다", "Shared") if outcome.sent == "presentation" else ("거절했습니다", "Declined")
        items = [f"동의 기록 (consent record): {outcome.consent_record_id}"] if outcome.consent_record_id else []
        return message(request, 200, title, None, items=items, next_url=outcome.redirect_uri)
