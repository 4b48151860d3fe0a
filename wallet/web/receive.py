"""Pages: receiving a credential. Three steps, as the step indicator shows them:

1. the link: a paste form (`GET /wallet/receive`, field `offer`), or the wallet's credential offer
   endpoint itself, where an issuer sends the citizen (`?credential_offer=…|credential_offer_uri=…`);
2. the offer: who offers what, the code (PIN) when the issuer asks for one, Accept (POST) or Cancel,
   and a QR code of the page to continue on a phone;
3. the result (`GET /wallet/receive/done?ids=…`): what was stored, each linking to its page.

The same receiver calls as the JSON API (`parse_offer`, `receive`). A wrong code re-renders step 2
with the error summary: the issuer allows a few tries, so the offer stays usable.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import segno
from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from wallet.credential_offer import MAX_OFFER_BYTES
from wallet.receive import Offer, ReceiveError
from wallet.vault import CredentialNotFound
from wallet.web.messages import N_
from wallet.web.rendering import Pages

MAX_LINK = 8192  # as the JSON API's `offer`: a pasted link is far shorter
MAX_DONE_IDS = 32  # an offer names at most 16 configurations; the result page shows no more than this
OFFER_PARAMS = ("credential_offer", "credential_offer_uri")
WRONG_CODE = N_("The code is not right. Check the code the agency sent you and enter it again.")
MALFORMED_CODE = N_("Enter the code exactly as the agency sent it.")


def code_error(offer: Offer, exc: ReceiveError) -> str | None:
    """The field message when `exc` is about the code the citizen typed, else None: the wallet's own
    refusals of a code (before any request), and the issuer's refusal of the grant at the token step,
    which with a code asked for means the code was wrong (RFC 6749 §5.2 `invalid_grant`; the
    issuer's description, shown beside, says how many tries are left or that the offer is locked)."""
    if offer.tx_code is None or exc.step != "token":
        return None
    if exc.reason == "tx_code_required":
        return N_("Enter the code the agency sent you.")
    if exc.reason == "tx_code_malformed":
        return MALFORMED_CODE
    if exc.reason == "invalid_grant":
        return WRONG_CODE
    return None


def qr_svg(url: str) -> Markup:
    """The page's address as a QR code, inline SVG (no image request, nothing for the CSP to allow);
    sized by the stylesheet (`.qr svg`), so it carries a viewBox instead of a width and height."""
    return Markup(segno.make_qr(url, error="m").svg_inline(scale=4, omitsize=True))


def install(app: FastAPI, pages: Pages) -> None:
    services = pages.services

    def paste_form(request: Request, link: str = "", error: str | None = None, problem: Any = None) -> Response:
        errors = [{"field": "offer", "message": error}] if error else None
        return pages.render(
            request,
            "wallet_receive.html",
            400 if error else 200,
            errors=errors,
            link=link,
            error=error,
            problem=problem,
        )

    def offer_page(
        request: Request, offer: Offer, page_url: str, error: str | None = None, problem: Any = None
    ) -> Response:
        return pages.render(
            request,
            "wallet_receive_offer.html",
            400 if error else 200,
            errors=[{"field": "tx_code", "message": error}] if error else None,
            offer=offer,
            offer_json=json.dumps(offer.credential_offer, ensure_ascii=False, separators=(",", ":")),
            qr=qr_svg(page_url),
            error=error,
            problem=problem,
        )

    def endpoint_url(request: Request, query: str) -> str:
        """The wallet's offer endpoint with an offer's query: the page the QR code opens on a phone.
        Only the query comes from the link, so the code never leads anywhere but this wallet."""
        return f"{str(request.base_url).rstrip('/')}/wallet/receive?{query}"

    def by_value(offer: Offer) -> str:
        """The offer by value, as a query (after a POST the page has no address of its own)."""
        return urlencode({"credential_offer": json.dumps(offer.credential_offer, separators=(",", ":"))})

    @app.get("/wallet/receive", include_in_schema=False)
    def receive_page(request: Request) -> Response:  # sync: FastAPI runs it in its thread pool
        citizen = pages.citizen(request)
        if citizen is None:
            return pages.sign_in_first(request)
        params = request.query_params
        if "offer" in params:  # the paste form, submitted
            link = params.get("offer", "").strip()
            if not link:
                return paste_form(request, error=N_("Paste the link the agency gave you."))
            if len(link) > MAX_LINK:
                return paste_form(request, error=N_("This link is too long to be a credential offer."))
            try:
                offer = services.receiver.parse_offer(link)
            except ReceiveError as exc:
                message = N_("This is not a link to receive a credential. Check that you pasted the whole link.")
                if exc.step != "offer":
                    message = N_("The wallet could not read this offer from the agency.")
                return paste_form(request, link, message, exc.messages)
            # The link's own query (by reference when it was): shorter than this page's address,
            # which holds the whole link once more, so the QR code stays easy to scan.
            query = urlencode([(k, v) for k, v in parse_qsl(urlsplit(link).query) if k in OFFER_PARAMS])
            return offer_page(request, offer, endpoint_url(request, query or by_value(offer)))
        if not any(name in params for name in OFFER_PARAMS):
            return paste_form(request)
        try:  # the wallet's credential offer endpoint, where an issuer sends the citizen
            offer = services.receiver.parse_offer(dict(params))
        except ReceiveError as exc:
            return pages.message(
                request, 400, N_("The credential cannot be received"), exc.messages, back="/wallet/receive"
            )
        return offer_page(request, offer, str(request.url))  # already the offer endpoint's address

    @app.post("/wallet/receive", include_in_schema=False)
    async def receive_accept(request: Request) -> Response:
        citizen = pages.citizen(request)
        if citizen is None:
            return pages.sign_in_first(request)  # back to the paste form: the offer was in the form
        form = await request.form()
        offer_json, tx_code, action = form.get("credential_offer"), form.get("tx_code"), form.get("action")
        if not isinstance(offer_json, str) or len(offer_json) > MAX_OFFER_BYTES or action not in (None, "accept"):
            return pages.message(request, 400, N_("Bad request"), back="/wallet/receive")
        try:
            offer = await run_in_threadpool(services.receiver.parse_offer, {"credential_offer": offer_json})
        except ReceiveError as exc:
            return pages.message(request, 400, N_("The credential cannot be received"), exc.messages)
        code = tx_code if isinstance(tx_code, str) and tx_code.strip() else None
        try:
            stored = await run_in_threadpool(services.receiver.receive, citizen, offer, code)
        except ReceiveError as exc:
            wrong = code_error(offer, exc)
            if wrong is not None:
                return offer_page(request, offer, endpoint_url(request, by_value(offer)), wrong, exc.messages)
            return pages.message(
                request, 400, N_("The credential was not received"), exc.messages, back="/wallet/receive"
            )
        return RedirectResponse(f"/wallet/receive/done?{urlencode({'ids': ','.join(c.id for c in stored)})}", 303)

    @app.get("/wallet/receive/done", include_in_schema=False)
    def receive_done(request: Request) -> Response:
        citizen = pages.citizen(request)
        if citizen is None:
            return pages.sign_in_first(request)
        ids = [i for i in request.query_params.get("ids", "").split(",") if i][:MAX_DONE_IDS]
        stored = []
        for credential_id in dict.fromkeys(ids):
            try:  # only her own: someone else's id is skipped like an unknown one
                stored.append(services.vault.get(citizen, credential_id))
            except CredentialNotFound:
                continue
        if not stored:
            return pages.message(request, 404, N_("No such credential"), back="/wallet/credentials")
        return pages.render(request, "wallet_receive_done.html", title=N_("Credential received"), stored=stored)
