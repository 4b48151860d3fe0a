"""The verifier party's domain logic: registering verifiers, creating OpenID4VP requests, recording
refusals, results for backends. No HTTP here; api.py maps errors to responses. The response path
lives beside it: the checks in presentation_checks.py, the acceptance with the ledger's consent
in acceptance.py, the event-loop side of the endpoint in responses.py.

A request's status: `pending`, then `answered` or `rejected`; `accepting` in between while the
ledger records its consent (a backend sees it as `pending`)."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from cryptography.hazmat.primitives import serialization
from sqlalchemy import bindparam, insert, update
from sqlalchemy import select as core_select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from catalog import CredentialType, Service
from eligibility.dcql import derive_dcql
from eligibility.policies import Policy
from keys import jws
from keys.datakeys import DataKeyStore
from keys.identifiers import random_identifier
from keys.keyring import KeyRing
from keys.names import check_display_name
from keys.subjects import PAIRWISE_SUBJECT, PairwiseSubjects
from outbound.bounded_cache import BoundedTTLCache
from outbound.status_lists import StatusListClient
from outbound.urls import UnsafeURL, check_client_url
from storage.reads import read_model, read_session
from vc.dcql import parse_query
from verifiers.consent_gateway import ConsentGateway
from verifiers.errors import VerifierError
from verifiers.models import CallbackDelivery, PresentationRequest, Verifier
from verifiers.presentation_checks import ALGORITHMS
from verifiers.rp_ca import RelyingPartyCA
from verifiers.texts import neutral_text
from verifiers.trusted_issuers import TrustedIssuerRegistry

log = logging.getLogger("seoul_wallet.verifiers")

DECISIONS_OWNER = "verifiers"  # the verifier platform key that signs decisions
REQUEST_OBJECT_TYP = "oauth-authz-req+jwt"
DECISION_TYP = "eligibility-decision+jwt"
VP_FORMAT_ALGORITHMS = {"sd-jwt_alg_values": ALGORITHMS, "kb-jwt_alg_values": ALGORITHMS}
# Registered verifiers kept in memory (their rows never change): how many, and for how long.
VERIFIER_CACHE_ENTRIES = 1024
VERIFIER_CACHE_SECONDS = 300.0


def verifier_owner(slug: str) -> str:
    return f"verifier:{slug}"


_REQUESTS = PresentationRequest.__table__  # type: ignore[attr-defined]
# Built once: building a statement costs more client CPU than PostgreSQL's answer to it, and each
# presentation reads its request three times (bench/RESULTS.md, "statements built once").
REQUEST_BY_ID = core_select(_REQUESTS).where(_REQUESTS.c.id == bindparam("id"))
REQUEST_BY_STATE = core_select(_REQUESTS).where(_REQUESTS.c.state == bindparam("state"))
_INSERT_REQUEST = insert(_REQUESTS)


@dataclass(frozen=True, slots=True)
class VerifierSettings:
    public_url: str
    development: bool
    request_ttl: int = 300
    kb_max_age: int = 300
    clock_skew: int = 60
    vp_token_retention: int = 0  # seconds; 0 = the vp_token is dropped as soon as the decision is made


@dataclass(frozen=True, slots=True)
class CreatedRequest:
    request_id: str
    client_id: str
    request_uri: str | None
    link: str
    expires_at: int


@dataclass(frozen=True, slots=True)
class ResponseOutcome:
    request_id: str
    redirect_uri: str | None


class VerifierService:
    def __init__(
        self,
        *,
        engine: Engine,
        keyring: KeyRing,
        data_keys: DataKeyStore,
        registry: TrustedIssuerRegistry,
        status_lists: StatusListClient,
        ca: RelyingPartyCA,
        consent: ConsentGateway,
        subjects: PairwiseSubjects,
        policies: Mapping[str, Policy],
        services: Mapping[str, Service],
        types: Mapping[str, CredentialType],
        settings: VerifierSettings,
    ) -> None:
        self.engine = engine
        self.keyring = keyring
        self.data_keys = data_keys
        self.registry = registry
        self.status_lists = status_lists
        self.ca = ca
        self.consent = consent
        self.subjects = subjects
        self.policies = policies
        self.services = services
        self.types = types
        self.settings = settings
        self._type_by_vct = {t.vct: t.id for t in types.values()}
        self._verifiers: BoundedTTLCache[str, Verifier] = BoundedTTLCache(VERIFIER_CACHE_ENTRIES)
        self._queries = {service_id: derive_dcql(policy, types) for service_id, policy in policies.items()}
        self._parsed_queries = {service_id: parse_query(query) for service_id, query in self._queries.items()}
        self.base_url = settings.public_url

    def parsed_query(self, service_id: str) -> Any:
        """The service's DCQL query, parsed (derived from its policy: data minimisation by construction)."""
        return self._parsed_queries[service_id]

    def type_of_vct(self, vct: str) -> str | None:
        """The catalog's credential type id of a `vct`, or None."""
        return self._type_by_vct.get(vct)

    # -- verifiers ----------------------------------------------------------------------------------

    def default_dns_name(self) -> str:
        return urlsplit(self.settings.public_url).hostname or "localhost"

    def register(
        self,
        slug: str,
        name_ko: str,
        name_en: str,
        services: list[str],
        dns_name: str | None = None,
        redirect_uri: str | None = None,
    ) -> Verifier:
        """Register a verifier: its request-signing key, certified by the RP CA for its DNS name."""
        unknown = [s for s in services if s not in self.policies]
        if unknown:
            raise VerifierError("unknown_service", f"unknown services: {', '.join(unknown)}", status=422)
        if redirect_uri is not None:
            try:
                redirect_uri = check_client_url(redirect_uri, development=self.settings.development, resolve=False)
            except UnsafeURL as exc:
                raise VerifierError("unsafe_url", f"redirect_uri: {exc}", status=422) from None
        for field, value in (("name.ko", name_ko), ("name.en", name_en)):
            try:  # no newline, escape or bidirectional override: the consent screen shows this name
                check_display_name(value, field)
            except ValueError as exc:
                raise VerifierError("invalid_name", str(exc), status=422) from None
        dns_name = (dns_name or self.default_dns_name()).lower().rstrip(".")
        if dns_name != self.default_dns_name():
            try:  # the RP CA certifies this name: outside development never loopback, private or an IP
                check_client_url(f"https://{dns_name}/", development=self.settings.development, resolve=False)
            except UnsafeURL as exc:
                raise VerifierError("unsafe_dns_name", f"dns_name: {exc}", status=422) from None
        with Session(self.engine, expire_on_commit=False) as session:
            if session.get(Verifier, slug) is not None:
                raise VerifierError("verifier_exists", f"verifier {slug!r} is already registered", status=409)
            verifier = Verifier(
                slug=slug,
                name_ko=name_ko,
                name_en=name_en,
                services=json.dumps(sorted(set(services))),
                dns_name=dns_name,
                redirect_uri=redirect_uri,
                created_at=int(time.time()),
            )
            session.add(verifier)
            try:
                session.commit()
            except IntegrityError:
                raise VerifierError("verifier_exists", f"verifier {slug!r} is already registered", status=409) from None
            session.refresh(verifier)
        self.certify(verifier)
        return verifier

    def certify(self, verifier: Verifier) -> None:
        """(Re)issue the verifier's certificate for its current request-signing key."""
        key = self.keyring.active_key(verifier_owner(verifier.slug))
        self.ca.certify(verifier.slug, verifier.dns_name, verifier.name_en, key.private_key.public_key())

    def get(self, slug: str) -> Verifier:
        """A registered verifier. Its row never changes once registered (keys rotate in the keyring,
        certificates in the RP CA), so every request path reads it from a bounded cache."""
        verifier = self._verifiers.get(slug)
        if verifier is not None:
            return verifier
        with read_session(self.engine) as session:
            verifier = session.get(Verifier, slug)
        if verifier is None:  # an unknown slug is never cached: anyone can send one
            raise VerifierError("unknown_verifier", f"no verifier {slug!r}", status=404)
        self._verifiers.put(slug, verifier, time.monotonic() + VERIFIER_CACHE_SECONDS)
        return verifier

    def list(self) -> list[Verifier]:
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.exec(select(Verifier).order_by(Verifier.slug)))

    def client_id(self, verifier: Verifier) -> str:
        return f"x509_san_dns:{verifier.dns_name}"

    def response_uri(self, verifier: Verifier) -> str:
        # x509_san_dns: the response URI's host must be the certified DNS name (OpenID4VP 1.0 §5.9.3).
        base = urlsplit(self.settings.public_url)
        port = f":{base.port}" if base.port else ""
        return f"{base.scheme}://{verifier.dns_name}{port}/verifiers/{verifier.slug}/response"

    # -- requests -----------------------------------------------------------------------------------

    def create_request(
        self,
        slug: str,
        service_id: str,
        callback_url: str | None = None,
        client_id_prefix: str = "x509_san_dns",
        applicant: str | None = None,
    ) -> CreatedRequest:
        """A new check. `client_id_prefix` "redirect_uri" makes an unsigned request passed by value
        (OpenID4VP 1.0 §5.9.3), for development only: wallets cannot authenticate such a verifier.
        `applicant`, the pairwise subject of the citizen the service expects (from its sign-in),
        makes the check accept only that citizen's credentials."""
        verifier = self.get(slug)
        if applicant is not None and not PAIRWISE_SUBJECT.fullmatch(applicant):
            raise VerifierError(
                "invalid_applicant", "applicant is a pairwise subject: 43 base64url characters", status=422
            )
        if client_id_prefix not in ("x509_san_dns", "redirect_uri"):
            raise VerifierError(
                "unsupported_client_id_prefix", f"no client identifier prefix {client_id_prefix!r}", status=422
            )
        if client_id_prefix == "redirect_uri" and not self.settings.development:
            raise VerifierError(
                "unsigned_requests_not_allowed",
                "the redirect_uri: prefix (unsigned requests) is for development only",
                status=422,
            )
        if service_id not in json.loads(verifier.services):
            raise VerifierError(
                "service_not_operated", f"verifier {slug!r} does not operate service {service_id!r}", status=403
            )
        if callback_url is not None:
            try:
                callback_url = check_client_url(callback_url, development=self.settings.development)
            except UnsafeURL as exc:
                raise VerifierError("unsafe_url", f"callback_url: {exc}", status=422) from None
        now = int(time.time())
        request = PresentationRequest(
            id=random_identifier(),
            verifier=slug,
            service_id=service_id,
            policy_version=self.policies[service_id].version,
            client_id=(
                self.client_id(verifier)
                if client_id_prefix == "x509_san_dns"
                else f"redirect_uri:{self.response_uri(verifier)}"
            ),
            nonce=secrets.token_urlsafe(24),
            state=secrets.token_urlsafe(24),
            dcql_query=json.dumps(self._queries[service_id], ensure_ascii=False),
            created_at=now,
            expires_at=now + self.settings.request_ttl,
            callback_url=callback_url,
            applicant=applicant,
        )
        with self.engine.begin() as connection:  # Core, not an ORM unit of work: one statement
            connection.execute(_INSERT_REQUEST, request.model_dump())
        request_uri, link = self.link(request, verifier)
        return CreatedRequest(request.id, request.client_id, request_uri, link, request.expires_at)

    def link(self, request: PresentationRequest, verifier: Verifier) -> tuple[str | None, str]:
        """The request_uri (None when passed by value) and the openid4vp:// link for a wallet."""
        if request.client_id.startswith("redirect_uri:"):
            claims = self.request_claims(request, verifier)
            params = {k: v for k, v in claims.items() if k not in ("iss", "aud", "iat", "exp")}
            query = "&".join(
                f"{k}={quote(v if isinstance(v, str) else json.dumps(v, separators=(',', ':')), safe='')}"
                for k, v in params.items()
            )
            return None, f"openid4vp://?{query}"
        request_uri = f"{self.base_url}/verifiers/{verifier.slug}/requests/{request.id}/object"
        return request_uri, (
            f"openid4vp://?client_id={quote(request.client_id, safe='')}&request_uri={quote(request_uri, safe='')}"
        )

    def own_request(self, slug: str, request_id: str) -> PresentationRequest:
        """The verifier's own request (404 for anyone else's), read outside any session."""
        request = read_model(self.engine, PresentationRequest, REQUEST_BY_ID, {"id": request_id})
        if request is None or request.verifier != slug:
            raise VerifierError("unknown_request", "no such request", status=404)
        return request

    def request_object(self, slug: str, request_id: str) -> str:
        """The signed request object (JAR, `typ: oauth-authz-req+jwt`, x5c chain to the RP CA)."""
        verifier = self.get(slug)
        request = self.own_request(slug, request_id)
        if request.client_id.startswith("redirect_uri:"):
            raise VerifierError("unknown_request", "this request is passed by value, unsigned", status=404)
        if request.status != "pending" or time.time() >= request.expires_at:
            raise VerifierError("request_not_pending", "the request has expired or was answered", status=410)
        certificate = self.ca.latest_certificate(slug)
        active = self.keyring.active_key(verifier_owner(slug))
        if certificate is None or certificate.public_key() != active.private_key.public_key():
            self.certify(verifier)  # the verifier key was rotated: certify the new one first
            certificate = self.ca.latest_certificate(slug)
        assert certificate is not None
        x5c = [
            base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
            for cert in (certificate, self.ca.ca_certificate())
        ]
        claims = self.request_claims(request, verifier)
        return self.keyring.sign(verifier_owner(slug), claims, typ=REQUEST_OBJECT_TYP, headers={"x5c": x5c})

    def request_claims(self, request: PresentationRequest, verifier: Verifier) -> dict[str, Any]:
        # Deterministic for a request (iat is its creation time), so the consent notice can name
        # exactly what the wallet was shown by hashing these claims.
        return {
            "iss": request.client_id,
            "aud": "https://self-issued.me/v2",
            "client_id": request.client_id,
            "response_type": "vp_token",
            "response_mode": "direct_post",
            "response_uri": self.response_uri(verifier),
            "nonce": request.nonce,
            "state": request.state,
            "dcql_query": json.loads(request.dcql_query),
            "client_metadata": {"vp_formats_supported": {"dc+sd-jwt": VP_FORMAT_ALGORITHMS}},
            "iat": request.created_at,
            "exp": request.expires_at,
        }

    # -- the response endpoint -----------------------------------------------------------------------

    def handle_error_response(self, slug: str, state: str | None, error: str) -> None:
        """A wallet's error response (OpenID4VP 1.0 §8.5), e.g. `access_denied` when the citizen
        declines. It is recorded for the backend and never ends the check: `state` is in the request
        object anyone with the link can fetch, so a stranger could post it too; the check stays open
        until it expires or the citizen answers after all."""
        if not state:
            raise VerifierError("missing_state", "state is required")
        with Session(self.engine, expire_on_commit=False) as session:
            request = session.exec(select(PresentationRequest).where(PresentationRequest.state == state)).first()
        if request is None or request.verifier != slug:
            raise VerifierError("unknown_state", "no request with this state")
        if request.status != "pending":
            raise VerifierError("request_already_answered", "this request has already been answered")
        if time.time() >= request.expires_at:
            raise VerifierError("request_expired", "the request has expired")
        code = error if error.isascii() and error.replace("_", "").isalnum() and len(error) <= 64 else "invalid"
        reason = "access_denied" if code == "access_denied" else "wallet_error"
        self.refuse(request, VerifierError(reason, f"the wallet answered error={code}"))

    def refuse(self, request: PresentationRequest, error: VerifierError) -> VerifierError:
        """Record a refusal: the reason always; the end of the request only when `error.final`."""
        log.warning(
            "presentation refused",
            extra={"request_id": request.id, "verifier": request.verifier, "reason": error.reason},
        )
        changes: dict[str, Any] = {"failure_reason": error.reason, "failure_detail": neutral_text(error.detail)}
        if error.final:
            changes |= {"status": "rejected", "answered_at": int(time.time()), "eligible": False}
        with Session(self.engine, expire_on_commit=False) as session:
            # Only a pending request takes the refusal: a concurrent accepted answer is never overwritten.
            updated = session.execute(
                update(PresentationRequest)
                .where(PresentationRequest.id == request.id, PresentationRequest.status == "pending")
                .values(**changes)
            )
            session.commit()
        if error.final and updated.rowcount == 1:  # type: ignore[attr-defined]
            self._schedule_callback(request)  # once per request: only the response that ended it
        return error

    # -- results ------------------------------------------------------------------------------------

    def result(
        self, slug: str, request_id: str, response_code: str | None = None, *, backchannel: bool = False
    ) -> dict[str, Any]:
        """What the backend learns: status, the signed decision, and only the values it may have.

        A verifier with a `redirect_uri` (same-device flow) gets an answered request's result only
        with the `response_code` its front end received in the redirect (OpenID4VP §13.3), so a
        result cannot be taken into a session it was not answered in. `backchannel`: the callback
        to the backend's own URL, and the operator's CLI, which no browser session reaches."""
        # Outside a transaction: a read transaction ends in ROLLBACK, and on PostgreSQL psycopg then
        # drops every statement it had prepared on that connection (DEALLOCATE ALL, a round trip,
        # and each statement parsed and planned anew): once per presentation, from this route alone.
        request = self.own_request(slug, request_id)
        verifier = self.get(slug)  # registered: the request is this verifier's
        same_device = verifier.redirect_uri is not None
        if same_device and response_code is None and not backchannel and request.response_code_sha256 is not None:
            raise VerifierError(
                "response_code_required",
                "this verifier answers same-device checks: present the response_code from the redirect",
                status=403,
            )
        if response_code is not None and (
            request.response_code_sha256 is None
            or not secrets.compare_digest(
                hashlib.sha256(response_code.encode()).hexdigest(), request.response_code_sha256
            )
        ):
            raise VerifierError("unknown_request", "no such request", status=404)
        # While the ledger records the consent the answer is not decided yet: still pending, even
        # past the expiry (the checks passed in time; verifiers/acceptance.py completes it).
        status = "pending" if request.status == "accepting" else request.status
        if request.status == "pending" and time.time() >= request.expires_at:
            status = "expired"
        out: dict[str, Any] = {
            "request_id": request.id,
            "service_id": request.service_id,
            "status": status,
            "created_at": request.created_at,
            "expires_at": request.expires_at,
        }
        if request.status == "rejected":
            out["eligible"] = False
        if request.failure_reason is not None:
            # For a pending request: the last refused response (the wallet may still answer).
            out["failure"] = {"reason": request.failure_reason, "detail": request.failure_detail}
        if request.decision is not None:
            out["eligible"] = bool(request.eligible)
            out["subject"] = request.subject
            out["decision"] = request.decision
            out["consent_record_id"] = request.consent_record_id
        if request.values_encrypted is not None:
            plain = self.data_keys.decrypt(verifier_owner(slug), request.id, request.values_encrypted)
            out["values"] = json.loads(plain)
        return out

    def purge_retained_vp_tokens(self, now: int | None = None) -> int:
        """Drop every retained vp_token whose retention period is over; returns how many."""
        now = int(time.time()) if now is None else now
        with Session(self.engine, expire_on_commit=False) as session:
            result = session.execute(
                update(PresentationRequest)
                .where(
                    PresentationRequest.vp_token_purge_at.is_not(None),  # type: ignore[union-attr]
                    PresentationRequest.vp_token_purge_at <= now,  # type: ignore[operator]
                )
                .values(vp_token_encrypted=None, vp_token_purge_at=None)
            )
            session.commit()
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def retained_vp_token(self, slug: str, request_id: str) -> str | None:
        """The vp_token kept for the retention period (decrypted), or None."""
        request = self.own_request(slug, request_id)
        if request.vp_token_encrypted is None:
            return None
        owner = verifier_owner(slug)
        return self.data_keys.decrypt(owner, f"{request.id}/vp_token", request.vp_token_encrypted).decode()

    def verifier_of_request(self, request_id: str) -> str:
        """The verifier that made a request (for the operator's CLI)."""
        with Session(self.engine, expire_on_commit=False) as session:
            request = session.get(PresentationRequest, request_id)
        if request is None:
            raise VerifierError("unknown_request", "no such request", status=404)
        return request.verifier

    def _schedule_callback(self, request: PresentationRequest) -> None:
        if not request.callback_url:
            return
        now = int(time.time())
        with Session(self.engine, expire_on_commit=False) as session:
            session.add(
                CallbackDelivery(request_id=request.id, url=request.callback_url, next_attempt_at=now, created_at=now)
            )
            session.commit()

    def public_jwk_of_decisions(self) -> dict[str, Any]:
        return self.keyring.jwks(DECISIONS_OWNER)

    def signed_callback_body(self, request_id: str) -> str:
        """The callback body: a JWT by the decisions key over the request id and its result."""
        with Session(self.engine, expire_on_commit=False) as session:
            request = session.get(PresentationRequest, request_id)
        assert request is not None
        result = self.result(request.verifier, request_id, backchannel=True)
        result.pop("values", None)  # values are fetched with the backend's token, never pushed
        claims = {"iss": f"{self.base_url}/verifiers", "aud": request.client_id, "iat": int(time.time()), **result}
        return self.keyring.sign(DECISIONS_OWNER, claims, typ="eligibility-callback+jwt")

    def verify_decision(self, token: str) -> dict[str, Any]:
        """Check a decision JWT with the published decisions keys (for backends and tests)."""
        return jws.verify(token, self.keyring.resolver(DECISIONS_OWNER), typ=DECISION_TYP).payload
