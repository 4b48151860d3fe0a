"""Pages: sharing — the consent screen at the wallet's authorization endpoint
(`/wallet/present?client_id=…&request_uri=…`), the citizen's answer, and its outcome.

The screen shows what `PresentationService.open_request` builds (wallet/consent_view.py): who asks
and whether that is verified, the service, purpose, legal basis, each claim with its value, how long
the recipient keeps it and how long the consent lasts. The answer re-opens the request and checks
that it is still the one she saw (`notice_sha256`, PresentationService.reopen, as the JSON API), then
approves or denies through the same service calls.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import parse_qsl

import segno
from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

import catalog
from wallet.consent_view import CandidateView, ClaimView, ConsentView, CredentialRequestView
from wallet.consents import STATE_NAMES, ConsentNotFoundError
from wallet.present import PresentationOutcome, SharingRequest
from wallet.present_errors import SharingRefused
from wallet.web.messages import N_
from wallet.web.rendering import Pages, language_of

MAX_QUERY = 8192
# The last answer's outcome, kept in the session for the outcome page: what the verifier said is
# never put in a URL. Bounded, because the session is a cookie (with the ID token and access token).
OUTCOME_KEY = "sharing_outcome"
MAX_REDIRECT = 1000
MAX_DESCRIPTION = 300
RECORD_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
# A radio or checkbox value that shares "all of them" (a `multiple` query) or "none" (an optional one).
ALL, NONE = "all", "none"
CHOOSE_ONE = N_("Choose which credential to share")


def shown_value(configuration_id: str, claim: ClaimView) -> tuple[str, Mapping[str, str]]:
    """How a claim's value reads on the page: (kind, text). Kinds: `yes`/`no` (translated by the
    template), `empty`, `absent`, or `text` with a {ko, en} text: an enum's label from the catalog
    (`value_display`) where it has one, else the value itself."""
    value = claim.value
    credential_type = catalog.credential_types().get(configuration_id)
    spec = credential_type.claims.get(claim.path[0]) if credential_type and isinstance(claim.path[0], str) else None
    labels = spec.value_display if spec is not None else {}

    def label(item: Any, language: str) -> str:
        named = labels.get(str(item))
        if named:
            return named.get(language) or named.get("en") or str(item)
        return json.dumps(item, ensure_ascii=False) if isinstance(item, dict | list) else str(item)

    if isinstance(value, bool):
        return ("yes" if value else "no"), {}
    if value is None:
        return "absent", {}
    if isinstance(value, list):
        if not value:
            return "empty", {}
        return "text", {language: ", ".join(label(v, language) for v in value) for language in ("ko", "en")}
    return "text", {language: label(value, language) for language in ("ko", "en")}


def options_of(request: CredentialRequestView) -> list[tuple[str, CandidateView | None]]:
    """The choices of one credential query, in order: "all of them" (when the verifier accepts
    several), each held credential that fits, "do not share it" (an optional query)."""
    options: list[tuple[str, CandidateView | None]] = []
    if request.multiple and len(request.candidates) > 1:
        options.append((ALL, None))
    options += [(candidate.credential_id, candidate) for candidate in request.candidates]
    if request.optional and len(request.candidates) > 1:
        options.append((NONE, None))
    return options


def qr_code(url: str) -> Markup:
    """The page's own address as an inline SVG QR code (no image request, no script)."""
    svg = segno.make(url, error="m").svg_inline(scale=4, border=2, omitsize=True, svgclass=None, lineclass=None)
    return Markup(svg)  # segno's own markup, of our own URL: nothing to escape


def read_choices(form: FormData, view: ConsentView) -> tuple[dict[str, str], list[dict[str, str]]]:
    """The credentials the citizen picked (`choice:<query id>` → credential id), and an error for
    each required choice left empty: nothing is pre-selected, so she must pick."""
    choices: dict[str, str] = {}
    errors: list[dict[str, str]] = []
    for request in view.credentials:
        picked = form.get(f"choice:{request.query_id}")
        picked = picked if isinstance(picked, str) and picked else None
        asks = len(request.candidates) > 1 or request.optional
        if picked is None and asks and not request.optional:
            errors.append({"field": f"choice-{request.query_id}-1", "message": CHOOSE_ONE})
        elif picked is not None and picked not in (ALL, NONE):
            choices[request.query_id] = picked
    return choices, errors


def install(app: FastAPI, pages: Pages) -> None:
    services = pages.services

    def consent_screen(
        request: Request,
        citizen: str,
        sharing: SharingRequest,
        query: str,
        *,
        status: int = 200,
        errors: list[dict[str, str]] | None = None,
        chosen: Mapping[str, str] | None = None,
    ) -> Response:
        view = sharing.view
        base = services.services.public_url or str(request.base_url).rstrip("/")
        page_url = f"{base}/wallet/present?{query}"
        return pages.render(
            request,
            "wallet_present.html",
            status,
            title=N_("A request for your data"),
            errors=errors,
            view=view,
            request_query=query,
            valid_until=sharing.opened_at + int(view.consent_validity.total_seconds()),
            validity_days=view.consent_validity.days,
            value_of=shown_value,
            options_of=options_of,
            ALL_VALUE=ALL,
            NONE_VALUE=NONE,
            chosen=chosen or {},
            errors_by_field={e["field"]: e["message"] for e in errors or []},
            # When several credentials fit, their dates tell them apart.
            held={stored.id: stored for stored in services.vault.list(citizen)},
            page_url=page_url,
            qr=qr_code(page_url),
        )

    def refused(request: Request, exc: SharingRefused) -> Response:
        return pages.message(request, 400, N_("Nothing was sent"), exc.messages)

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
        return consent_screen(request, citizen, sharing, query)

    @app.post("/wallet/present", include_in_schema=False)
    async def present_answer(request: Request) -> Response:
        citizen = pages.citizen(request)
        if citizen is None:
            return RedirectResponse("/wallet", 303)
        form = await request.form()
        query, notice, action = form.get("request_query"), form.get("notice_sha256"), form.get("action")
        if not isinstance(query, str) or len(query) > MAX_QUERY or action not in ("share", "decline"):
            return pages.message(request, 400, N_("Bad request"))
        language: Literal["ko", "en"] = "en" if language_of(request) == "en" else "ko"
        try:
            # Her consent covers only the request she saw (the same check as the JSON API's).
            sharing = await run_in_threadpool(services.presenter.reopen, citizen, dict(parse_qsl(query)), notice)
        except SharingRefused as exc:
            if exc.reason == "request_changed":
                return pages.message(
                    request, 409, N_("The request changed"), exc.messages, back=f"/wallet/present?{query}"
                )
            return refused(request, exc)
        try:
            if action == "share":
                choices, errors = read_choices(form, sharing.view)
                if errors:
                    chosen = {k: v for k, v in form.items() if isinstance(v, str) and k.startswith("choice:")}
                    return consent_screen(request, citizen, sharing, query, status=400, errors=errors, chosen=chosen)
                outcome = await run_in_threadpool(
                    lambda: services.presenter.approve(citizen, sharing, choices, language=language)
                )
            else:
                outcome = await run_in_threadpool(lambda: services.presenter.deny(citizen, sharing, language=language))
        except SharingRefused as exc:
            return refused(request, exc)
        if outcome.consent_record_id is None:  # every answer is recorded first: not expected
            title = N_("You shared your data") if outcome.sent == "presentation" else N_("You declined")
            return pages.message(request, 200, title, next_url=outcome.redirect_uri)
        request.session[OUTCOME_KEY] = remembered(outcome)
        return RedirectResponse(f"/wallet/present/outcome/{outcome.consent_record_id}", 303)

    @app.get("/wallet/present/outcome/{record_id}", include_in_schema=False)
    def outcome_page(record_id: str, request: Request) -> Response:
        citizen = pages.citizen(request)
        if citizen is None:
            return pages.sign_in_first(request)
        try:
            if not RECORD_ID.match(record_id):
                raise ConsentNotFoundError()
            consent = services.consents.get(citizen, record_id)
        except ConsentNotFoundError as exc:
            return pages.message(request, 404, N_("No such consent"), exc.messages)
        said = request.session.get(OUTCOME_KEY)
        if not isinstance(said, dict) or said.get("id") != record_id:
            said = derived(consent)
        return pages.render(
            request,
            "wallet_outcome.html",
            title=N_("You shared your data") if said["sent"] == "presentation" else N_("You declined"),
            consent=consent,
            said=said,
            state_name=STATE_NAMES.get(consent["state"], {"ko": consent["state"], "en": consent["state"]}),
        )


def remembered(outcome: PresentationOutcome) -> dict[str, Any]:
    """What the outcome page needs of the verifier's answer: never a claim value."""
    redirect = outcome.redirect_uri if outcome.redirect_uri and len(outcome.redirect_uri) <= MAX_REDIRECT else None
    return {
        "id": outcome.consent_record_id,
        "sent": outcome.sent,
        "accepted": outcome.accepted,
        "error": outcome.error,
        "description": (outcome.error_description or "")[:MAX_DESCRIPTION] or None,
        "redirect": redirect,
    }


def derived(consent: Mapping[str, Any]) -> dict[str, Any]:
    """The outcome as the ledger tells it, when this browser did not give the answer (another device,
    a later visit): a `used` event means the verifier accepted the presentation; otherwise the wallet
    does not know what it answered."""
    used = any(event["type"] == "used" for event in consent["history"])
    return {
        "id": consent["id"],
        "sent": "denial" if consent["state"] == "denied" else "presentation",
        "accepted": True if used else None,
        "error": None,
        "description": None,
        "redirect": None,
    }
