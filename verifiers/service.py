"""The verifier party's domain logic: registering verifiers, creating OpenID4VP requests, checking
responses completely, and signing decisions. No HTTP here; api.py maps errors to responses."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import rfc8785
from cryptography.hazmat.primitives import serialization
from sqlalchemy import insert, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from catalog import CredentialType, Service
from eligibility.dcql import derive_dcql
from eligibility.policies import Evaluation, HeldCredential, Policy, evaluate
from keys import jws
from keys.datakeys import DataKeyStore
from keys.identifiers import random_identifier
from keys.jwk import thumbprint
from keys.keyring import KeyRing
from keys.subjects import PAIRWISE_SUBJECT, SUBJECT_CLAIM, PairwiseSubjects
from outbound.status_lists import StatusCheckFailed, StatusListClient
from outbound.urls import UnsafeURL, check_client_url
from vc import sd_jwt, sd_jwt_vc
from vc.dcql import DCQLError, OverDisclosure, check_presentation, parse_query
from vc.sd_jwt import VerifiedSDJWT
from vc.status_list import StatusListError, status_reference
from verifiers.applicant import SubjectRefused, check_applicant, common_subject
from verifiers.consent_gateway import ConsentGateway, ConsentRefused, ConsentUnavailable, PresentationGrant
from verifiers.models import AcceptedPresentation, CallbackDelivery, PresentationRequest, Verifier
from verifiers.rp_ca import RelyingPartyCA
from verifiers.texts import neutral_text
from verifiers.trusted_issuers import IssuerKeysUnavailable, IssuerNotTrusted, TrustedIssuerRegistry

_REQUESTS = PresentationRequest.__table__
_ACCEPTED = AcceptedPresentation.__table__

log = logging.getLogger("seoul_wallet.verifiers")

DECISIONS_OWNER = "verifiers"  # the verifier platform key that signs decisions
# How long a backend may keep claim values it receives (needs_values). The catalog gives no
# per-service figure; a year covers an application round. Stated in each consent record.
VALUES_RETENTION_DAYS = 365
REQUEST_OBJECT_TYP = "oauth-authz-req+jwt"
DECISION_TYP = "eligibility-decision+jwt"
SEOUL = ZoneInfo("Asia/Seoul")
ALGORITHMS = ["ES256", "EdDSA"]
VP_FORMAT_ALGORITHMS = {"sd-jwt_alg_values": ALGORITHMS, "kb-jwt_alg_values": ALGORITHMS}


def verifier_owner(slug: str) -> str:
    return f"verifier:{slug}"


class VerifierError(Exception):
    """A refused operation. `reason` is logged and recorded; `error` is the protocol's error code."""

    def __init__(
        self, reason: str, detail: str, *, status: int = 400, error: str = "invalid_request", final: bool = False
    ) -> None:
        super().__init__(detail)
        self.reason, self.detail, self.status, self.error = reason, detail, status, error
        # Final: the holder demonstrably answered this request (a KB-JWT over its nonce verified),
        # so the refusal ends the request. Otherwise anyone who saw the QR code could end it.
        self.final = final


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
        self._queries = {service_id: derive_dcql(policy, types) for service_id, policy in policies.items()}
        self._parsed_queries = {service_id: parse_query(query) for service_id, query in self._queries.items()}
        self.base_url = settings.public_url

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
        dns_name = (dns_name or self.default_dns_name()).lower().rstrip(".")
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
        with Session(self.engine, expire_on_commit=False) as session:
            verifier = session.get(Verifier, slug)
        if verifier is None:
            raise VerifierError("unknown_verifier", f"no verifier {slug!r}", status=404)
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
        with Session(self.engine, expire_on_commit=False) as session:
            session.add(request)
            session.commit()
        request_uri, link = self.link(request, verifier)
        return CreatedRequest(request.id, request.client_id, request_uri, link, request.expires_at)

    def link(self, request: PresentationRequest, verifier: Verifier) -> tuple[str | None, str]:
        """The request_uri (None when passed by value) and the openid4vp:// link for a wallet."""
        if request.client_id.startswith("redirect_uri:"):
            claims = self._request_claims(request, verifier)
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

    def _request(self, session: Session, slug: str, request_id: str) -> PresentationRequest:
        request = session.get(PresentationRequest, request_id)
        if request is None or request.verifier != slug:
            raise VerifierError("unknown_request", "no such request", status=404)
        return request

    def pending_request(self, slug: str, request_id: str) -> PresentationRequest:
        """The verifier's own request (404 for anyone else's)."""
        with Session(self.engine, expire_on_commit=False) as session:
            return self._request(session, slug, request_id)

    def request_object(self, slug: str, request_id: str) -> str:
        """The signed request object (JAR, `typ: oauth-authz-req+jwt`, x5c chain to the RP CA)."""
        verifier = self.get(slug)
        with Session(self.engine, expire_on_commit=False) as session:
            request = self._request(session, slug, request_id)
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
        claims = self._request_claims(request, verifier)
        return self.keyring.sign(verifier_owner(slug), claims, typ=REQUEST_OBJECT_TYP, headers={"x5c": x5c})

    def _request_claims(self, request: PresentationRequest, verifier: Verifier) -> dict[str, Any]:
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

    def handle_response(self, slug: str, vp_token_raw: str | None, state: str | None) -> ResponseOutcome:
        """Check a direct_post response completely. Every refusal is recorded on the request and logged
        with its reason; nothing is ever decided "eligible" unless every check passed."""
        if not state:
            raise VerifierError("missing_state", "state is required")
        with Session(self.engine, expire_on_commit=False) as session:
            request = session.exec(select(PresentationRequest).where(PresentationRequest.state == state)).first()
        if request is None or request.verifier != slug:
            raise VerifierError("unknown_state", "no request with this state")
        now = int(time.time())
        if request.status != "pending":
            raise VerifierError("request_already_answered", "this request has already been answered")
        if now >= request.expires_at:
            raise self._refuse(request, VerifierError("request_expired", "the request has expired", final=True))
        try:
            return self._accept(request, vp_token_raw, now)
        except VerifierError as exc:
            if exc.status >= 500:
                # Our side failed (the ledger was unreachable): the wallet may retry the same response.
                log.warning("presentation deferred", extra={"request_id": request.id, "reason": exc.reason})
                raise
            raise self._refuse(request, exc) from None

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
        self._refuse(request, VerifierError(reason, f"the wallet answered error={code}"))

    def _refuse(self, request: PresentationRequest, error: VerifierError) -> VerifierError:
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

    def _parse_vp_token(self, raw: str | None) -> dict[str, list[str]]:
        if not raw:
            raise VerifierError("missing_vp_token", "vp_token is required")
        try:
            token = jws.decode_json(raw)
        except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser allows
            raise VerifierError("malformed_vp_token", "vp_token must be a JSON object") from None
        if not isinstance(token, dict) or not token:
            raise VerifierError("malformed_vp_token", "vp_token must be a non-empty JSON object")
        for key, value in token.items():
            if not isinstance(value, list) or not value or not all(isinstance(p, str) for p in value):
                raise VerifierError("malformed_vp_token", f"vp_token[{key!r}] must be an array of presentations")
        return token

    def _verify_credential(self, presentation: str, request: PresentationRequest, now: int) -> VerifiedSDJWT:
        try:
            result = sd_jwt_vc.verify_sd_jwt_vc(
                presentation,
                self.registry,
                require_key_binding=True,
                expected_aud=request.client_id,
                expected_nonce=request.nonce,
                now=now,
                iat_skew=self.settings.clock_skew,
                max_age=self.settings.kb_max_age,
                algorithms=ALGORITHMS,
            )
        except sd_jwt.SDJWTError as exc:
            cause = exc.__cause__
            if isinstance(cause, IssuerNotTrusted | IssuerKeysUnavailable):
                raise VerifierError(cause.reason, str(cause)) from None
            raise VerifierError(exc.reason, str(exc)) from None
        return result

    def _check_status(self, result: VerifiedSDJWT) -> dict[str, Any]:
        try:
            reference = status_reference(result.payload)
        except StatusListError as exc:
            raise VerifierError(exc.reason, f"the credential's status claim: {exc}") from None
        if reference is None:
            raise VerifierError("status_missing", "the credential carries no status list reference")
        index, uri = reference
        iss = result.payload["iss"]

        def status_key(header: dict[str, Any], payload: dict[str, Any]) -> Any:
            kid = header.get("kid")
            return self.registry.resolve(iss, kid if isinstance(kid, str) else None)

        try:
            check = self.status_lists.check(uri, index, status_key)
        except StatusCheckFailed as exc:
            raise VerifierError(exc.reason, str(exc)) from None
        return {"iss": iss, "vct": result.payload["vct"], "status": "valid", "status_checked_at": check.list_fetched_at}

    def _accept(self, request: PresentationRequest, vp_token_raw: str | None, now: int) -> ResponseOutcome:
        bound: list[bool] = []  # one entry per presentation whose key binding to this request verified
        try:
            return self._accept_checked(request, vp_token_raw, now, bound)
        except VerifierError as exc:
            exc.final = exc.final or bool(bound)
            raise

    def _accept_checked(
        self, request: PresentationRequest, vp_token_raw: str | None, now: int, bound: list[bool]
    ) -> ResponseOutcome:
        if request.policy_version != self.policies[request.service_id].version:
            # The rule changed after this request was made: deciding it under the new rule would
            # judge claims the citizen was asked for under the old one.
            raise VerifierError(
                "policy_changed", "the service's eligibility rule changed; start a new check", final=True
            )
        vp_token = self._parse_vp_token(vp_token_raw)
        query = self._parsed_queries[request.service_id]
        known = {c.id for c in query.credentials}
        extra = sorted(set(vp_token) - known)
        if extra:
            raise VerifierError("unrequested_credential", f"vp_token holds credentials not asked for: {extra}")
        presented: list[tuple[str, VerifiedSDJWT]] = []
        kb_hashes: list[str] = []
        for query_id, presentations in vp_token.items():
            for presentation in presentations:
                result = self._verify_credential(presentation, request, now)
                if request.applicant is None:
                    bound.append(True)  # anyone may answer a check made for no one in particular
                presented.append((query_id, result))
                kb_hashes.append(hashlib.sha256(presentation.rsplit("~", 1)[1].encode()).hexdigest())
        try:
            platform_id = common_subject([result for _, result in presented])
            subject = self.subjects.for_verifier(request.verifier, platform_id)
            check_applicant(subject, request.applicant)
        except SubjectRefused as exc:
            # For a check made for an applicant, only the applicant's own answer ends it: a
            # stranger's credentials, or a mix of people's, leave it open for her.
            raise VerifierError(exc.reason, exc.detail) from None
        bound.append(True)
        verified: dict[str, list[VerifiedSDJWT]] = {}
        evidence: list[dict[str, Any]] = []
        for query_id, result in presented:
            iss, vct = result.payload["iss"], result.payload["vct"]
            if not self.registry.is_trusted_for(iss, vct):
                raise VerifierError("issuer_not_trusted_for_vct", f"{iss} is not trusted to issue {vct}")
            evidence.append({"query_id": query_id, **self._check_status(result)})
            verified.setdefault(query_id, []).append(result)
        try:
            check_presentation(query, verified)
        except OverDisclosure as exc:
            raise VerifierError(exc.reason, str(exc)) from None
        except DCQLError as exc:
            raise VerifierError("presentation_does_not_match_query", str(exc)) from None

        held = []
        for results in verified.values():
            for result in results:
                type_id = self._type_by_vct.get(result.payload["vct"])
                if type_id is None:
                    raise VerifierError("unknown_credential_type", f"no credential type {result.payload['vct']}")
                held.append(HeldCredential(type_id, result.claims))
        policy = self.policies[request.service_id]
        evaluation = evaluate(policy, held, dt.datetime.fromtimestamp(now, SEOUL).date())
        values = self._needed_values(policy, verified)

        holder_keys = tuple(dict.fromkeys("holder-key:" + thumbprint(r.payload["cnf"]["jwk"]) for _, r in presented))
        service = self.services[request.service_id]
        verifier = self.get(request.verifier)
        requested = {(h.type_id, claim) for h in held for claim in h.claims}
        # The verifier reads what its policy uses, and `sub` of every credential (the binding claim).
        read = (
            {(c.credential, c.claim) for c in policy.conditions()}
            | {(c.credential, name) for c in policy.conditions() for name, _ in c.where}
            | {(h.type_id, SUBJECT_CLAIM) for h in held}
        )
        notice = hashlib.sha256(rfc8785.dumps(self._request_claims(request, verifier))).hexdigest()
        grant = PresentationGrant(
            request_id=request.id,
            verifier=request.verifier,
            verifier_name_ko=verifier.name_ko,
            verifier_name_en=verifier.name_en,
            client_id=request.client_id,
            service_id=request.service_id,
            service_name_ko=service.name["ko"],
            service_name_en=service.name["en"],
            purpose=service.purpose,
            # The data items are what the verifier reads: presented claims its policy uses.
            data_items=tuple(sorted(requested & read)),
            values_shared=bool(values),
            retention_days=VALUES_RETENTION_DAYS if values else 0,
            subject=platform_id,
            holder_keys=holder_keys,
            evidence_sha256=hashlib.sha256("".join(sorted(kb_hashes)).encode()).hexdigest(),
            notice_sha256=notice,
            notice_version=policy.version,
        )
        try:
            record = self.consent.record_presentation_grant(grant)
        except ConsentRefused as exc:
            raise VerifierError(exc.reason, str(exc)) from None
        except ConsentUnavailable as exc:
            raise VerifierError("consent_unavailable", str(exc), status=503, error="temporarily_unavailable") from None

        decision = self._sign_decision(request, evaluation, evidence, record.record_id, record.receipt, values, subject)
        # OpenID4VP §13.3: a fresh, unguessable code only the redirected front end learns; the
        # backend presents it when fetching the result, so a fixated session cannot take it.
        response_code = secrets.token_urlsafe(32)
        changes: dict[str, Any] = {
            "response_code_sha256": hashlib.sha256(response_code.encode()).hexdigest(),
            "status": "answered",
            "answered_at": now,
            "subject": subject,
            "decision": decision,
            "eligible": evaluation.eligible,
            "consent_record_id": record.record_id,
        }
        if values:
            owner = verifier_owner(request.verifier)
            changes["values_encrypted"] = self.data_keys.encrypt(owner, request.id, json.dumps(values).encode())
        if self.settings.vp_token_retention > 0:
            owner = verifier_owner(request.verifier)
            changes["vp_token_encrypted"] = self.data_keys.encrypt(
                owner, f"{request.id}/vp_token", (vp_token_raw or "").encode()
            )
            changes["vp_token_purge_at"] = now + self.settings.vp_token_retention
        # Everything computed, now the writes, as Core statements in one short transaction: the
        # conditional answer first (a concurrent post of this response finds it answered), then
        # the replay guard, whose unique key refuses these KB-JWTs anywhere else.
        try:
            with self.engine.begin() as connection:
                updated = connection.execute(
                    update(_REQUESTS)
                    .where(_REQUESTS.c.id == request.id, _REQUESTS.c.status == "pending")
                    .values(changes)
                )
                if updated.rowcount != 1:
                    raise VerifierError("request_already_answered", "this request has already been answered")
                connection.execute(
                    insert(_ACCEPTED),
                    [{"kb_jwt_hash": h, "request_id": request.id, "accepted_at": now} for h in kb_hashes],
                )
        except IntegrityError:
            raise VerifierError("presentation_replayed", "this presentation was already accepted") from None
        log.info(
            "presentation accepted",
            extra={"request_id": request.id, "verifier": request.verifier, "eligible": evaluation.eligible},
        )
        self._schedule_callback(request)
        redirect = None
        if verifier.redirect_uri:
            redirect = f"{verifier.redirect_uri}#response_code={response_code}"
        return ResponseOutcome(request_id=request.id, redirect_uri=redirect)

    def _needed_values(self, policy: Policy, verified: Mapping[str, list[VerifiedSDJWT]]) -> dict[str, Any]:
        """Claim values the service's policy declares it needs; nothing else leaves this function."""
        values: dict[str, Any] = {}
        for results in verified.values():
            for result in results:
                type_id = self._type_by_vct.get(result.payload["vct"])
                for needed_type, claim in policy.needs_values:
                    if needed_type == type_id and claim in result.claims:
                        values[f"{type_id}.{claim}"] = result.claims[claim]
        return values

    def _sign_decision(
        self,
        request: PresentationRequest,
        evaluation: Evaluation,
        evidence: list[dict[str, Any]],
        consent_record_id: str,
        receipt: str,
        values: dict[str, Any],
        subject: str,
    ) -> str:
        now = int(time.time())
        claims = {
            "iss": f"{self.base_url}/verifiers",
            "aud": request.client_id,
            "jti": request.id,
            "iat": now,
            "request_id": request.id,
            "verifier": request.verifier,
            "service_id": request.service_id,
            # The applicant's pairwise subject for this verifier (never the platform id itself):
            # the `sub` this service's sign-in gives the same citizen.
            "subject": subject,
            "applicant_bound": request.applicant is not None,  # only that applicant could answer
            "policy": {"id": evaluation.policy_id, "version": evaluation.policy_version},
            "reference_date": evaluation.reference_date.isoformat(),
            "eligible": evaluation.eligible,
            "outcome": evaluation.outcome.value,
            "conditions": [
                {
                    "path": c.path,
                    "credential": c.credential,
                    "claim": c.claim,
                    "op": c.op,
                    "negated": c.negated,
                    "outcome": c.outcome.value,
                    **({"reason": c.reason} if c.reason else {}),
                }
                for c in evaluation.conditions
            ],
            "evidence": evidence,
            "consent": {"record_id": consent_record_id, "receipt": receipt},
        }
        if values:
            # Only a digest: the decision is stored and pushed in the clear, the values are not.
            # The backend fetches them (encrypted at rest) and checks them against this digest.
            claims["values_sha256"] = hashlib.sha256(rfc8785.dumps(values)).hexdigest()
        return self.keyring.sign(DECISIONS_OWNER, claims, typ=DECISION_TYP)

    # -- results ------------------------------------------------------------------------------------

    def result(
        self, slug: str, request_id: str, response_code: str | None = None, *, backchannel: bool = False
    ) -> dict[str, Any]:
        """What the backend learns: status, the signed decision, and only the values it may have.

        A verifier with a `redirect_uri` (same-device flow) gets an answered request's result only
        with the `response_code` its front end received in the redirect (OpenID4VP §13.3), so a
        result cannot be taken into a session it was not answered in. `backchannel`: the callback
        to the backend's own URL, and the operator's CLI, which no browser session reaches."""
        with Session(self.engine, expire_on_commit=False) as session:
            request = self._request(session, slug, request_id)
            verifier = session.get(Verifier, slug)
        same_device = verifier is not None and verifier.redirect_uri is not None
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
        status = request.status
        if status == "pending" and time.time() >= request.expires_at:
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
        with Session(self.engine, expire_on_commit=False) as session:
            request = self._request(session, slug, request_id)
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
