"""Checking a direct_post response completely, before anything is written: every credential, its
issuer and status, the applicant, the DCQL query, the policy. The outcome is what the verifier will
decide once the ledger has the consent: the grant to record and the decision, still unsigned (it
names the consent record, which only the ledger's answer gives). No writes here, no ledger call."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from eligibility.policies import Evaluation, HeldCredential, Policy, evaluate
from keys import jws
from keys.jwk import thumbprint
from keys.subjects import SUBJECT_CLAIM
from outbound.status_lists import StatusCheckFailed
from vc import sd_jwt, sd_jwt_vc
from vc.canonical_json import canonical_json
from vc.dcql import DCQLError, OverDisclosure, check_presentation
from vc.sd_jwt import VerifiedSDJWT
from vc.status_list import StatusListError, status_reference
from verifiers.applicant import SubjectRefused, check_applicant, common_subject
from verifiers.consent_gateway import PresentationGrant
from verifiers.errors import VerifierError
from verifiers.models import PresentationRequest
from verifiers.trusted_issuers import IssuerKeysUnavailable, IssuerNotTrusted

if TYPE_CHECKING:
    from verifiers.service import VerifierService

SEOUL = ZoneInfo("Asia/Seoul")
ALGORITHMS = ["ES256", "EdDSA"]
# How long a backend may keep claim values it receives (needs_values). The catalog gives no
# per-service figure; a year covers an application round. Stated in each consent record.
VALUES_RETENTION_DAYS = 365


@dataclass(frozen=True, slots=True)
class CheckedPresentation:
    """A response that passed every check: what the verifier decides once the ledger records the grant."""

    request: PresentationRequest
    grant: PresentationGrant
    decision_claims: dict[str, Any]  # the decision JWT's claims but `iat` and `consent`
    eligible: bool
    subject: str  # the applicant's pairwise subject for this verifier
    kb_hashes: tuple[str, ...]  # the replay guard's keys
    values: dict[str, Any] = field(default_factory=dict)  # only what the policy declares it needs


def parse_vp_token(raw: str | None) -> dict[str, list[str]]:
    """The vp_token: a JSON object of credential query id -> presentations (OpenID4VP 1.0 §8.1)."""
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


def kb_jwt_hash(presentation: str) -> str:
    """The replay guard's key of one presentation: the SHA-256 of its KB-JWT."""
    return hashlib.sha256(presentation.rsplit("~", 1)[-1].encode()).hexdigest()


def evidence_sha256(kb_hashes: list[str] | tuple[str, ...]) -> str:
    """What the consent record keeps of a response: the hash of its KB-JWTs (the holder's acts)."""
    return hashlib.sha256("".join(sorted(kb_hashes)).encode()).hexdigest()


def evidence_of(raw: str | None) -> str | None:
    """The evidence hash of a posted vp_token without checking it (a retry is recognised by it);
    None when it is not even a vp_token."""
    try:
        token = parse_vp_token(raw)
    except VerifierError:  # not even a vp_token: not the same presentation
        return None
    return evidence_sha256([kb_jwt_hash(p) for presentations in token.values() for p in presentations])


class PresentationChecks:
    """The checks of a response for one VerifierService (its registry, status lists, policies)."""

    def __init__(self, service: VerifierService) -> None:
        self.service = service

    def check(self, request: PresentationRequest, vp_token_raw: str | None, now: int) -> CheckedPresentation:
        """Every check; raises VerifierError, `final` once a presentation's key binding verified."""
        bound: list[bool] = []  # one entry per presentation whose key binding to this request verified
        try:
            return self._checked(request, vp_token_raw, now, bound)
        except VerifierError as exc:
            exc.final = exc.final or bool(bound)
            raise

    def _verify_credential(self, presentation: str, request: PresentationRequest, now: int) -> VerifiedSDJWT:
        try:
            return sd_jwt_vc.verify_sd_jwt_vc(
                presentation,
                self.service.registry,
                require_key_binding=True,
                expected_aud=request.client_id,
                expected_nonce=request.nonce,
                now=now,
                iat_skew=self.service.settings.clock_skew,
                max_age=self.service.settings.kb_max_age,
                algorithms=ALGORITHMS,
            )
        except sd_jwt.SDJWTError as exc:
            cause = exc.__cause__
            if isinstance(cause, IssuerNotTrusted | IssuerKeysUnavailable):
                raise VerifierError(cause.reason, str(cause)) from None
            raise VerifierError(exc.reason, str(exc)) from None

    def _check_status(self, result: VerifiedSDJWT) -> dict[str, Any]:
        try:
            reference = status_reference(result.payload)
        except StatusListError as exc:
            raise VerifierError(exc.reason, f"the credential's status claim: {exc}") from None
        if reference is None:
            raise VerifierError("status_missing", "the credential carries no status list reference")
        index, uri = reference
        iss = result.payload["iss"]
        registry = self.service.registry

        def status_key(header: dict[str, Any], payload: dict[str, Any]) -> Any:
            kid = header.get("kid")
            return registry.resolve(iss, kid if isinstance(kid, str) else None)

        try:
            check = self.service.status_lists.check(uri, index, status_key)
        except StatusCheckFailed as exc:
            raise VerifierError(exc.reason, str(exc)) from None
        return {"iss": iss, "vct": result.payload["vct"], "status": "valid", "status_checked_at": check.list_fetched_at}

    def _checked(
        self, request: PresentationRequest, vp_token_raw: str | None, now: int, bound: list[bool]
    ) -> CheckedPresentation:
        service = self.service
        if request.policy_version != service.policies[request.service_id].version:
            # The rule changed after this request was made: deciding it under the new rule would
            # judge claims the citizen was asked for under the old one.
            raise VerifierError(
                "policy_changed", "the service's eligibility rule changed; start a new check", final=True
            )
        vp_token = parse_vp_token(vp_token_raw)
        query = service.parsed_query(request.service_id)
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
                kb_hashes.append(kb_jwt_hash(presentation))
        try:
            platform_id = common_subject([result for _, result in presented])
            subject = service.subjects.for_verifier(request.verifier, platform_id)
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
            if not service.registry.is_trusted_for(iss, vct):
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
                type_id = service.type_of_vct(result.payload["vct"])
                if type_id is None:
                    raise VerifierError("unknown_credential_type", f"no credential type {result.payload['vct']}")
                held.append(HeldCredential(type_id, result.claims))
        policy = service.policies[request.service_id]
        evaluation = evaluate(policy, held, dt.datetime.fromtimestamp(now, SEOUL).date())
        values = self._needed_values(policy, verified)

        holder_keys = tuple(dict.fromkeys("holder-key:" + thumbprint(r.payload["cnf"]["jwk"]) for _, r in presented))
        catalog_service = service.services[request.service_id]
        verifier = service.get(request.verifier)
        requested = {(h.type_id, claim) for h in held for claim in h.claims}
        # The verifier reads what its policy uses, and `sub` of every credential (the binding claim).
        read = (
            {(c.credential, c.claim) for c in policy.conditions()}
            | {(c.credential, name) for c in policy.conditions() for name, _ in c.where}
            | {(h.type_id, SUBJECT_CLAIM) for h in held}
        )
        notice = hashlib.sha256(canonical_json(service.request_claims(request, verifier))).hexdigest()
        grant = PresentationGrant(
            request_id=request.id,
            verifier=request.verifier,
            verifier_name_ko=verifier.name_ko,
            verifier_name_en=verifier.name_en,
            client_id=request.client_id,
            service_id=request.service_id,
            service_name_ko=catalog_service.name["ko"],
            service_name_en=catalog_service.name["en"],
            purpose=catalog_service.purpose,
            # The data items are what the verifier reads: presented claims its policy uses.
            data_items=tuple(sorted(requested & read)),
            values_shared=bool(values),
            retention_days=VALUES_RETENTION_DAYS if values else 0,
            subject=platform_id,
            holder_keys=holder_keys,
            evidence_sha256=evidence_sha256(kb_hashes),
            notice_sha256=notice,
            notice_version=policy.version,
        )
        return CheckedPresentation(
            request=request,
            grant=grant,
            decision_claims=self._decision_claims(request, evaluation, evidence, values, subject),
            eligible=evaluation.eligible,
            subject=subject,
            kb_hashes=tuple(kb_hashes),
            values=values,
        )

    def _needed_values(self, policy: Policy, verified: Mapping[str, list[VerifiedSDJWT]]) -> dict[str, Any]:
        """Claim values the service's policy declares it needs; nothing else leaves this function."""
        values: dict[str, Any] = {}
        for results in verified.values():
            for result in results:
                type_id = self.service.type_of_vct(result.payload["vct"])
                for needed_type, claim in policy.needs_values:
                    if needed_type == type_id and claim in result.claims:
                        values[f"{type_id}.{claim}"] = result.claims[claim]
        return values

    def _decision_claims(
        self,
        request: PresentationRequest,
        evaluation: Evaluation,
        evidence: list[dict[str, Any]],
        values: dict[str, Any],
        subject: str,
    ) -> dict[str, Any]:
        """The decision's claims but `iat` and `consent`, added when it is signed (verifiers/acceptance.py)."""
        claims: dict[str, Any] = {
            "iss": f"{self.service.base_url}/verifiers",
            "aud": request.client_id,
            "jti": request.id,
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
        }
        if values:
            # Only a digest: the decision is stored and pushed in the clear, the values are not.
            # The backend fetches them (encrypted at rest) and checks them against this digest.
            claims["values_sha256"] = hashlib.sha256(canonical_json(values)).hexdigest()
        return claims
