"""Pages: my consents — the list, one consent with its full history, withdrawing one or all (each
after a confirmation page), the receipt as a download and the receipt checked against the ledger.

Every page calls `services.consents` (wallet/consents.py), exactly as wallet/consents_api.py does,
and shows its refusals ({ko, en} messages) in plain words. Consents hold claim names, never values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

import catalog
from consent.service import TRANSITIONS
from wallet.consents import ConsentConflict, ConsentNotFoundError, ConsentsError, ReceiptNotFoundError
from wallet.web.messages import N_
from wallet.web.rendering import PAGE_HEADERS, Pages

# The ledger's own rule for what can be withdrawn (withdraw and withdraw_all apply it): the pages
# offer the button, and list what "withdraw all" takes, by the same rule.
WITHDRAWABLE = TRANSITIONS["withdrawn"][0]
# The API's pattern for a record id (wallet/consents_api.py): anything else is unknown (404 page).
RECORD_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# Page titles of the service's refusals, by their HTTP status (wallet/consents.py).
REFUSAL_TITLES = {
    404: N_("Consent not found"),
    409: N_("The consent cannot be withdrawn"),
    502: N_("The receipt could not be checked"),
}
MAX_COUNT = 10_000  # bounds the "N withdrawn" notice a link can make the list say


def _path_text(path: Sequence[Any]) -> str:
    return ".".join("*" if part is None else str(part) for part in path)


def claim_label(type_id: str | None, path: Sequence[Any]) -> dict[str, Any]:
    """A claim as the citizen reads it: the catalog's display name of `path` (a claim path inside a
    credential of type `type_id`) when it knows it, the credential type's name, and the raw path as
    the fallback. Names only: there is no value to show."""
    credential = catalog.credential_types().get(type_id) if type_id else None
    spec = credential.claims.get(path[0]) if credential and path and isinstance(path[0], str) else None
    name: dict[str, str] | None = dict(spec.display) if spec else None
    if name is not None and len(path) > 1:  # a part of a nested claim: its name, then where in it
        name = {lang: f"{text} ({_path_text(path[1:])})" for lang, text in name.items()}
    return {
        "path": _path_text(path),
        "claim": _path_text(path),  # the path inside the credential (the same, for a history entry)
        "name": name,
        "credential": dict(credential.name) if credential else None,
    }


def data_item_label(path: Sequence[Any]) -> dict[str, Any]:
    """A consent's data item: a claim path whose first element names the credential type when the
    wallet recorded it (e.g. ["resident_registration", "birth_date"])."""
    if len(path) >= 2 and isinstance(path[0], str) and path[0] in catalog.credential_types():
        return {**claim_label(path[0], path[1:]), "path": _path_text(path)}
    return claim_label(None, path)


def _seconds(value: Any) -> float | None:
    """An RFC 3339 time (the record's validity) as Unix seconds, for the Seoul-time filters."""
    try:
        return datetime.fromisoformat(value).timestamp()
    except (TypeError, ValueError):
        return None


def consent_view(consent: Mapping[str, Any]) -> dict[str, Any]:
    """What the templates show of a consent summary: the summary itself, with times in seconds
    (the ledger's history is in milliseconds) and the data items named."""
    return {
        **consent,
        "valid_from": _seconds(consent["validity"]["start"]),
        "valid_until": _seconds(consent["validity"]["end"]),
        "created": consent["created_at"] / 1000 if consent.get("created_at") is not None else None,
        "items": [data_item_label(path) for path in consent["data_items"]],
        "events": [{**event, "seconds": event["time"] / 1000} for event in consent["history"]],
        "withdrawable": consent["state"] in WITHDRAWABLE,
    }


def _count(value: str | None) -> int | None:
    if value is None or not (value.isascii() and value.isdigit()) or len(value) > 5:
        return None
    return min(int(value), MAX_COUNT)


def install(app: FastAPI, pages: Pages) -> None:
    consents = pages.services.consents

    def refused(request: Request, exc: ConsentsError) -> Response:
        """A refusal of the consents service, in the citizen's words; an unknown id and someone
        else's answer the same 404 page."""
        if isinstance(exc, ReceiptNotFoundError):
            title = N_("This consent has no receipt")
        else:
            title = REFUSAL_TITLES.get(exc.status, N_("The consent could not be processed"))
        return pages.message(request, exc.status, title, exc.messages, back="/wallet/consents")

    def unknown(request: Request) -> Response:
        return refused(request, ConsentNotFoundError())

    @app.get("/wallet/consents", include_in_schema=False)
    def consent_list(request: Request) -> Response:
        citizen = pages.citizen(request)
        if citizen is None:
            return pages.sign_in_first(request)
        listed = [consent_view(c) for c in consents.list(citizen)]
        return pages.render(
            request,
            "wallet_consents.html",
            consents=listed,
            withdrawable=[c for c in listed if c["withdrawable"]],
            withdrawn=_count(request.query_params.get("withdrawn")),
        )

    # Before /wallet/consents/{record_id}: "withdraw-all" is not a record id.
    @app.get("/wallet/consents/withdraw-all", include_in_schema=False)
    def withdraw_all_confirm(request: Request) -> Response:
        citizen = pages.citizen(request)
        if citizen is None:
            return pages.sign_in_first(request)
        listed = [consent_view(c) for c in consents.list(citizen)]
        return pages.render(
            request, "wallet_consents_withdraw_all.html", withdrawable=[c for c in listed if c["withdrawable"]]
        )

    @app.post("/wallet/consents/withdraw-all", include_in_schema=False)
    def withdraw_all(request: Request) -> Response:
        citizen = pages.citizen(request)
        if citizen is None:
            return pages.sign_in_first(request)
        withdrawn = consents.withdraw_all(citizen)
        return RedirectResponse(f"/wallet/consents?withdrawn={len(withdrawn)}", 303)

    @app.get("/wallet/consents/{record_id}", include_in_schema=False)
    def consent_detail(request: Request, record_id: str) -> Response:
        citizen = pages.citizen(request)
        if citizen is None:
            return pages.sign_in_first(request)
        if not RECORD_ID.match(record_id):
            return unknown(request)
        try:
            consent = consents.get(citizen, record_id)
        except ConsentsError as exc:
            return refused(request, exc)
        return pages.render(
            request,
            "wallet_consents_detail.html",
            consent=consent_view(consent),
            # The notice after withdrawing: only when it is so (a link alone cannot make it say so).
            withdrawn=request.query_params.get("withdrawn") == "1" and consent["state"] == "withdrawn",
        )

    @app.get("/wallet/consents/{record_id}/withdraw", include_in_schema=False)
    def withdraw_confirm(request: Request, record_id: str) -> Response:
        citizen = pages.citizen(request)
        if citizen is None:
            return pages.sign_in_first(request)
        if not RECORD_ID.match(record_id):
            return unknown(request)
        try:
            consent = consent_view(consents.get(citizen, record_id))
        except ConsentsError as exc:
            return refused(request, exc)
        if not consent["withdrawable"]:  # what the POST would answer, said before she confirms
            return refused(request, ConsentConflict(consent["state"]))
        return pages.render(request, "wallet_consents_withdraw.html", consent=consent)

    @app.post("/wallet/consents/{record_id}/withdraw", include_in_schema=False)
    def withdraw(request: Request, record_id: str) -> Response:
        citizen = pages.citizen(request)
        if citizen is None:
            return pages.sign_in_first(request)  # back to the confirmation page (GET, same path)
        if not RECORD_ID.match(record_id):
            return unknown(request)
        try:
            consents.withdraw(citizen, record_id)
        except ConsentsError as exc:
            return refused(request, exc)
        return RedirectResponse(f"/wallet/consents/{record_id}?withdrawn=1", 303)

    @app.get("/wallet/consents/{record_id}/receipt", include_in_schema=False)
    def receipt(request: Request, record_id: str) -> Response:
        citizen = pages.citizen(request)
        if citizen is None:
            return pages.sign_in_first(request)
        if not RECORD_ID.match(record_id):
            return unknown(request)
        try:
            token = consents.receipt(citizen, record_id)
        except ConsentsError as exc:
            return refused(request, exc)
        return Response(
            token,
            media_type="application/jwt",
            headers={
                **PAGE_HEADERS,
                "Content-Disposition": f'attachment; filename="consent-receipt-{record_id}.jwt"',
            },
        )

    @app.post("/wallet/consents/{record_id}/receipt-check", include_in_schema=False)
    def receipt_check(request: Request, record_id: str) -> Response:
        citizen = pages.citizen(request)
        if not RECORD_ID.match(record_id):
            return unknown(request)
        if citizen is None:
            return RedirectResponse(f"/wallet/consents/{record_id}", 303)  # which signs her in, and back
        try:
            consent = consent_view(consents.get(citizen, record_id))
            result = consents.check_receipt(citizen, record_id)
        except ConsentsError as exc:
            return refused(request, exc)
        return pages.render(request, "wallet_consents_receipt_check.html", consent=consent, result=result)
