"""Who receives a presentation, as far as the wallet can tell from the request itself.

The platform's own verifiers are recognised by their certificate (issued by the platform's
relying-party CA, with the verifier's slug as organizational unit) or, for an unsigned development
request, by a response URI on the platform's verifier endpoints. For them the wallet knows more:
the registry name (catalog), the service (the catalog service whose eligibility rule reads exactly
the claims the query asks for: the verifier derives its query from that rule), what reaches the
service backend (values only where the rule's `needs_values` says so), and the request id (from the
request URI), to link the consent. Any other verifier is described only by what it proves
(certificate) or says (client metadata), and nothing is inferred.
"""

from __future__ import annotations

import functools
import hashlib
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization

import catalog
from eligibility.policies import Policy, load_policies
from keys.subjects import SUBJECT_CLAIM
from outbound.urls import FetchFailed, UnsafeURL, fetch_bounded
from wallet.present_errors import SharingRefused
from wallet.request_objects import (
    AuthorizationRequest,
    certificate_name,
    certificate_unit,
    load_trust_anchors,
)

PLATFORM_CA_PATH = "/verifiers/rp-ca.pem"
# What the platform's verifiers state in their own consent records for claim values a service
# receives (verifiers/service.py VALUES_RETENTION_DAYS, README "Checking eligibility"); a service
# that receives only the decision keeps no value.
PLATFORM_VALUES_RETENTION_DAYS = 365
PURPOSE_ELIGIBILITY = "ServiceAccessDetermination"  # W3C DPV: what every platform verifier does
PURPOSE_REQUESTED = "RequestedServiceProvision"  # W3C DPV: a service the citizen asked for
_SLUG = r"[a-z0-9][a-z0-9-]{0,62}"
_REQUEST_PATH = re.compile(rf"^/verifiers/(?P<slug>{_SLUG})/requests/(?P<id>[A-Za-z0-9_-]{{8,64}})/object$")
_RESPONSE_PATH = re.compile(rf"^/verifiers/(?P<slug>{_SLUG})/response$")

LocalizedText = Mapping[str, str]


class PlatformVerifiers:
    """The platform's own verifiers: where the platform serves (`public_url`) and its relying-party
    CA, passed in or fetched once from `GET /verifiers/rp-ca.pem`."""

    def __init__(self, public_url: str, ca_pem: str | None = None) -> None:
        self.public_url = public_url.rstrip("/")
        self._ca = load_trust_anchors([ca_pem]) if ca_pem else None
        self._lock = threading.Lock()

    def ca_certificates(self, http: httpx.Client, development: bool) -> list[x509.Certificate]:
        if self._ca is None:
            with self._lock:
                if self._ca is None:
                    try:
                        pem = fetch_bounded(
                            http,
                            self.public_url + PLATFORM_CA_PATH,
                            development=development,
                            max_bytes=64 * 1024,
                            accept="application/x-pem-file",
                        )
                        self._ca = load_trust_anchors([pem])
                    except (UnsafeURL, FetchFailed, ValueError):
                        raise SharingRefused("trust_anchors_unavailable") from None
        return self._ca

    def origin(self) -> tuple[str, str]:
        parts = urlsplit(self.public_url)
        return parts.scheme, parts.netloc


@dataclass(frozen=True)
class ServiceInfo:
    id: str
    name: LocalizedText
    policy_version: str


@dataclass(frozen=True)
class Recipient:
    """The verifier as the consent view shows it and the ledger records it."""

    verifier_id: str  # the ledger's recipient: verifier:<slug>
    controller_id: str
    name: LocalizedText
    name_verified: bool  # the name comes from a certificate whose chain verified (or our registry for it)
    platform_slug: str | None  # one of the platform's verifiers
    request_id: str | None  # the platform verifier's request id, to link the consent to it
    service: ServiceInfo | None
    purpose_code: str
    purpose: LocalizedText | None  # None: the verifier does not say
    legal_basis: str | None
    # (vct, claim) pairs whose values reach the service; None: every value the verifier receives is
    # the service's (nothing says otherwise).
    values_reach_service: frozenset[tuple[str, str]] | None
    retention_days: int | None  # None: the verifier does not say


def _der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


def _registry_name(slug: str) -> LocalizedText | None:
    for party in catalog.demo_parties().verifiers:
        if party.slug == slug:
            return dict(party.name)
    return None


@functools.cache
def _policies() -> dict[str, Policy]:
    return load_policies(catalog.services(), catalog.credential_types())


def _rule_reads(service: catalog.Service) -> set[tuple[str, str]]:
    """(vct, claim) of every claim the service's rule reads, `where` claims included: what the
    verifier's query (eligibility/dcql.py) asks for, besides `sub`."""
    types = catalog.credential_types()
    reads = set()
    for condition in _policies()[service.id].conditions():
        vct = types[condition.credential].vct
        reads.add((vct, condition.claim))
        reads.update((vct, name) for name, _ in condition.where)
    return reads


def _query_reads(dcql_query: Mapping[str, Any]) -> set[tuple[str, str]]:
    reads = set()
    for credential in dcql_query.get("credentials", []):
        for vct in credential.get("meta", {}).get("vct_values") or ():
            for claim in credential.get("claims") or ():
                path = claim.get("path") or []
                if path and path[0] != SUBJECT_CLAIM and isinstance(path[0], str):
                    reads.add((vct, path[0]))
    return reads


def platform_service(slug: str, dcql_query: Mapping[str, Any]) -> ServiceInfo | None:
    """The catalog service a platform verifier's query was derived from: the one (among the services
    it operates, when the registry lists it) whose rule reads exactly the claims asked for."""
    operated = next((p.services for p in catalog.demo_parties().verifiers if p.slug == slug), None)
    services = catalog.services()
    candidates = [services[s] for s in operated if s in services] if operated else list(services.values())
    asked = _query_reads(dcql_query)
    found = [s for s in candidates if _rule_reads(s) == asked]
    if len(found) != 1:
        return None
    return ServiceInfo(found[0].id, dict(found[0].name), found[0].policy_version)


def foreign_slug(client_id: str, host: str) -> str:
    """A stable ledger id for a verifier outside the platform: readable (its host) and distinct per
    client identifier (a hash), within the ledger's `verifier:<slug>` pattern."""
    label = re.sub(r"[^a-z0-9]+", "-", host.lower()).strip("-")[:40].strip("-") or "verifier"
    return f"ext-{label}-{hashlib.sha256(client_id.encode()).hexdigest()[:10]}"


def _platform_slug(
    request: AuthorizationRequest, platform: PlatformVerifiers | None, ca_ders: set[bytes]
) -> str | None:
    if platform is None:
        return None
    if request.signed:
        if request.anchor is None or _der(request.anchor) not in ca_ders or request.certificate is None:
            return None
        unit = certificate_unit(request.certificate)
        return unit if unit and re.fullmatch(_SLUG, unit) else None
    # Unsigned (development): the answer goes to the platform's endpoint of that verifier.
    parts = urlsplit(request.response_uri)
    matched = _RESPONSE_PATH.match(parts.path)
    if matched and (parts.scheme, parts.netloc) == platform.origin():
        return matched["slug"]
    return None


def _request_id(request: AuthorizationRequest, platform: PlatformVerifiers, slug: str) -> str | None:
    """Our verifier serves each request object at `{public_url}/verifiers/{slug}/requests/{id}/object`."""
    if request.request_uri is None:
        return None
    parts = urlsplit(request.request_uri)
    matched = _REQUEST_PATH.match(parts.path)
    if matched is None or matched["slug"] != slug or (parts.scheme, parts.netloc) != platform.origin():
        return None
    return matched["id"]


def _values_reaching(service: ServiceInfo) -> frozenset[tuple[str, str]]:
    """(vct, claim) of each value the service's rule says it needs (`needs_values`)."""
    types = catalog.credential_types()
    pairs = set()
    for item in catalog.services()[service.id].needs_values:
        type_id, _, claim = item.partition(".")
        if type_id in types:
            pairs.add((types[type_id].vct, claim))
    return frozenset(pairs)


def _platform_recipient(
    request: AuthorizationRequest, platform: PlatformVerifiers, slug: str, certified: str | None
) -> Recipient:
    name = _registry_name(slug) or {"ko": certified or slug, "en": certified or slug}
    service = platform_service(slug, request.dcql_query)
    values = _values_reaching(service) if service is not None else None
    if service is not None:
        purpose = {"ko": f"{service.name['ko']} 자격 확인", "en": f"Eligibility check for {service.name['en']}"}
    else:  # a service the catalog does not describe: still an eligibility check, which is all they do
        purpose = {"ko": f"{name['ko']} 서비스 자격 확인", "en": f"Eligibility check by {name['en']}"}
    return Recipient(
        verifier_id=f"verifier:{slug}",
        controller_id=slug,
        name=name,
        name_verified=request.signed,
        platform_slug=slug,
        request_id=_request_id(request, platform, slug),
        service=service,
        purpose_code=PURPOSE_ELIGIBILITY,
        purpose=purpose,
        legal_basis="consent",
        values_reach_service=values,
        retention_days=None if values is None else PLATFORM_VALUES_RETENTION_DAYS if values else 0,
    )


def _foreign_recipient(request: AuthorizationRequest, certified: str | None) -> Recipient:
    # Only what the certificate proves, else what the verifier says of itself (shown unverified).
    metadata = request.params.get("client_metadata") or {}
    stated = metadata.get("client_name") if isinstance(metadata.get("client_name"), str) else None
    shown = (certified or stated or request.response_host)[:200]
    slug = foreign_slug(request.client_id, request.response_host)
    return Recipient(
        verifier_id=f"verifier:{slug}",
        controller_id=slug,
        name={"ko": shown, "en": shown},
        name_verified=certified is not None,
        platform_slug=None,
        request_id=None,
        service=None,
        purpose_code=PURPOSE_REQUESTED,
        purpose=None,
        legal_basis=None,
        values_reach_service=None,
        retention_days=None,
    )


def identify_recipient(
    request: AuthorizationRequest, platform: PlatformVerifiers | None, platform_ca: list[x509.Certificate]
) -> Recipient:
    """Who receives the answer to an authenticated request. `platform_ca`: the platform's RP CA
    certificates (needed for signed requests only)."""
    slug = _platform_slug(request, platform, {_der(c) for c in platform_ca})
    certified = certificate_name(request.certificate) if request.certificate is not None else None
    if slug is not None and platform is not None:
        return _platform_recipient(request, platform, slug, certified)
    return _foreign_recipient(request, certified)
