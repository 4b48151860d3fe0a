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
    description: str = ""


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


def _load(name: str) -> Any:
    return yaml.safe_load(resources.files(__package__).joinpath(name).read_text(encoding="utf-8"))


def _claim(type_id: str, name: str, raw: dict[str, Any]) -> ClaimSpec:
    kind = raw.get("type")
    if kind not in CLAIM_TYPES:
        raise CatalogError(f"credential_types.yaml: {type_id}.claims.{name}: unknown type {kind!r}")
    return ClaimSpec(
        name=name,
        type=kind,
        mandatory=bool(raw.get("mandatory", False)),
        values=tuple(raw["values"]) if "values" in raw else None,
        items=raw.get("items"),
        minimum=raw.get("minimum"),
        maximum=raw.get("maximum"),
        description=str(raw.get("description", "")),
    )


@cache
def credential_types() -> dict[str, CredentialType]:
    """Every credential type, by id."""
    out: dict[str, CredentialType] = {}
    for raw in _load("credential_types.yaml")["credential_types"]:
        type_id = raw["id"]
        out[type_id] = CredentialType(
            id=type_id,
            vct=raw["vct"],
            name=raw["name"],
            issuer=raw["issuer"],
            validity_days=int(raw["validity_days"]),
            claims={name: _claim(type_id, name, spec) for name, spec in raw["claims"].items()},
        )
    return out


@cache
def services() -> dict[str, Service]:
    """Every public service, by id, with its raw eligibility rule (eligibility/policies.py parses it)."""
    out: dict[str, Service] = {}
    for raw in _load("services.yaml")["services"]:
        out[raw["id"]] = Service(
            id=raw["id"],
            name=raw["name"],
            operator=raw["operator"],
            benefit=raw["benefit"],
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
        agencies=tuple(DemoParty(a["slug"], a["name"], issues=tuple(a["issues"])) for a in raw["agencies"]),
        verifiers=tuple(DemoParty(v["slug"], v["name"], services=tuple(v["services"])) for v in raw["verifiers"]),
    )


@cache
def standard_median_income() -> dict[int, dict[int, int]]:
    """기준 중위소득: year -> household size -> monthly KRW."""
    raw = _load("median_income.yaml")["standard_median_income"]
    return {int(year): {int(size): int(v) for size, v in sizes.items()} for year, sizes in raw.items()}
