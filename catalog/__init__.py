"""The project's data: credential types, public services with their eligibility rules, demo parties
and the standard median income. Copied from the shared catalog (see SOURCES.md for provenance and
caveats); loaded from this package, never from outside the project at run time.

This package depends on nothing else in the project, so every party may use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import yaml

CLAIM_TYPES = frozenset({"string", "integer", "boolean", "date", "enum", "array"})
CLAIM_KEYS = frozenset(
    {
        "type",
        "mandatory",
        "values",
        "items",
        "minimum",
        "maximum",
        "description",
        "display",
        "value_display",
        "sd",
        "pattern",
    }
)
# Every claim name and value label must be given in these locales: citizens read Korean first,
# and English is what displays fall back to.
DISPLAY_LOCALES = ("ko", "en")
CREDENTIAL_TYPES_FILE = "credential_types.yaml"


class CatalogError(ValueError):
    """The catalog data is inconsistent; the message names the place."""


@dataclass(frozen=True, slots=True)
class ClaimSpec:
    name: str
    type: str
    mandatory: bool = False
    values: tuple[str, ...] | None = None  # enum members
    items: dict[str, Any] | None = None  # array item schema: {type, values?}
    minimum: int | None = None
    maximum: int | None = None
    description: str = ""  # documents the data, for developers; citizens see `display`
    display: dict[str, str] = field(default_factory=dict)  # locale -> the claim's name
    value_display: dict[str, dict[str, str]] = field(default_factory=dict)  # value -> locale -> label


@dataclass(frozen=True, slots=True)
class CredentialType:
    id: str
    vct: str
    name: dict[str, str]
    issuer: dict[str, str]
    validity_days: int
    claims: dict[str, ClaimSpec]


@dataclass(frozen=True, slots=True)
class Service:
    id: str
    name: dict[str, str]
    operator: dict[str, str]
    benefit: dict[str, str]
    purpose: str
    policy_version: str
    eligibility: dict[str, Any]
    needs_values: tuple[str, ...] = ()
    documents_replaced: tuple[str, ...] = ()
    reference_date: str = "application"
    unconfirmed: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DemoParty:
    slug: str
    name: dict[str, str]
    issues: tuple[str, ...] = ()
    services: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DemoParties:
    agencies: tuple[DemoParty, ...] = field(default_factory=tuple)
    verifiers: tuple[DemoParty, ...] = field(default_factory=tuple)


def _read(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _text(raw: Any, where: str) -> dict[str, str]:
    """A name in Korean and English, and nothing else. (An unquoted comma in a YAML flow mapping,
    `{ko: 국토교통부, en: Ministry of Land, Infrastructure and Transport}`, silently makes a third
    key and cuts the English name short: this refuses it.)"""
    if not (
        isinstance(raw, dict)
        and set(raw) == {"ko", "en"}
        and all(isinstance(v, str) and v.strip() for v in raw.values())
    ):
        raise CatalogError(f"{where}: a text is {{ko: …, en: …}} and nothing else (quote values with commas)")
    return dict(raw)


def _load(name: str) -> Any:
    return yaml.safe_load(_read(name))


def _display(where: str, raw: Any) -> dict[str, str]:
    """A `{locale: text}` label with at least every DISPLAY_LOCALES entry, non-blank."""
    if not isinstance(raw, dict) or not all(isinstance(text, str) for text in raw.values()):
        raise CatalogError(f"{where}: needs a display mapping of locale to text ({', '.join(DISPLAY_LOCALES)})")
    missing = [locale for locale in DISPLAY_LOCALES if not str(raw.get(locale) or "").strip()]
    if missing:
        raise CatalogError(f"{where}: display has no {', '.join(missing)} text")
    return {str(locale): text for locale, text in raw.items()}


def _labelled_values(raw: dict[str, Any]) -> tuple[str, ...]:
    """The values a claim can take that may carry labels: an enum's, or an array's enum items'."""
    if raw.get("type") == "array":
        items = raw.get("items")
        return tuple(items.get("values") or ()) if isinstance(items, dict) else ()
    return tuple(raw.get("values") or ())


def _value_display(where: str, raw: dict[str, Any]) -> dict[str, dict[str, str]]:
    labels = raw.get("value_display")
    if labels is None:
        return {}
    if not isinstance(labels, dict):
        raise CatalogError(f"{where}.value_display: must map values to display labels")
    if raw.get("type") == "string":
        # A coded string (a region code): labels for the codes, which the catalog cannot enumerate.
        return {str(value): _display(f"{where}.value_display.{value}", label) for value, label in labels.items()}
    allowed = _labelled_values(raw)
    for value in labels:
        # A typo here would leave a value unlabelled without anyone noticing; refuse it instead.
        if value not in allowed:
            raise CatalogError(f"{where}.value_display: {value!r} is not one of the claim's values")
    return {value: _display(f"{where}.value_display.{value}", label) for value, label in labels.items()}


def _claim(source: str, type_id: str, name: str, raw: dict[str, Any]) -> ClaimSpec:
    where = f"{source}: {type_id}.claims.{name}"
    kind = raw.get("type")
    if kind not in CLAIM_TYPES:
        raise CatalogError(f"{where}: unknown type {kind!r}")
    unknown = set(raw) - CLAIM_KEYS
    if unknown:
        # Most often an unquoted comma in a flow mapping: `description: KRW, previous tax year`.
        raise CatalogError(f"{where}: unknown keys {sorted(map(str, unknown))} (quote values with commas)")
    return ClaimSpec(
        name=name,
        type=kind,
        mandatory=bool(raw.get("mandatory", False)),
        values=tuple(raw["values"]) if "values" in raw else None,
        items=raw.get("items"),
        minimum=raw.get("minimum"),
        maximum=raw.get("maximum"),
        description=str(raw.get("description", "")),
        display=_display(where, raw.get("display")),
        value_display=_value_display(where, raw),
    )


def parse_credential_types(text: str, source: str = CREDENTIAL_TYPES_FILE) -> dict[str, CredentialType]:
    """The credential types of a `credential_types.yaml` text, by id; `CatalogError` (naming
    `source` and the place) if it is inconsistent."""
    out: dict[str, CredentialType] = {}
    for raw in yaml.safe_load(text)["credential_types"]:
        type_id = raw["id"]
        out[type_id] = CredentialType(
            id=type_id,
            vct=raw["vct"],
            name=_text(raw["name"], f"{source}: {type_id}.name"),
            issuer=_text(raw["issuer"], f"{source}: {type_id}.issuer"),
            validity_days=int(raw["validity_days"]),
            claims={name: _claim(source, type_id, name, spec) for name, spec in raw["claims"].items()},
        )
    return out


@cache
def credential_types() -> dict[str, CredentialType]:
    """Every credential type of the project's catalog, by id."""
    return parse_credential_types(_read(CREDENTIAL_TYPES_FILE))


@cache
def services() -> dict[str, Service]:
    """Every public service, by id, with its raw eligibility rule (eligibility/policies.py parses it)."""
    out: dict[str, Service] = {}
    for raw in _load("services.yaml")["services"]:
        out[raw["id"]] = Service(
            id=raw["id"],
            name=_text(raw["name"], f"services.yaml: {raw['id']}.name"),
            operator=_text(raw["operator"], f"services.yaml: {raw['id']}.operator"),
            benefit=_text(raw["benefit"], f"services.yaml: {raw['id']}.benefit"),
            purpose=raw["purpose"],
            policy_version=str(raw["policy_version"]),
            eligibility=raw["eligibility"],
            needs_values=tuple(raw.get("needs_values") or ()),
            documents_replaced=tuple(raw.get("documents_replaced") or ()),
            reference_date=str(raw.get("reference_date", "application")),
            unconfirmed=tuple(str(item) for item in raw.get("unconfirmed") or ()),
            sources=tuple(raw.get("sources") or ()),
        )
    return out


@cache
def demo_parties() -> DemoParties:
    """The demo agencies (issuers) and service operators (verifiers) seeded by `make run`."""
    raw = _load("agencies.yaml")
    return DemoParties(
        agencies=tuple(
            DemoParty(a["slug"], _text(a["name"], f"agencies.yaml: {a['slug']}"), issues=tuple(a["issues"]))
            for a in raw["agencies"]
        ),
        verifiers=tuple(
            DemoParty(v["slug"], _text(v["name"], f"agencies.yaml: {v['slug']}"), services=tuple(v["services"]))
            for v in raw["verifiers"]
        ),
    )


@cache
def standard_median_income() -> dict[int, dict[int, int]]:
    """기준 중위소득: year -> household size -> monthly KRW."""
    raw = _load("median_income.yaml")["standard_median_income"]
    return {int(year): {int(size): int(v) for size, v in sizes.items()} for year, sizes in raw.items()}
