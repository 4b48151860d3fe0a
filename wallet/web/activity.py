"""Pages: my history (every credential received, shared or declined, as the EUDI ARF dashboard's
transaction log asks: time, party, credential types, claim names requested and shared, outcome,
consent) and my inbox (every notice, each marked read with a small form).

Both call the services the JSON API calls (wallet/activity_api.py): `services.history.list` with
the same paging (`before` = the last id of the previous page) and `services.inbox`. The history
holds claim names only, so nothing here can show a value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

import catalog
from wallet.history import HistoryEntry
from wallet.inbox import InboxItemNotFound
from wallet.web.consents import claim_label
from wallet.web.messages import N_
from wallet.web.rendering import Pages

HISTORY_PAGE = 20
INBOX_LIMIT = 200  # the inbox service's own maximum
ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")  # the API's pattern for history and inbox ids


def _credential_name(type_id: str) -> dict[str, str] | None:
    known = catalog.credential_types().get(type_id)
    return dict(known.name) if known else None


def _claims(groups: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Claim names per credential type, named from the catalog where it knows them."""
    return [
        {
            "type": group["type"],
            "name": _credential_name(group["type"]),
            "claims": [claim_label(group["type"], path) for path in group["claims"]],
        }
        for group in groups
    ]


def entry_view(entry: HistoryEntry) -> dict[str, Any]:
    """What the history page shows of one entry (names and ids; the entry holds no value)."""
    service = entry.detail.get("service")
    return {
        "id": entry.id,
        "time": entry.time,
        "kind": entry.kind,
        "party_id": entry.party_id,
        "party_name": entry.party_name,
        "verified": entry.detail.get("verified"),
        "service": service if isinstance(service, Mapping) else None,
        "credentials": [{"type": t["type"], "name": _credential_name(t["type"])} for t in entry.credential_types],
        "requested": _claims(entry.claims_requested),
        "shared": _claims(entry.claims_shared),
        "outcome": entry.outcome,
        # A declined request: whether the verifier was told (it answered), or could not be.
        "told": entry.detail.get("status_code") is not None,
        "consent_record_id": entry.consent_record_id,
    }


def install(app: FastAPI, pages: Pages) -> None:
    services = pages.services

    @app.get("/wallet/history", include_in_schema=False)
    def history(request: Request) -> Response:
        citizen = pages.citizen(request)
        if citizen is None:
            return pages.sign_in_first(request)
        before = request.query_params.get("before")
        if before is not None and not ID.match(before):
            return pages.message(request, 400, N_("Bad request"), back="/wallet/history")
        # One more than shown tells whether an older page follows (as the API does).
        entries = services.history.list(citizen, HISTORY_PAGE + 1, before)
        page = entries[:HISTORY_PAGE]
        return pages.render(
            request,
            "wallet_history.html",
            entries=[entry_view(e) for e in page],
            older=page[-1].id if len(entries) > HISTORY_PAGE else None,
            paged=before is not None,
        )

    @app.get("/wallet/inbox", include_in_schema=False)
    def inbox(request: Request) -> Response:
        citizen = pages.citizen(request)
        if citizen is None:
            return pages.sign_in_first(request)
        items = services.inbox.list(citizen, limit=INBOX_LIMIT)
        return pages.render(request, "wallet_inbox.html", items=items, unread=services.inbox.unread_count(citizen))

    @app.post("/wallet/inbox/{item_id}/read", include_in_schema=False)
    def mark_read(request: Request, item_id: str) -> Response:
        citizen = pages.citizen(request)
        if citizen is None:
            return RedirectResponse("/wallet/inbox", 303)  # which signs her in, and back
        try:
            if not ID.match(item_id):
                raise InboxItemNotFound(item_id)
            services.inbox.mark_read(citizen, item_id)
        except InboxItemNotFound:  # someone else's item answers the same
            return pages.message(request, 404, N_("No such message"), back="/wallet/inbox")
        return RedirectResponse("/wallet/inbox", 303)
