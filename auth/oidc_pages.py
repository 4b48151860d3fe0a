"""The provider's HTML pages (Jinja2, auth/templates/): sign-in, errors, logout. No JavaScript."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

TEMPLATES = Path(__file__).with_name("templates")

# A sign-in page must never be framed (clickjacking), cached or leak its URL (it carries `state`)
# through the Referer. No `form-action`: browsers apply it to the redirect back to the client.
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def too_many_sign_ins(retry_after: int) -> dict[str, str]:
    """The sign-in form's message when wrong passwords have spent a limit (auth/rate_limits.py)."""
    return {
        "ko": f"로그인 시도가 너무 많았습니다. {retry_after}초 뒤에 다시 시도하세요.",
        "en": f"There were too many sign-in attempts. Try again in {retry_after} seconds.",
    }


class ProviderPages:
    """Renders the provider's pages with the CSRF token helper the composition root provides."""

    def __init__(self, csrf_token: Callable[[Request], str], issuer: str) -> None:
        self._templates = Jinja2Templates(directory=TEMPLATES)
        self._csrf_token = csrf_token
        self._issuer = issuer

    def render(self, request: Request, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
        response = self._templates.TemplateResponse(
            request,
            template,
            {"issuer": self._issuer, "csrf_token": lambda: self._csrf_token(request), **context},
            status_code=status,
        )
        response.headers.update(_PAGE_HEADERS)
        return response

    def error(self, request: Request, status: int, error: str, description: str | None) -> HTMLResponse:
        """A request that cannot go back to a client: shown to the citizen, never redirected."""
        return self.render(request, "idp_error.html", status=status, error=error, description=description or "")
