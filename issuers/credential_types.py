"""Credential types from the project catalog: `vct`, typed claims, disclosability, validity, display.

`validate_claims` is the gate every offer passes (API, CLI, bulk): a wrong type, a missing mandatory
claim or an unknown claim raises `ClaimError` naming the field, before anything is stored.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

import catalog

# The project's catalog package holds the data; it imports nothing, so any party may read it.
CATALOG_FILE = Path(catalog.__file__).with_name("credential_types.yaml")
CLAIM_TYPES = frozenset({"string", "integer", "boolean", "date", "enum", "array"})
# The locales every claim's display name must have (the metadata publishes them in this order).
DISPLAY_LOCALES = ("ko", "en")
# The catalog writes formats as human patterns; these are what they mean.
_PATTERNS = {"YYYY-MM": re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_STRING = 200
MAX_ARRAY = 100


class CatalogError(ValueError):
    """The catalog file itself is malformed (a deployment error, found at start-up)."""


class ClaimError(ValueError):
    """Submitted claims do not match the credential type; `field` names the offending claim."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class ClaimSpec:
    name: str
    type: str
    mandatory: bool = False
    values: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    pattern: str | None = None
    items: ClaimSpec | None = None
    description: str | None = None
    disclosable: bool = True
    display: dict[str, str] = field(default_factory=dict)  # locale -> name shown to the citizen

    def check(self, value: Any, where: str) -> Any:
        """The value if it fits this spec; `ClaimError` naming `where` otherwise."""
        kind = self.type
        if kind == "boolean":
            if type(value) is not bool:
                raise ClaimError(where, "must be a boolean")
        elif kind == "integer":
            if type(value) is not int:
                raise ClaimError(where, "must be an integer")
            if self.minimum is not None and value < self.minimum:
                raise ClaimError(where, f"must be at least {self.minimum}")
            if self.maximum is not None and value > self.maximum:
                raise ClaimError(where, f"must be at most {self.maximum}")
        elif kind in ("string", "enum", "date"):
            if not isinstance(value, str):
                raise ClaimError(where, f"must be a {'date string' if kind == 'date' else 'string'}")
            if len(value) > MAX_STRING:
                raise ClaimError(where, f"must be at most {MAX_STRING} characters")
            if kind == "enum" and value not in self.values:
                raise ClaimError(where, f"must be one of {', '.join(self.values)}")
            if kind == "date":
                try:
                    if not _DATE.match(value):
                        raise ValueError
                    dt.date.fromisoformat(value)
                except ValueError:
                    raise ClaimError(where, "must be an ISO 8601 date (YYYY-MM-DD)") from None
            if self.pattern is not None and not _PATTERNS[self.pattern].match(value):
                raise ClaimError(where, f"must match {self.pattern}")
        elif kind == "array":
            if not isinstance(value, list):
                raise ClaimError(where, "must be an array")
            if len(value) > MAX_ARRAY:
                raise ClaimError(where, f"must have at most {MAX_ARRAY} elements")
            assert self.items is not None
            for index, item in enumerate(value):
                self.items.check(item, f"{where}[{index}]")
        return value

    def parse_text(self, text: str, where: str) -> Any:
        """A CSV cell to a typed value: integers and booleans spelled out, arrays as JSON."""
        if self.type == "integer":
            if not re.fullmatch(r"-?\d{1,18}", text.strip()):
                raise ClaimError(where, "must be an integer")
            return int(text)
        if self.type == "boolean":
            lowered = text.strip().lower()
            if lowered not in ("true", "false"):
                raise ClaimError(where, "must be true or false")
            return lowered == "true"
        if self.type == "array":
            try:
                value = json.loads(text)
            except (ValueError, RecursionError):
                raise ClaimError(where, "must be a JSON array") from None
            return value
        return text


@dataclass(frozen=True, slots=True)
class CredentialType:
    id: str
    vct: str
    name: dict[str, str]
    issuer_name: dict[str, str]
    validity_days: int
    claims: dict[str, ClaimSpec] = field(default_factory=dict)

    def validate_claims(self, claims: Any) -> dict[str, Any]:
        """Check submitted claims: an object, no unknown claim, every mandatory claim, right types."""
        if not isinstance(claims, Mapping):
            raise ClaimError("claims", "must be a JSON object")
        for name in claims:
            if name not in self.claims:
                raise ClaimError(f"claims.{name}", f"is not a claim of {self.id}")
        for name, spec in self.claims.items():
            if name not in claims or claims[name] is None:
                if spec.mandatory:
                    raise ClaimError(f"claims.{name}", "is required")
                continue
            spec.check(claims[name], f"claims.{name}")
        return {name: claims[name] for name in self.claims if claims.get(name) is not None}

    def disclosable_paths(self, claims: Mapping[str, Any]) -> list[tuple[str | None, ...]]:
        """Which of the present claims become selectively disclosable (arrays: each element too)."""
        paths: list[tuple[str | None, ...]] = []
        for name, spec in self.claims.items():
            if name not in claims or not spec.disclosable:
                continue
            paths.append((name,))
            if spec.type == "array" and claims[name]:
                paths.append((name, None))
        return paths


def _display(name: str, raw: Any, where: str) -> dict[str, str]:
    """The claim's `{locale: name}`: the metadata would otherwise show citizens a snake_case id."""
    texts = raw if isinstance(raw, dict) else {}
    missing = [
        locale for locale in DISPLAY_LOCALES if not isinstance(texts.get(locale), str) or not texts[locale].strip()
    ]
    if missing:
        raise CatalogError(f"{where}: claim {name!r} needs a display name in {', '.join(missing)}")
    return {str(locale): str(text) for locale, text in texts.items()}


def _claim_spec(name: str, raw: Any, where: str, *, item: bool = False) -> ClaimSpec:
    if not isinstance(raw, dict) or raw.get("type") not in CLAIM_TYPES:
        raise CatalogError(f"{where}: claim {name!r} needs a type among {sorted(CLAIM_TYPES)}")
    pattern = raw.get("pattern")
    if pattern is not None and pattern not in _PATTERNS:
        raise CatalogError(f"{where}: unknown pattern {pattern!r}")
    items = _claim_spec(f"{name}[]", raw["items"], where, item=True) if raw["type"] == "array" else None
    sd = raw.get("sd", "always")
    return ClaimSpec(
        name=name,
        type=raw["type"],
        mandatory=bool(raw.get("mandatory", False)),
        values=tuple(str(v) for v in raw.get("values", ())),
        minimum=raw.get("minimum"),
        maximum=raw.get("maximum"),
        pattern=pattern,
        items=items,
        description=raw.get("description"),
        disclosable=sd != "never",
        # An array's items are named by the array's own display.
        display={} if item else _display(name, raw.get("display"), where),
    )


def load_credential_types(path: Path = CATALOG_FILE) -> dict[str, CredentialType]:
    """Every credential type of the catalog, by id; `CatalogError` if the file is malformed."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    types: dict[str, CredentialType] = {}
    for raw in document.get("credential_types", []):
        type_id = raw.get("id")
        if not isinstance(type_id, str) or not isinstance(raw.get("vct"), str):
            raise CatalogError(f"{path}: every credential type needs an id and a vct")
        claims = {name: _claim_spec(name, spec, f"{path}:{type_id}") for name, spec in raw.get("claims", {}).items()}
        types[type_id] = CredentialType(
            id=type_id,
            vct=raw["vct"],
            name=dict(raw.get("name", {})),
            issuer_name=dict(raw.get("issuer", {})),
            validity_days=int(raw.get("validity_days", 365)),
            claims=claims,
        )
    return types
