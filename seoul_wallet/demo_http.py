"""What the server said, for `seoul-wallet demo`: one-line answers, a page's words and forms, and a
resolver over a published JWKS."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import httpx

from keys import jws
from keys.jwk import JWKError, load_public_jwk


def describe(response: httpx.Response) -> str:
    """The server's answer in one short line: an OAuth error, Problem Details, or the text."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        said = body["error"] + (f": {body['error_description']}" if body.get("error_description") else "")
    elif isinstance(body, dict) and ("title" in body or "detail" in body):
        messages = body.get("messages") if isinstance(body.get("messages"), dict) else {}
        detail = messages.get("en") or body.get("detail") or ""
        name = body.get("reason") or body.get("title") or ""
        said = f"{name}: {detail}" if detail and detail != name else str(name or detail)
        if body.get("step"):
            said += f" (at {body['step']})"
    else:
        said = " ".join(_visible_text(response.text).split())
    return f"{response.status_code} {said}"[:300]


_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"})


class _Text(HTMLParser):
    """A page's words: those of its alert (the error summary), in English where marked, else all."""

    def __init__(self) -> None:
        super().__init__()
        self.all: list[str] = []
        self.alert: list[str] = []
        self.alert_en: list[str] = []
        self._open: list[tuple[str, bool, bool, bool]] = []  # tag, skipped, in alert, in English

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID:
            return
        attributes = dict(attrs)
        skipped, alert, english = self._open[-1][1:] if self._open else (False, False, False)
        self._open.append(
            (
                tag,
                skipped or tag in ("head", "style", "script"),
                alert or attributes.get("role") == "alert",
                (english or attributes.get("lang") == "en") if "lang" not in attributes else attributes["lang"] == "en",
            )
        )

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self._open) - 1, -1, -1):
            if self._open[depth][0] == tag:
                del self._open[depth:]
                break

    def handle_data(self, data: str) -> None:
        skipped, alert, english = self._open[-1][1:] if self._open else (False, False, False)
        if skipped:
            return
        self.all.append(data)
        if alert:
            self.alert.append(data)
            if english:
                self.alert_en.append(data)


def _visible_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return " ".join(parser.alert_en or parser.alert or parser.all)


@dataclass
class Form:
    action: str
    fields: dict[str, str] = field(default_factory=dict)


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append(Form(attributes.get("action", "")))
        elif self.forms and tag == "input" and attributes.get("name"):
            self.forms[-1].fields[attributes["name"]] = attributes.get("value", "")


def forms_of(html: str) -> list[Form]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


def jwks_resolver(jwks: Any, what: str) -> jws.KeyResolver:
    """A resolver over a published JWKS, by `kid`."""
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    by_kid = {k.get("kid"): k for k in keys or [] if isinstance(k, dict)}

    def resolve(header: dict[str, Any], payload: dict[str, Any]) -> jws.PublicKey:
        jwk = by_kid.get(header.get("kid"))
        if jwk is None:
            raise jws.UnknownKey(f"the {what} names no key of its JWKS")
        try:
            return load_public_jwk({k: v for k, v in jwk.items() if k in ("kty", "crv", "x", "y")})
        except JWKError as exc:
            raise jws.UnknownKey(str(exc)) from None

    return resolve
