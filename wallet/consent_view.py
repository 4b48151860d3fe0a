"""What the citizen is shown before sharing (PIPA art. 17②, EU ARF RPA_06/10, OpenID4VP §14): who
asks and whether that is verified, the full client identifier, why, exactly which claims from which
credential with each value, whether the service receives the values or only a yes/no, how long it
keeps them, how long the consent is valid, and that refusing is allowed and what it means.

Matching is DCQL's (`vc.dcql.match`, honouring `credential_sets` and `claim_sets`) over the
citizen's usable credentials; where several credentials answer one credential query, all of them
are listed so she chooses. Display names come from each credential's issuer metadata (stored with
it in the vault), values from the credential itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from cryptography.x509.oid import NameOID

import catalog
from keys.subjects import SUBJECT_CLAIM
from vc.dcql import DCQLQuery, match
from vc.sd_jwt import ClaimPath, resolve_path
from wallet.recipients import LocalizedText, Recipient
from wallet.request_objects import AuthorizationRequest, subject_attribute
from wallet.vault import OpenedCredential

BINDING_CLAIM_NAME: LocalizedText = {
    "ko": "나를 가리키는 번호 (가명, 제출하는 증명서가 모두 내 것임을 보여 줌)",
    "en": "Who you are (a pseudonymous number showing every credential shared is yours)",
}
REFUSAL_NOTE: LocalizedText = {
    "ko": "거부해도 됩니다. 거부하면 아무 정보도 보내지 않으며, 요청한 곳에는 거부했다는 사실만 전달됩니다.",
    "en": "You may refuse. If you do, nothing about you is sent; the requester is only told that you declined.",
}
NOTHING_SENT_NOTE: LocalizedText = {
    "ko": "이 요청에 필요한 증명서가 없어 아무것도 보내지 않습니다.",
    "en": "You do not hold every credential this request needs, so nothing will be sent.",
}
UNVERIFIED_NOTE: LocalizedText = {
    "ko": "요청한 곳이 누구인지 확인할 수 없습니다 (서명되지 않은 개발용 요청).",
    "en": "The wallet could not verify who is asking (an unsigned development request).",
}


def localized(text: LocalizedText, language: str) -> str:
    """The text in `language`, else English, else any."""
    return text.get(language) or text.get("en") or next(iter(text.values()), "")


# -- the view model -------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifierView:
    client_id: str  # shown in full, prefix included
    client_id_prefix: str
    name: LocalizedText
    verified: bool  # the request was signed under a certificate chaining to a trusted authority
    verified_by: str | None  # that authority's name
    platform_verifier: bool  # one of the platform's own verifiers
    response_host: str  # where the answer goes


@dataclass(frozen=True)
class ServiceView:
    id: str
    name: LocalizedText


@dataclass(frozen=True)
class ClaimView:
    path: ClaimPath
    name: LocalizedText
    value: Any
    binding: bool  # `sub`: who you are, tying every credential shared to one person
    value_reaches_service: bool | None  # False: the service learns only a yes/no; None: not known


@dataclass(frozen=True)
class CandidateView:
    """One held credential that answers a credential query, and exactly what it would disclose."""

    credential_id: str
    configuration_id: str  # the issuer's name for the credential type (e.g. resident_registration)
    credential_name: LocalizedText
    issuer_name: LocalizedText
    claims: tuple[ClaimView, ...]
    # Claims the issuer made always visible (issuer, type, dates, status reference, holder key):
    # every presentation of this credential shows them.
    always_visible: tuple[str, ...]


@dataclass(frozen=True)
class CredentialRequestView:
    query_id: str
    name: LocalizedText
    candidates: tuple[CandidateView, ...]  # several: the citizen chooses; the first is the default
    multiple: bool  # the verifier accepts several credentials for this query
    optional: bool  # asked for by an optional credential set: sent only if the citizen adds it


@dataclass(frozen=True)
class MissingCredential:
    query_ids: tuple[str, ...]
    names: tuple[LocalizedText, ...]
    alternatives: bool  # any one of them would do


@dataclass(frozen=True)
class ConsentView:
    verifier: VerifierView
    service: ServiceView | None
    purpose: LocalizedText | None  # None: the verifier does not say
    legal_basis: str | None
    credentials: tuple[CredentialRequestView, ...]
    missing: tuple[MissingCredential, ...]
    can_share: bool
    disclosure: Literal["values", "predicate_only"]  # what the service ends up with
    retention_days: int | None  # None: the verifier does not say
    consent_validity: dt.timedelta
    one_time: bool
    request_expires_at: int | None
    notice_sha256: str
    notes: tuple[LocalizedText, ...]


# -- display metadata -----------------------------------------------------------------------------


def _names(value: Any) -> dict[str, str]:
    """A `{locale: text}` map as wallet/receive.py stores it (`issuer_metadata.credential_display`);
    anything else names nothing."""
    if not isinstance(value, Mapping):
        return {}
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str) and v}


def _part_name(display: Mapping[str, Any], part: str) -> dict[str, str]:
    entry = display.get(part)
    return _names(entry.get("name")) if isinstance(entry, Mapping) else {}


def _claim_names(display: Mapping[str, Any]) -> dict[ClaimPath, dict[str, str]]:
    claims = display.get("claims")
    names: dict[ClaimPath, dict[str, str]] = {}
    for claim in claims if isinstance(claims, list) else ():
        if isinstance(claim, Mapping) and isinstance(claim.get("path"), list):
            names[tuple(claim["path"])] = _names(claim.get("name"))
    return names


def _type_name(vct: str | None) -> LocalizedText | None:
    for credential_type in catalog.credential_types().values():
        if credential_type.vct == vct:
            return dict(credential_type.name)
    return None


def _claim_name(names: Mapping[ClaimPath, dict[str, str]], path: ClaimPath) -> LocalizedText:
    # Metadata names paths with `null` for "every element"; a concrete index falls back to it.
    generic = tuple(None if isinstance(p, int) else p for p in path)
    return names.get(path) or names.get(generic) or {"und": ".".join(str(p) for p in path)}


def _candidate_view(credential: OpenedCredential, disclose: Sequence[ClaimPath], recipient: Recipient) -> CandidateView:
    display = credential.stored.display
    names = _claim_names(display)
    vct = credential.stored.vct
    claims = []
    for path in disclose:
        hits = resolve_path(credential.claims, path)
        binding = path == (SUBJECT_CLAIM,)
        reaches = None
        if recipient.values_reach_service is not None and isinstance(path[0], str):
            reaches = (vct, path[0]) in recipient.values_reach_service
        claims.append(
            ClaimView(
                path=path,
                name=BINDING_CLAIM_NAME if binding else _claim_name(names, path),
                value=hits[0][1] if hits else None,
                binding=binding,
                value_reaches_service=reaches,
            )
        )
    credential_name = _part_name(display, "credential") or _type_name(vct) or {"und": vct}
    issuer_name = _part_name(display, "issuer") or {"und": credential.stored.issuer}
    visible = tuple(sorted(k for k in credential.parsed.payload if k not in ("_sd", "_sd_alg")))
    return CandidateView(
        credential.stored.id, credential.stored.configuration_id, credential_name, issuer_name, tuple(claims), visible
    )


# -- matching ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    credential: OpenedCredential
    disclose: tuple[ClaimPath, ...]


def candidates_by_query(dcql_query: Mapping[str, Any], held: Sequence[OpenedCredential]) -> dict[str, list[Candidate]]:
    """Every held credential that answers each credential query (not only the first, as `match`
    picks for `multiple: false`), with the claim paths it would disclose."""
    out: dict[str, list[Candidate]] = {}
    for raw in dcql_query["credentials"]:
        single = {"credentials": [raw]}
        found = []
        for credential in held:
            result = match(single, [credential.parsed])
            if result:
                found.append(Candidate(credential, result[raw["id"]][0].disclose))
        out[raw["id"]] = found
    return out


def _query_name(query: DCQLQuery, query_id: str) -> LocalizedText:
    vcts = query.credential(query_id).vct_values or ()
    return next((n for n in map(_type_name, vcts) if n), None) or {"und": vcts[0] if vcts else query_id}


def _missing(query: DCQLQuery, candidates: Mapping[str, list[Candidate]]) -> list[MissingCredential]:
    def missing(ids: Sequence[str], alternatives: bool) -> MissingCredential:
        return MissingCredential(tuple(ids), tuple(_query_name(query, i) for i in ids), alternatives)

    if query.credential_sets is None:
        return [missing([i], False) for i, found in candidates.items() if not found]
    out = []
    for credential_set in query.credential_sets:
        if credential_set.required and not any(all(candidates[i] for i in o) for o in credential_set.options):
            ids = list(dict.fromkeys(i for o in credential_set.options for i in o if not candidates[i]))
            out.append(missing(ids, len(credential_set.options) > 1))
    return out


def _optional_queries(query: DCQLQuery, chosen: Sequence[str]) -> set[str]:
    """Chosen queries that only optional credential sets (`required: false`) ask for: sent only
    if the citizen adds them, never by default."""
    if query.credential_sets is None:
        return set()
    required = {i for s in query.credential_sets if s.required for o in s.options for i in o}
    return {i for i in chosen if i not in required}


def build_view(
    request: AuthorizationRequest,
    recipient: Recipient,
    held: Sequence[OpenedCredential],
    consent_validity: dt.timedelta,
) -> ConsentView:
    """The consent view of `request` over the credentials the citizen holds (usable ones only)."""
    candidates = candidates_by_query(request.dcql_query, held)
    matched = match(request.query, [c.parsed for c in held])  # honours credential_sets and claim_sets
    if matched is None:
        shown_ids = [i for i, found in candidates.items() if found]
        missing = _missing(request.query, candidates)
    else:
        shown_ids, missing = list(matched), []
    optional = _optional_queries(request.query, shown_ids)
    credentials = []
    for query_id in shown_ids:
        views = tuple(_candidate_view(c.credential, c.disclose, recipient) for c in candidates[query_id])
        credentials.append(
            CredentialRequestView(
                query_id=query_id,
                name=views[0].credential_name if views else _query_name(request.query, query_id),
                candidates=views,
                multiple=request.query.credential(query_id).multiple,
                optional=query_id in optional,
            )
        )
    anchor = request.anchor
    verifier = VerifierView(
        client_id=request.client_id,
        client_id_prefix=request.prefix,
        name=recipient.name,
        verified=request.signed,
        verified_by=(
            (subject_attribute(anchor, NameOID.COMMON_NAME) or anchor.subject.rfc4514_string()) if anchor else None
        ),
        platform_verifier=recipient.platform_slug is not None,
        response_host=request.response_host,
    )
    notes = [REFUSAL_NOTE]
    if not request.signed:
        notes.insert(0, UNVERIFIED_NOTE)
    if matched is None:
        notes.append(NOTHING_SENT_NOTE)
    return ConsentView(
        verifier=verifier,
        service=ServiceView(recipient.service.id, recipient.service.name) if recipient.service else None,
        purpose=recipient.purpose,
        legal_basis=recipient.legal_basis,
        credentials=tuple(credentials),
        missing=tuple(missing),
        can_share=matched is not None,
        disclosure="predicate_only" if recipient.values_reach_service == frozenset() else "values",
        retention_days=recipient.retention_days,
        consent_validity=consent_validity,
        one_time=True,
        request_expires_at=request.expires_at,
        notice_sha256=request.notice_sha256,
        notes=tuple(notes),
    )
