"""The service console (/consoles/service): open an eligibility check for an applicant (the wallet
link and its QR code), and the decisions of the checks this console opened, each condition in words.

The verifier is always the signed-in officer's own (consoles/officers.py), reached through its
backend API with its own client: `POST /verifiers/requests`, `GET /verifiers/requests/{id}`.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

import catalog
from consoles.clients import PartyUnavailable
from consoles.context import Console, qr_svg
from consoles.decisions import decision_keys, read_decision
from consoles.officers import Officer
from wallet.web.messages import N_

REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
APPLICANT = re.compile(r"[A-Za-z0-9_-]{43}")  # a pairwise subject
LISTED = 20
APPLICANT_MESSAGE = N_(
    "Enter the applicant's subject as your service's sign-in gave it: 43 letters, digits, '-' or '_'"
)


def verifier_of(officer: Officer) -> tuple[dict[str, str], list[tuple[str, dict[str, str]]]]:
    """The verifier's name and its services (id, name), from the catalog's demo parties: the
    verifier API has no endpoint where a backend reads its own registration."""
    services = catalog.services()
    for party in catalog.demo_parties().verifiers:
        if party.slug == officer.party:
            return party.name, [(s, services[s].name) for s in party.services if s in services]
    return {"ko": officer.party, "en": officer.party}, []


def install(app: FastAPI, console: Console) -> None:
    pages, parties, records = console.pages, console.parties, console.records

    def page(request: Request, officer: Officer, template: str, status: int = 200, **context: Any) -> Response:
        name, services = verifier_of(officer)
        return pages.render(
            request,
            template,
            status,
            officer=officer,
            party_name=name,
            services=services,
            service_names=dict(services),
            **context,
        )

    def result(officer: Officer, request_id: str, keys: list[dict[str, Any]] | None = None) -> dict[str, Any] | None:
        answer = parties.call(officer.subject, "GET", f"/verifiers/requests/{request_id}")
        if answer.status_code != 200:
            return None
        body = answer.json()
        if body.get("decision"):
            keys = decision_keys(parties) if keys is None else keys
            body["read"] = read_decision(keys, officer.party, request_id, body["decision"])
        return body

    @app.get("/consoles/service", include_in_schema=False)
    def decisions(request: Request) -> Response:
        officer = pages.guard(request, "service")
        if isinstance(officer, Response):
            return officer
        checks = []
        try:
            keys = decision_keys(parties)
            for record in records.recent(officer.subject, "check", LISTED):
                checks.append({"record": record, "result": result(officer, record.remote_id, keys)})
        except PartyUnavailable as exc:
            return console.unavailable(request, officer, exc)
        return page(request, officer, "console_service.html", title=N_("Decisions"), checks=checks, listed=LISTED)

    def check_form(request: Request, officer: Officer, status: int = 200, **context: Any) -> Response:
        context.setdefault("entered", {})
        return page(request, officer, "console_check_new.html", status, title=N_("Open a check"), **context)

    @app.get("/consoles/service/checks/new", include_in_schema=False)
    def new_check(request: Request) -> Response:
        officer = pages.guard(request, "service")
        return officer if isinstance(officer, Response) else check_form(request, officer)

    @app.post("/consoles/service/checks", include_in_schema=False)
    async def open_check(request: Request) -> Response:
        # The verifier is called over HTTP: never on the event loop (one worker would wait for itself).
        return await run_in_threadpool(check_submitted, request, await request.form())

    def check_submitted(request: Request, form: FormData) -> Response:
        officer = pages.guard(request, "service")
        if isinstance(officer, Response):
            return officer
        gettext = pages.gettext(request)
        service_id, applicant = form.get("service"), str(form.get("applicant") or "").strip()
        _, services = verifier_of(officer)
        errors = []
        if service_id not in dict(services):
            errors.append({"field": "service-1", "message": gettext(N_("Choose the service the check is for"))})
        if applicant and not APPLICANT.fullmatch(applicant):
            errors.append({"field": "applicant", "message": gettext(APPLICANT_MESSAGE)})
        entered = {"service": service_id, "applicant": applicant}
        if not errors:
            body = {"service_id": service_id, **({"applicant": applicant} if applicant else {})}
            try:
                answer = parties.call(officer.subject, "POST", "/verifiers/requests", json=body)
            except PartyUnavailable as exc:
                return console.unavailable(request, officer, exc)
            if answer.status_code == 201:
                created = answer.json()
                records.add(officer.subject, "check", created["request_id"], str(service_id), officer.sub)
                # Shown now and not kept: the link lets anyone fetch the request (a capability).
                query = created["link"].split("?", 1)[1] if "?" in created["link"] else ""
                return page(
                    request,
                    officer,
                    "console_check_opened.html",
                    title=N_("Check opened"),
                    created=created,
                    service_name=dict(services)[str(service_id)],
                    applicant=applicant,
                    wallet_link=f"/wallet/present?{query}",
                    qr=qr_svg(created["link"]),
                )
            problem = answer.json()
            named = [e for e in problem.get("errors") or [] if "applicant" in str(e.get("field"))]
            if answer.status_code != 422 or not named:
                return pages.message(
                    request,
                    answer.status_code if answer.status_code < 500 else 502,
                    N_("The verifier refused the check"),
                    N_("No check was opened."),
                    detail=str(problem.get("detail") or problem.get("title") or ""),
                    back="/consoles/service/checks/new",
                    officer=officer,
                )
            errors = [{"field": "applicant", "message": gettext(APPLICANT_MESSAGE)}]
        return check_form(request, officer, 400, errors=errors, entered=entered)

    @app.get("/consoles/service/checks/{request_id}", include_in_schema=False)
    def check(request: Request, request_id: str) -> Response:
        officer = pages.guard(request, "service")
        if isinstance(officer, Response):
            return officer
        try:
            found = result(officer, request_id) if REQUEST_ID.fullmatch(request_id) else None
        except PartyUnavailable as exc:
            return console.unavailable(request, officer, exc)
        if found is None:
            # Another verifier's check is as absent as one that does not exist (the verifier says so).
            return pages.message(
                request,
                404,
                N_("No such check"),
                N_("Your service has no check with this ID."),
                back="/consoles/service",
                officer=officer,
            )
        services = dict(verifier_of(officer)[1])
        return page(
            request,
            officer,
            "console_check.html",
            title=N_("A check and its decision"),
            check=found,
            service_name=services.get(found["service_id"]),
        )
