"""The officer's agency, as the consoles know it: its names and the credential types it issues,
from its public issuer metadata (over HTTP, like any wallet would read it), and the guard every
agency page passes: a signed-in agency officer, and her agency's metadata."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import Response

import catalog
from consoles.clients import PartyUnavailable
from consoles.context import Console
from consoles.officers import Officer

Text = dict[str, str]


@dataclass(frozen=True, slots=True)
class AgencyInfo:
    slug: str
    name: Text
    types: list[tuple[str, Text]]  # the credential types it issues, with their names


def agency_info(console: Console, officer: Officer) -> AgencyInfo:
    """The officer's agency as its public issuer metadata describes it (names, credential types)."""
    answer = console.parties.public(f"/.well-known/openid-credential-issuer/issuers/{officer.party}")
    if answer.status_code != 200:
        raise PartyUnavailable(f"the issuer metadata of {officer.party} answered {answer.status_code}")
    metadata = answer.json()
    name = {d.get("locale"): d.get("name") for d in metadata.get("display", []) if isinstance(d, dict)}
    known = catalog.credential_types()
    types = [
        (type_id, known[type_id].name)
        for type_id in metadata.get("credential_configurations_supported", {})
        if type_id in known  # the form is built from the catalog: a type it lacks cannot be filled in
    ]
    return AgencyInfo(
        officer.party, {"ko": name.get("ko") or officer.party, "en": name.get("en") or officer.party}, types
    )


def signed_in_agency(console: Console, request: Request) -> tuple[Officer, AgencyInfo] | Response:
    """The agency officer of this browser and her agency; else the page to show instead."""
    officer = console.pages.guard(request, "agency")
    if isinstance(officer, Response):
        return officer
    try:
        return officer, agency_info(console, officer)
    except PartyUnavailable as exc:
        return console.unavailable(request, officer, exc)
