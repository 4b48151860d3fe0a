"""The issue-one-credential form, from the catalog's credential types: one typed input per claim
(a date input for a date, a number for an integer, a choice for an enum or a yes/no, a box per
value for a list of values), what was typed read back into claims, and the issuer API's Problem
Details (`errors[].field`) put back at the field they name, in the officer's language."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import catalog
from wallet.web.messages import N_

Text = dict[str, str]


@dataclass
class ClaimField:
    id: str  # the input's id, the error summary's anchor: claim-<name>
    name: str  # the form field: claim.<name>
    claim: str
    label: Text
    kind: str  # text, date, number, select, checkboxes, json
    optional: bool
    hint: str = ""  # the catalog's description: English, for the officer
    options: list[tuple[str, Text]] = field(default_factory=list)
    minimum: int | None = None
    maximum: int | None = None
    value: Any = None  # what was submitted, shown again after an error
    error: str | None = None


_YES_NO = [("true", {"ko": "예", "en": "Yes"}), ("false", {"ko": "아니요", "en": "No"})]


def claim_fields(type_id: str) -> list[ClaimField]:
    spec = catalog.credential_types()[type_id]
    fields = []
    for name, claim in spec.claims.items():
        label = {"ko": claim.display.get("ko", name), "en": claim.display.get("en", name)}
        item = ClaimField(f"claim-{name}", f"claim.{name}", name, label, "text", not claim.mandatory, claim.description)
        labels = claim.value_display
        if claim.type == "date":
            item.kind = "date"
        elif claim.type == "integer":
            item.kind, item.minimum, item.maximum = "number", claim.minimum, claim.maximum
        elif claim.type == "boolean":
            item.kind, item.options = "select", list(_YES_NO)
        elif claim.type == "enum":
            item.kind = "select"
            item.options = [(v, labels.get(v, {"ko": v, "en": v})) for v in claim.values or ()]
        elif claim.type == "string" and labels:  # a coded string (a region): its labelled codes
            item.kind = "select"
            item.options = [(v, {"ko": f"{t['ko']} ({v})", "en": f"{t['en']} ({v})"}) for v, t in labels.items()]
        elif claim.type == "array":
            values = (claim.items or {}).get("values")
            if values:
                item.kind = "checkboxes"
                item.options = [(v, labels.get(v, {"ko": v, "en": v})) for v in values]
            else:
                item.kind = "json"
        fields.append(item)
    return fields


def read_claims(
    fields: list[ClaimField],
    form: Mapping[str, Any],
    getlist: Callable[[str], list[Any]],
    gettext: Callable[[str], str],
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """The claims typed into `form` (an empty input is a claim not given), and the inputs that
    cannot be read as their type ({field, message}); each field keeps what was typed."""
    claims: dict[str, Any] = {}
    errors: list[dict[str, str]] = []
    for item in fields:
        if item.kind == "checkboxes":
            chosen = [v for v in getlist(item.name) if isinstance(v, str)]
            item.value = chosen
            if chosen:
                claims[item.claim] = chosen
            continue
        raw = form.get(item.name)
        text = raw.strip() if isinstance(raw, str) else ""
        item.value = text
        if not text:
            continue
        if item.kind == "number":
            if not re.fullmatch(r"-?\d{1,18}", text):
                item.error = gettext(N_("Enter a whole number"))
                errors.append({"field": item.id, "message": item.error})
                continue
            claims[item.claim] = int(text)
        elif item.kind == "select" and item.options == _YES_NO:
            claims[item.claim] = text == "true"
        elif item.kind == "json":
            try:
                claims[item.claim] = json.loads(text)
            except (ValueError, RecursionError):
                item.error = gettext(N_('Enter a JSON list, e.g. ["a", "b"]'))
                errors.append({"field": item.id, "message": item.error})
        else:
            claims[item.claim] = text
    return claims, errors


# The issuer's messages (English, for developers) said in the officer's language where we know them;
# anything else is shown in the issuer's own words.
_KNOWN = (
    (re.compile(r"is required"), N_("Enter a value (it is required)")),
    (re.compile(r"must be an integer"), N_("Enter a whole number")),
    (re.compile(r"must be a boolean|must be true or false"), N_("Choose yes or no")),
    (re.compile(r"must be at most (\d+) characters"), N_("Enter at most %(n)s characters")),
    (re.compile(r"must be at least (-?\d+)"), N_("Enter %(n)s or more")),
    (re.compile(r"must be at most (-?\d+)"), N_("Enter %(n)s or less")),
    (re.compile(r"must be one of"), N_("Choose one of the listed values")),
    (re.compile(r"ISO 8601 date"), N_("Enter a date as YYYY-MM-DD")),
    (re.compile(r"must match (\S+)"), N_("Enter it as %(n)s")),
    (re.compile(r"8 to 64 letters"), N_("Enter a platform ID: 8 to 64 letters, digits, '-' or '_'")),
    (re.compile(r"resident registration number"), N_("Enter the platform ID, never a resident registration number")),
    (re.compile(r"4 to 8 digits"), N_("Enter 4 to 8 digits")),
)


def say(message: str, gettext: Callable[[str], str]) -> str:
    for pattern, text in _KNOWN:
        found = pattern.search(message)
        if found:
            translated = gettext(text)
            return translated % {"n": found.group(1)} if found.groups() else translated
    return message


def field_id(api_field: str) -> str:
    """The input an issuer API error names: `claims.birth_date[0]` -> `claim-birth_date`."""
    name = api_field.removeprefix("body.")
    if name.startswith("claims."):
        return "claim-" + re.split(r"[.\[]", name[len("claims.") :], maxsplit=1)[0]
    if name.startswith("tx_code"):
        return "pin"
    return {"subject": "subject", "credential_type": "type"}.get(name, "")


def problem_errors(problem: Mapping[str, Any], gettext: Callable[[str], str]) -> list[dict[str, str]]:
    """The issuer's Problem Details as {field, message}; a refusal naming no field has field ''."""
    listed = problem.get("errors")
    if isinstance(listed, list) and listed:
        out = []
        for error in listed:
            if isinstance(error, dict):
                message = str(error.get("message") or problem.get("detail") or "")
                out.append({"field": field_id(str(error.get("field") or "")), "message": say(message, gettext)})
        if out:
            return out
    return [{"field": "", "message": str(problem.get("detail") or problem.get("title") or "")}]
