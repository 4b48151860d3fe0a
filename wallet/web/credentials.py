"""Pages: the citizen's credentials — the list, one credential with every claim, and removing one
(a confirmation page, then a POST). The same vault calls as the JSON API (wallet/api.py): `list`,
`open`, `get`, `delete`; someone else's credential id answers exactly like an unknown one (404)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

import catalog
from vc.sd_jwt_vc import ISSUED_IN_CLEAR
from wallet.vault import CredentialNotFound, OpenedCredential, StoredCredential
from wallet.web.messages import N_
from wallet.web.rendering import Pages


def shown_status(stored: StoredCredential, now: float) -> str:
    """The status tag to show: the issuer's status, or "expired" once a valid credential is past its
    validity (the vault keeps the issuer's word; expiry is the clock's)."""
    if stored.status == "valid" and stored.expires_at is not None and now >= stored.expires_at:
        return "expired"
    return stored.status


def _value(spec: catalog.ClaimSpec | None, value: Any) -> dict[str, Any]:
    """One claim value as the template shows it: a yes/no, a label from the catalog ({ko, en}), a
    list of values, or the text as issued."""
    if isinstance(value, bool):
        return {"kind": "bool", "value": value}
    if isinstance(value, list | tuple):
        return {"kind": "list", "items": [_value(spec, item) for item in value]}
    if isinstance(value, dict):  # no catalog claim is an object; show one as issued, never hide it
        return {"kind": "text", "text": json.dumps(value, ensure_ascii=False, sort_keys=True)}
    label = (spec.value_display if spec is not None else {}).get(str(value))
    if label:
        return {"kind": "label", "label": label}
    return {"kind": "text", "text": str(value)}


def claim_rows(opened: OpenedCredential) -> list[dict[str, Any]]:
    """Every claim of the credential (the registered claims are metadata, shown as such), each with
    the issuer's display name; in the issuer's display order, then any claim it did not name."""
    claims = {k: v for k, v in opened.claims.items() if k not in ISSUED_IN_CLEAR}
    names: dict[str, Mapping[str, str]] = {}
    for entry in opened.stored.display.get("claims", []):
        path = entry.get("path") or []
        if len(path) == 1 and isinstance(path[0], str):
            names.setdefault(path[0], entry.get("name") or {})
    credential_type = catalog.credential_types().get(opened.stored.configuration_id)
    specs = credential_type.claims if credential_type is not None else {}
    order = [name for name in names if name in claims] + [name for name in claims if name not in names]
    return [
        {"claim": name, "name": names.get(name, {}), "value": _value(specs.get(name), claims[name])} for name in order
    ]


def install(app: FastAPI, pages: Pages) -> None:
    services = pages.services

    def not_found(request: Request) -> Response:
        return pages.message(request, 404, N_("No such credential"), back="/wallet/credentials")

    @app.get("/wallet/credentials", include_in_schema=False)
    def credential_list(request: Request) -> Response:
        citizen = pages.citizen(request)
        if citizen is None:
            return pages.sign_in_first(request)
        now = services.vault.clock()
        credentials = [(c, shown_status(c, now)) for c in services.vault.list(citizen)]
        return pages.render(
            request,
            "wallet_credentials.html",
            title=N_("My credentials"),
            credentials=credentials,
            removed=request.query_params.get("removed") == "1",
        )

    @app.get("/wallet/credentials/{credential_id}", include_in_schema=False)
    def credential_detail(request: Request, credential_id: str) -> Response:
        citizen = pages.citizen(request)
        if citizen is None:
            return pages.sign_in_first(request)
        try:
            opened = services.vault.open(citizen, credential_id)
        except CredentialNotFound:
            return not_found(request)
        stored = opened.stored
        return pages.render(
            request,
            "wallet_credentials_detail.html",
            credential=stored,
            state=shown_status(stored, services.vault.clock()),
            claims=claim_rows(opened),
        )

    @app.get("/wallet/credentials/{credential_id}/remove", include_in_schema=False)
    def remove_confirm(request: Request, credential_id: str) -> Response:
        citizen = pages.citizen(request)
        if citizen is None:
            return pages.sign_in_first(request)
        try:
            stored = services.vault.get(citizen, credential_id)
        except CredentialNotFound:
            return not_found(request)
        return pages.render(request, "wallet_credentials_remove.html", credential=stored)

    @app.post("/wallet/credentials/{credential_id}/remove", include_in_schema=False)
    def remove(request: Request, credential_id: str) -> Response:
        citizen = pages.citizen(request)
        if citizen is None:
            return pages.sign_in_first(request)
        try:
            services.vault.delete(citizen, credential_id)
        except CredentialNotFound:
            return not_found(request)
        return RedirectResponse("/wallet/credentials?removed=1", 303)
