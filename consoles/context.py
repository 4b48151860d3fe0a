"""What every console page module shares: rendering and the guard, the parties' API clients, the
consoles' records, and two helpers (QR codes, the page for a party that cannot be reached)."""

from __future__ import annotations

from dataclasses import dataclass

import segno
from fastapi import Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from consoles.clients import PartyClients, PartyUnavailable
from consoles.officers import Officer
from consoles.records import Records
from consoles.rendering import ConsolePages
from wallet.web.messages import N_


@dataclass
class Console:
    pages: ConsolePages
    parties: PartyClients
    records: Records
    public_url: str

    def unavailable(self, request: Request, officer: Officer, exc: PartyUnavailable) -> HTMLResponse:
        return self.pages.message(
            request,
            503,
            N_("The service cannot be reached"),
            N_("Nothing was done. Try again in a moment; if it persists, tell the platform's operators."),
            detail=str(exc),
            officer=officer,
        )


def qr_svg(link: str) -> Markup:
    """A link as an inline SVG QR code (no image request, nothing for the CSP to allow), sized by the
    stylesheet (`.qr svg`). The issuer's and the verifier's qr.svg need the party's token, which a
    browser does not hold."""
    svg = segno.make(link, error="m").svg_inline(scale=4, border=2, omitsize=True, svgclass=None, lineclass=None)
    return Markup(svg)  # segno's own markup of a link the party gave us: nothing to escape
