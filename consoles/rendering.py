"""Rendering the consoles' pages with the citizen app's machinery: the same templates folder
(wallet/templates/console_*.html), the same Babel catalogs (wallet/locale/ko/LC_MESSAGES/consoles.po
is merged with the wallet's), the same stylesheet, security headers and language cookie (path
/consoles here), and the officer's guard: who is signed in, and which party she works for.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.engine import Engine

from consoles.officers import Officer, officer
from consoles.signin import ConsoleSignIn, local_path
from wallet.web.messages import LANGUAGES, N_, TEMPLATES, translations
from wallet.web.rendering import PAGE_HEADERS, language_of, seoul_time

NAVIGATION = {
    "agency": (
        ("/consoles/agency", N_("Agency console")),
        ("/consoles/agency/issue", N_("Issue a credential")),
        ("/consoles/agency/cohort", N_("Upload a cohort")),
        ("/consoles/agency/credentials", N_("Revoke or suspend")),
    ),
    "service": (
        ("/consoles/service", N_("Decisions")),
        ("/consoles/service/checks/new", N_("Open a check")),
    ),
}
CONSOLE_OF = {"agency": "/consoles/agency", "service": "/consoles/service"}


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
        if not text:
            return fallback
        return text.get(language) or text.get("en" if language == "ko" else "ko") or fallback

    env.filters["pick"] = pick
    env.filters["seoul_time"] = seoul_time
    return env


class ConsolePages:
    def __init__(
        self,
        engine: Engine,
        signin: ConsoleSignIn,
        csrf_token: Callable[[Request], str],
        prepare: Callable[[], None] = lambda: None,
    ) -> None:
        self.engine, self.signin, self.csrf_token = engine, signin, csrf_token
        self.environments = {language: _environment(language) for language in LANGUAGES}
        self._prepare, self._prepared, self._lock = prepare, False, threading.Lock()

    def prepare(self) -> None:
        """Development seeding, once per process, before the first console page or sign-in."""
        if self._prepared:
            return
        with self._lock:
            if not self._prepared:
                self._prepare()
                self._prepared = True

    def gettext(self, request: Request) -> Callable[[str], str]:
        """The page language's gettext, for messages composed in Python (field errors)."""
        return translations(language_of(request)).gettext

    def render(
        self,
        request: Request,
        template: str,
        status: int = 200,
        *,
        title: str | None = None,
        errors: list[dict[str, str]] | None = None,
        officer: Officer | None = None,
        **context: Any,
    ) -> HTMLResponse:
        """A page. `title` is an English message id; `errors` ({field, message}, the message already
        in the page's language) make the error summary and prefix the title with "Error"."""
        language = language_of(request)
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        who = self.signin.signed_in(request)
        html = (
            self.environments[language]
            .get_template(template)
            .render(
                lang=language,
                other_language="en" if language == "ko" else "ko",
                request=request,
                officer=officer,
                officer_name=who[1] if who else None,
                signed_in=who is not None,
                navigation=NAVIGATION[officer.kind] if officer else (),
                current_path=request.url.path,
                here=local_path(here),
                csrf_token=lambda: self.csrf_token(request),
                page_title=title,
                errors=errors or [],
                **context,
            )
        )
        response = HTMLResponse(html, status_code=status)
        response.headers.update(PAGE_HEADERS)
        return response

    def message(
        self,
        request: Request,
        status: int,
        title: str,
        text: str | None = None,
        *,
        detail: str | None = None,
        back: str | None = None,
        officer: Officer | None = None,
    ) -> HTMLResponse:
        """A page that says one thing: `text` an English message id, `detail` a party's own words."""
        return self.render(
            request,
            "console_message.html",
            status,
            title=title,
            text=text,
            detail=detail,
            back=back,
            officer=officer,
            warning=status >= 400,
        )

    def guard(self, request: Request, kind: str) -> Officer | Response:
        """The officer of this browser if she works for a party of `kind`; else the page to show:
        sign in first, or a refusal (a citizen, or an officer of the other kind of party)."""
        self.prepare()
        who = self.signin.signed_in(request)
        if who is None:
            back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/consoles/auth/login?return_to={quote(back, safe='')}", 303)
        found = officer(self.engine, who[0])
        if found is None:
            return self.message(
                request,
                403,
                N_("Not an officer's account"),
                N_("This account is not an officer of any agency or service."),
            )
        if found.kind != kind:
            return self.message(
                request,
                403,
                N_("Not your console"),
                N_("You work for another kind of party; your console is a link away."),
                back=CONSOLE_OF[found.kind],
                officer=found,
            )
        return found
