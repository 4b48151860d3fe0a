"""Rendering the wallet's pages: one Jinja2 environment per language (Korean first), each with its
Babel catalog installed through Jinja2's i18n extension; the language a citizen chose, remembered
in a cookie; the security headers every page carries; the signed-in citizen.

Every page module (wallet/web/*.py) renders through `Pages.render`, so every page has `lang`, the
language switch, the CSRF token, the navigation and the same headers. No page holds logic of its
own: it calls the wallet's services (the same calls as the JSON API) and shows what they return.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from wallet.api import WalletServices
from wallet.signin import signed_in_citizen
from wallet.web.messages import DEFAULT_LANGUAGE, LANGUAGES, N_, TEMPLATES, translations

LANGUAGE_COOKIE = "seoul_wallet_lang"
SEOUL = ZoneInfo("Asia/Seoul")
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    # No script at all, inline or not; styles from our own stylesheet only; QR codes are inline SVG.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
# The main navigation of a signed-in citizen: (path, English label; the catalog translates it).
NAVIGATION = (
    ("/wallet", N_("Home")),
    ("/wallet/credentials", N_("My credentials")),
    ("/wallet/services", N_("Services for me")),
    ("/wallet/consents", N_("My consents")),
    ("/wallet/history", N_("History")),
    ("/wallet/my-data", N_("My data")),
)


def language_of(request: Request) -> str:
    """The citizen's chosen language (cookie), else Korean."""
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    return chosen if chosen in LANGUAGES else DEFAULT_LANGUAGE


def local_path(value: str | None, default: str = "/wallet") -> str:
    """Only a path of the wallet on this site: never an open redirect."""
    if not value or not value.startswith("/wallet") or value.startswith("//") or "\\" in value:
        return default
    return value


def seoul_time(seconds: int | float | None, with_time: bool = True) -> str:
    """Unix seconds as Seoul local time (the citizen's clock), e.g. 2026-12-02 10:41."""
    if seconds is None:
        return ""
    moment = dt.datetime.fromtimestamp(seconds, SEOUL)
    return moment.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")


def _environment(language: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]

    def pick(text: Mapping[str, str] | None, fallback: str = "") -> str:
        """A {ko, en} text from the services, in this page's language (else the other)."""
        if not text:
            return fallback
        other = "en" if language == "ko" else "ko"
        return text.get(language) or text.get(other) or fallback

    env.filters["pick"] = pick
    env.filters["seoul_time"] = seoul_time
    env.filters["seoul_date"] = lambda s: seoul_time(s, with_time=False)
    return env


class Pages:
    """What every page module needs: rendering, the citizen, sign-in redirects, the services."""

    def __init__(self, services: WalletServices, csrf_token: Callable[[Request], str]) -> None:
        self.services = services
        self.csrf_token = csrf_token
        self.environments = {language: _environment(language) for language in LANGUAGES}

    def citizen(self, request: Request) -> str | None:
        citizen = signed_in_citizen(request)
        if citizen is not None:
            self.services.vault.ensure_account(citizen)
        return citizen

    def sign_in_first(self, request: Request) -> Response:
        back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/wallet/auth/login?return_to={quote(back, safe='')}", 303)

    def render(
        self,
        request: Request,
        template: str,
        status: int = 200,
        *,
        title: str | None = None,
        errors: list[dict[str, str]] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        """A page. `title` is the page's own title (translated by the caller's template through the
        catalog when it is an English id); `errors` ({field, message}) make the GOV.UK error
        summary at the top and prefix the title with "Error"."""
        language = language_of(request)
        env = self.environments[language]
        citizen = signed_in_citizen(request)
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        html = env.get_template(template).render(
            lang=language,
            other_language="en" if language == "ko" else "ko",
            request=request,
            citizen=citizen,
            navigation=NAVIGATION if citizen else (),
            current_path=request.url.path,
            here=local_path(here),
            csrf_token=lambda: self.csrf_token(request),
            page_title=title,
            errors=errors or [],
            **context,
        )
        response = HTMLResponse(html, status_code=status)
        response.headers.update(PAGE_HEADERS)
        return response

    def message(
        self,
        request: Request,
        status: int,
        title: str,
        messages: Mapping[str, str] | None = None,
        *,
        items: list[str] | None = None,
        next_url: str | None = None,
        back: str | None = None,
    ) -> HTMLResponse:
        """A page that says one thing: a result, or a refusal in plain words (`messages`, {ko, en},
        from the wallet's services; never a stack trace)."""
        return self.render(
            request,
            "wallet_message.html",
            status,
            title=title,
            messages=messages,
            items=items or [],
            next_url=next_url,
            back=back,
            warning=status >= 400,
        )
