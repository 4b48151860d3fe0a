"""The agency console (/consoles/agency): issue one credential (link, QR code, PIN), and revoke,
suspend or reinstate an issued one by its offer id, after a confirmation page.

The agency is always the signed-in officer's own (consoles/officers.py): no form field or URL
names it. Everything goes through the issuer's agency API with that agency's own client.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

import catalog
from consoles.agencies import AgencyInfo, signed_in_agency
from consoles.claim_forms import claim_fields, problem_errors, read_claims
from consoles.clients import PartyUnavailable
from consoles.context import Console, qr_svg
from consoles.officers import Officer
from wallet.web.messages import N_
from wallet.web.rendering import language_of

OFFER_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
ACTIONS = ("revoke", "suspend", "reinstate")
PIN_CHOICES = ("none", "generated", "own")


def available_actions(state: dict[str, Any]) -> list[str]:
    """What the agency may still do to an offer or its credential (revocation is final)."""
    if state.get("state") in ("offered", "token_issued", "locked"):
        return ["revoke"]  # not redeemed yet: revoking cancels the offer
    if state.get("state") == "issued":
        return {"valid": ["revoke", "suspend"], "suspended": ["revoke", "reinstate"]}.get(state.get("status") or "", [])
    return []


def install(app: FastAPI, console: Console) -> None:
    pages, parties, records = console.pages, console.parties, console.records

    def page(request: Request, officer: Officer, info: AgencyInfo, template: str, status: int = 200, **context: Any):
        return pages.render(
            request,
            template,
            status,
            officer=officer,
            party_name=info.name,
            agency=info,
            type_names=dict(info.types),
            **context,
        )

    def guarded(request: Request) -> tuple[Officer, AgencyInfo] | Response:
        return signed_in_agency(console, request)

    @app.get("/consoles/agency", include_in_schema=False)
    def home(request: Request) -> Response:
        found = guarded(request)
        if isinstance(found, Response):
            return found
        officer, info = found
        return page(
            request,
            officer,
            info,
            "console_agency.html",
            title=N_("Agency console"),
            offers=records.recent(officer.subject, "offer", 10),
            batches=records.recent(officer.subject, "batch", 10),
        )

    def issue_form(request: Request, officer: Officer, info: AgencyInfo, type_id: str | None, **context: Any):
        types = dict(info.types)
        if type_id is None and len(info.types) == 1:
            type_id = info.types[0][0]
        if type_id not in types:
            return page(request, officer, info, "console_issue_type.html", title=N_("Issue a credential"))
        fields = context.pop("fields", None) or claim_fields(type_id)
        context.setdefault("entered", {})
        context.setdefault("inline", {})
        return page(
            request,
            officer,
            info,
            "console_issue.html",
            context.pop("status", 200),
            title=N_("Issue a credential"),
            type_id=type_id,
            type_name=types[type_id],
            fields=fields,
            **context,
        )

    @app.get("/consoles/agency/issue", include_in_schema=False)
    def issue_page(request: Request, type: str | None = None) -> Response:
        found = guarded(request)
        if isinstance(found, Response):
            return found
        return issue_form(request, *found, type)

    @app.post("/consoles/agency/issue", include_in_schema=False)
    async def issue(request: Request) -> Response:
        # The form is read here; the rest calls the issuer over HTTP, which must never block the event
        # loop (with one worker, the call would wait for itself).
        return await run_in_threadpool(issue_submitted, request, await request.form())

    def issue_submitted(request: Request, form: FormData) -> Response:
        found = guarded(request)
        if isinstance(found, Response):
            return found
        officer, info = found
        type_id = form.get("type")
        if not isinstance(type_id, str) or type_id not in dict(info.types):
            return issue_form(request, officer, info, None)
        gettext = pages.gettext(request)
        fields = claim_fields(type_id)
        claims, errors = read_claims(fields, form, form.getlist, gettext)
        subject = str(form.get("subject") or "").strip()
        pin = form.get("pin") if form.get("pin") in PIN_CHOICES else "none"
        pin_value = str(form.get("pin_value") or "").strip()
        entered = {"subject": subject, "pin": pin, "pin_value": pin_value}
        if not subject:
            errors.insert(0, {"field": "subject", "message": gettext(N_("Enter the citizen's platform ID"))})
        if pin == "own" and not pin_value:
            errors.append({"field": "pin", "message": gettext(N_("Enter the PIN, or choose another option"))})
        if not errors:
            body: dict[str, Any] = {"subject": subject, "credential_type": type_id, "claims": claims}
            if pin == "generated":
                body["tx_code"] = {"length": 6}
            elif pin == "own":
                body["tx_code"] = {"value": pin_value}
            try:
                answer = parties.call(officer.subject, "POST", f"/issuers/{officer.party}/offers", json=body)
            except PartyUnavailable as exc:
                return console.unavailable(request, officer, exc)
            if answer.status_code == 201:
                created = answer.json()
                records.add(officer.subject, "offer", created["offer_id"], type_id, officer.sub)
                return issued_page(request, officer, info, type_id, created)
            if answer.status_code != 422:
                return pages.message(
                    request,
                    answer.status_code if answer.status_code < 500 else 502,
                    N_("The issuer refused the offer"),
                    N_("Nothing was issued."),
                    detail=str(answer.json().get("detail") or ""),
                    back="/consoles/agency/issue",
                    officer=officer,
                )
            errors = problem_errors(answer.json(), gettext)
        by_id = {f.id: f for f in fields}
        for error in errors:
            target = by_id.get(error["field"])
            if target is not None:
                target.error = error["message"]
                error["message"] = f"{target.label[language_of(request)]}: {error['message']}"
        inline = {e["field"]: e["message"] for e in errors if e["field"] in ("subject", "pin")}
        return issue_form(
            request, officer, info, type_id, fields=fields, errors=errors, entered=entered, inline=inline, status=400
        )

    def issued_page(request: Request, officer: Officer, info: AgencyInfo, type_id: str, created: dict[str, Any]):
        by_reference = created["offer_link_by_reference"]
        query = by_reference.split("?", 1)[1] if "?" in by_reference else ""
        return page(
            request,
            officer,
            info,
            "console_issued.html",
            title=N_("Credential offered"),
            type_name=dict(info.types)[type_id],
            created=created,
            wallet_link=f"/wallet/receive?{query}",
            qr=qr_svg(by_reference),
        )

    # -- revoke, suspend, reinstate ----------------------------------------------------------------

    @app.get("/consoles/agency/credentials", include_in_schema=False)
    def find_credential(request: Request, offer_id: str | None = None) -> Response:
        found = guarded(request)
        if isinstance(found, Response):
            return found
        officer, info = found
        errors = []
        if offer_id is not None:
            offer_id = offer_id.strip()
            if OFFER_ID.fullmatch(offer_id):
                return RedirectResponse(f"/consoles/agency/credentials/{quote(offer_id)}", 303)
            message = pages.gettext(request)(N_("Enter an offer ID: letters, digits, '-' or '_'"))
            errors = [{"field": "offer_id", "message": message}]
        return page(
            request,
            officer,
            info,
            "console_credentials.html",
            400 if errors else 200,
            title=N_("Revoke or suspend"),
            errors=errors,
            offer_id=offer_id or "",
            offers=records.recent(officer.subject, "offer", 20),
        )

    def offer_state(request: Request, officer: Officer, offer_id: str) -> dict[str, Any] | Response:
        if not OFFER_ID.fullmatch(offer_id):
            return not_found(request, officer)
        try:
            answer = parties.call(officer.subject, "GET", f"/issuers/{officer.party}/offers/{offer_id}")
        except PartyUnavailable as exc:
            return console.unavailable(request, officer, exc)
        if answer.status_code == 404:
            return not_found(request, officer)
        if answer.status_code != 200:
            return console.unavailable(request, officer, PartyUnavailable(f"the issuer answered {answer.status_code}"))
        return answer.json()

    def not_found(request: Request, officer: Officer) -> Response:
        # Another agency's offer is exactly as absent as one that does not exist (the issuer says so).
        return pages.message(
            request,
            404,
            N_("No such credential"),
            N_("Your agency has issued nothing with this offer ID."),
            back="/consoles/agency/credentials",
            officer=officer,
        )

    @app.get("/consoles/agency/credentials/{offer_id}", include_in_schema=False)
    def credential(request: Request, offer_id: str, done: str | None = None) -> Response:
        found = guarded(request)
        if isinstance(found, Response):
            return found
        officer, info = found
        state = offer_state(request, officer, offer_id)
        if isinstance(state, Response):
            return state
        return page(
            request,
            officer,
            info,
            "console_credential.html",
            title=N_("An issued credential"),
            state=state,
            type_name=catalog.credential_types().get(state.get("credential_type", ""), None),
            actions=available_actions(state),
            done=done if done in ACTIONS else None,
        )

    @app.get("/consoles/agency/credentials/{offer_id}/{action}", include_in_schema=False)
    def confirm(request: Request, offer_id: str, action: str) -> Response:
        found = guarded(request)
        if isinstance(found, Response):
            return found
        officer, info = found
        state = offer_state(request, officer, offer_id)
        if isinstance(state, Response):
            return state
        if action not in available_actions(state):
            return RedirectResponse(f"/consoles/agency/credentials/{quote(offer_id)}", 303)
        return page(
            request, officer, info, "console_confirm.html", title=N_("Are you sure?"), state=state, action=action
        )

    @app.post("/consoles/agency/credentials/{offer_id}/{action}", include_in_schema=False)
    def change(request: Request, offer_id: str, action: str) -> Response:
        officer = pages.guard(request, "agency")
        if isinstance(officer, Response):
            return officer
        if action not in ACTIONS or not OFFER_ID.fullmatch(offer_id):
            return not_found(request, officer)
        path = f"/issuers/{officer.party}/credentials/{offer_id}/{action}"
        try:
            answer = parties.call(officer.subject, "POST", path)
        except PartyUnavailable as exc:
            return console.unavailable(request, officer, exc)
        if answer.status_code == 404:
            return not_found(request, officer)
        if answer.status_code != 200:
            return pages.message(
                request,
                409 if answer.status_code == 409 else 502,
                N_("The change was refused"),
                N_("The credential's status did not change."),
                detail=str(answer.json().get("detail") or ""),
                back=f"/consoles/agency/credentials/{quote(offer_id)}",
                officer=officer,
            )
        return RedirectResponse(f"/consoles/agency/credentials/{quote(offer_id)}?done={action}", 303)
