"""Pages: receiving a credential — the wallet's credential offer endpoint (an issuer sends the citizen
to `/wallet/receive?credential_offer=…|credential_offer_uri=…`), the code (PIN) step, the result."""

from __future__ import annotations

import json

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from wallet.receive import ReceiveError
from wallet.web.messages import N_
from wallet.web.rendering import Pages

MAX_QUERY = 8192


def install(app: FastAPI, pages: Pages) -> None:
    services = pages.services

    @app.get("/wallet/receive", include_in_schema=False)
    def receive_page(request: Request) -> Response:
        citizen = pages.citizen(request)
        if citizen is None:
            return pages.sign_in_first(request)
        try:
            offer = services.receiver.parse_offer(dict(request.query_params))
        except ReceiveError as exc:
            return pages.message(request, 400, N_("The credential cannot be received"), exc.messages)
        return pages.render(request, "wallet_receive.html", offer=offer, offer_json=json.dumps(offer.credential_offer))

    @app.post("/wallet/receive", include_in_schema=False)
    async def receive_accept(request: Request) -> Response:
        citizen = pages.citizen(request)
        if citizen is None:
            return RedirectResponse("/wallet", 303)
        form = await request.form()
        offer_json, tx_code = form.get("credential_offer"), form.get("tx_code")
        if not isinstance(offer_json, str) or len(offer_json) > MAX_QUERY:
            return pages.message(request, 400, N_("Bad request"))
        try:
            offer = services.receiver.parse_offer({"credential_offer": offer_json})
            stored = services.receiver.receive(
                citizen, offer, tx_code if isinstance(tx_code, str) and tx_code else None
            )
        except ReceiveError as exc:
            return pages.message(request, 400, N_("The credential was not received"), exc.messages)
        names = [c.display.get("credential", {}).get("name", {}).get("ko") or c.configuration_id for c in stored]
        return pages.message(request, 200, N_("Credential received"), items=names)
