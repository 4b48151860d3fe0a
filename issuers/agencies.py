"""Agencies: registration (row, signing key, OAuth client), lookup, and the idempotent demo seed."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from auth.clients import ClientCredentials, register_client
from issuers.credential_types import CredentialType
from issuers.models import Agency
from keys.keyring import KeyRing
from keys.names import check_display_name
from outbound.bounded_cache import BoundedTTLCache

SLUG = re.compile(r"^[a-z][a-z0-9-]{1,31}$")
AGENCY_SCOPES = ["credentials:offer", "credentials:revoke"]
# Every protocol request looks its agency up; agencies change rarely, so a short cache saves a
# query per request. Per worker, so bounded (a city has tens of agencies) and short: an agency's
# change made through another worker is seen here within CACHE_SECONDS.
CACHE_SECONDS = 30.0
MAX_CACHED_AGENCIES = 256


class AgencyError(ValueError):
    """An agency cannot be registered as asked; `field` names what to fix."""

    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message, self.status = field, message, status


@dataclass(frozen=True, slots=True)
class AgencyInfo:
    slug: str
    name: dict[str, str]
    credential_types: tuple[str, ...]

    @property
    def owner(self) -> str:
        """The key owner and OAuth subject of this agency."""
        return f"agency:{self.slug}"

    def may_issue(self, type_id: str) -> bool:
        return type_id in self.credential_types


def _info(row: Agency) -> AgencyInfo:
    return AgencyInfo(
        slug=row.slug, name={"ko": row.name_ko, "en": row.name_en}, credential_types=tuple(row.credential_types.split())
    )


class Agencies:
    def __init__(
        self,
        engine: Engine,
        keyring: KeyRing,
        types: dict[str, CredentialType],
        *,
        max_cached: int = MAX_CACHED_AGENCIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._keyring = keyring
        self._types = types
        # Only found agencies are cached: a new one is visible at once, and a stranger's slugs
        # (any that match SLUG) never take a place.
        self._cache: BoundedTTLCache[str, AgencyInfo] = BoundedTTLCache(max_cached, clock=clock)

    def cached(self, slug: str) -> AgencyInfo | None:
        """The agency if it is in the cache and fresh; never touches the database (for async code)."""
        return self._cache.get(slug)

    def get(self, slug: str) -> AgencyInfo | None:
        if not isinstance(slug, str) or not SLUG.match(slug):
            return None
        cached = self.cached(slug)
        if cached is not None:
            return cached
        with Session(self._engine) as session:
            row = session.get(Agency, slug)
        if row is None:
            return None
        info = _info(row)
        self._cache.put(slug, info, self._cache.clock() + CACHE_SECONDS)
        return info

    def list(self) -> list[AgencyInfo]:
        with Session(self._engine) as session:
            return [_info(row) for row in session.exec(select(Agency).order_by(Agency.slug))]

    def add(
        self, slug: str, name_ko: str, name_en: str, credential_types: Iterable[str], *, with_client: bool = True
    ) -> tuple[AgencyInfo, ClientCredentials | None]:
        """Register an agency with its signing key and (unless told not to) an OAuth client."""
        if not isinstance(slug, str) or not SLUG.match(slug):
            raise AgencyError("slug", "must be 2-32 characters: a lowercase letter, then letters, digits or '-'")
        for field, value in (("name.ko", name_ko), ("name.en", name_en)):
            if not isinstance(value, str):
                raise AgencyError(field, "must be a non-empty name of at most 200 characters")
            try:  # no newline, escape or bidirectional override: a name must read as what it is
                check_display_name(value, field)
            except ValueError:
                raise AgencyError(field, "must be 1 to 200 visible characters, with no control characters") from None
        wanted = list(dict.fromkeys(credential_types))
        if not wanted:
            raise AgencyError("credential_types", "must list at least one credential type")
        for index, type_id in enumerate(wanted):
            if type_id not in self._types:
                raise AgencyError(f"credential_types[{index}]", f"{type_id!r} is not in the catalog")
        try:
            with Session(self._engine) as session:
                session.add(
                    Agency(
                        slug=slug,
                        name_ko=name_ko.strip(),
                        name_en=name_en.strip(),
                        credential_types=" ".join(wanted),
                        created_at=int(time.time()),
                    )
                )
                session.commit()
        except IntegrityError:
            raise AgencyError("slug", f"an agency {slug!r} already exists", status=409) from None
        info = AgencyInfo(
            slug=slug, name={"ko": name_ko.strip(), "en": name_en.strip()}, credential_types=tuple(wanted)
        )
        self._keyring.ensure_key(info.owner, "ES256")
        credentials = None
        if with_client:
            credentials = register_client(self._engine, info.owner, AGENCY_SCOPES, name=f"{name_en} backend")
        return info, credentials

    def max_validity_seconds(self, info: AgencyInfo) -> int:
        """How long the longest-lived credential this agency issues stays valid."""
        return max(self._types[t].validity_days for t in info.credential_types if t in self._types) * 86400

    def seed(self, file: Path) -> list[str]:
        """Create the agencies listed in `file` that do not exist yet (safe with concurrent starts).
        Demo agencies get no OAuth client: their offers come from the CLI, which works on the database."""
        document = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        created = []
        for entry in document.get("agencies", []):
            if self.get(entry["slug"]) is not None:
                continue
            try:
                self.add(entry["slug"], entry["name"]["ko"], entry["name"]["en"], entry["issues"], with_client=False)
                created.append(entry["slug"])
            except AgencyError as exc:
                if exc.status != 409:  # 409: another worker seeded it first
                    raise
        return created
