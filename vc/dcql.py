"""Digital Credentials Query Language (DCQL), OpenID4VP 1.0 §6, for SD-JWT VCs (`dc+sd-jwt`).

`parse_query` validates a query; `match` is the wallet side (which held credentials, which claims
to disclose); `check_presentation` is the verifier side (does a verified `vp_token` satisfy the
query). Claims path pointers (§7): strings select object keys, `None` all array elements,
non-negative integers one array element.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from keys import jws
from vc.sd_jwt import SDJWT, ClaimPath, ClaimPathTypeError, VerifiedSDJWT, resolve_path

SD_JWT_VC_FORMAT = "dc+sd-jwt"
_ID = re.compile(r"^[A-Za-z0-9_-]+$")


class DCQLError(ValueError):
    """Base class for DCQL failures."""

    reason = "invalid_dcql"


class InvalidQuery(DCQLError):
    reason = "invalid_query"


class PresentationMismatch(DCQLError):
    """A vp_token does not satisfy the query it answers."""

    reason = "presentation_mismatch"


class OverDisclosure(PresentationMismatch):
    """A presentation discloses a claim its credential query did not ask for: the verifier must
    never receive, or decide on, what it did not ask for."""

    reason = "over_disclosure"


@dataclass(frozen=True, slots=True)
class ClaimQuery:
    id: str | None
    path: ClaimPath
    values: tuple[Any, ...] | None


@dataclass(frozen=True, slots=True)
class CredentialQuery:
    id: str
    format: str
    vct_values: tuple[str, ...] | None
    claims: tuple[ClaimQuery, ...] | None
    claim_sets: tuple[tuple[str, ...], ...] | None
    multiple: bool
    require_cryptographic_holder_binding: bool


@dataclass(frozen=True, slots=True)
class CredentialSetQuery:
    options: tuple[tuple[str, ...], ...]
    required: bool


@dataclass(frozen=True, slots=True)
class DCQLQuery:
    credentials: tuple[CredentialQuery, ...]
    credential_sets: tuple[CredentialSetQuery, ...] | None

    def credential(self, query_id: str) -> CredentialQuery:
        """The credential query with this id."""
        for credential in self.credentials:
            if credential.id == query_id:
                return credential
        raise KeyError(query_id)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise InvalidQuery(message)


def _parse_id(value: Any, what: str) -> str:
    _require(isinstance(value, str) and bool(_ID.match(value)), f"{what} must be a non-empty string of [A-Za-z0-9_-]")
    return value


def _parse_path(value: Any) -> ClaimPath:
    _require(isinstance(value, list) and len(value) > 0, "a claim path must be a non-empty array")
    for component in value:
        ok = component is None or isinstance(component, str) or (type(component) is int and component >= 0)
        _require(ok, f"invalid claim path component {component!r}")
    return tuple(value)


def _parse_claim(value: Any, needs_id: bool) -> ClaimQuery:
    _require(isinstance(value, dict), "a claims query must be an object")
    claim_id = _parse_id(value["id"], "claim id") if "id" in value else None
    _require(claim_id is not None or not needs_id, "claims need ids when claim_sets is present")
    values = value.get("values")
    if values is not None:
        _require(isinstance(values, list) and len(values) > 0, "values must be a non-empty array")
        for v in values:
            _require(type(v) in (str, int, bool), "values may only hold strings, integers and booleans")
        values = tuple(values)
    return ClaimQuery(id=claim_id, path=_parse_path(value.get("path")), values=values)


def _parse_credential(value: Any) -> CredentialQuery:
    _require(isinstance(value, dict), "a credential query must be an object")
    query_id = _parse_id(value.get("id"), "credential query id")
    fmt = value.get("format")
    _require(fmt == SD_JWT_VC_FORMAT, f"unsupported credential format {fmt!r}")
    meta = value.get("meta")
    _require(isinstance(meta, dict), "meta is required and must be an object")
    vct_values = meta.get("vct_values")
    # OpenID4VP 1.0 Appendix B.3 (SD-JWT VC): for dc+sd-jwt, meta.vct_values is REQUIRED.
    _require(
        isinstance(vct_values, list) and vct_values and all(isinstance(v, str) for v in vct_values),
        "meta.vct_values is required and must be a non-empty array of strings",
    )
    vct_values = tuple(vct_values)
    claim_sets_raw = value.get("claim_sets")
    claims = None
    if "claims" in value:
        _require(isinstance(value["claims"], list) and value["claims"], "claims must be a non-empty array")
        claims = tuple(_parse_claim(c, claim_sets_raw is not None) for c in value["claims"])
        ids = [c.id for c in claims if c.id is not None]
        _require(len(ids) == len(set(ids)), "claim ids must be unique within a credential query")
    claim_sets = None
    if claim_sets_raw is not None:
        _require(claims is not None, "claim_sets requires claims")
        _require(isinstance(claim_sets_raw, list) and claim_sets_raw, "claim_sets must be a non-empty array")
        known = {c.id for c in claims}  # type: ignore[union-attr]
        parsed_sets = []
        for option in claim_sets_raw:
            _require(isinstance(option, list) and option, "each claim set must be a non-empty array of claim ids")
            for claim_id in option:
                _require(claim_id in known, f"claim set refers to unknown claim id {claim_id!r}")
            parsed_sets.append(tuple(option))
        claim_sets = tuple(parsed_sets)
    multiple = value.get("multiple", False)
    binding = value.get("require_cryptographic_holder_binding", True)
    _require(type(multiple) is bool, "multiple must be a boolean")
    _require(type(binding) is bool, "require_cryptographic_holder_binding must be a boolean")
    return CredentialQuery(query_id, fmt, vct_values, claims, claim_sets, multiple, binding)


def parse_query(query: Any) -> DCQLQuery:
    """Validate a DCQL query object and return its parsed form; `InvalidQuery` when malformed."""
    _require(isinstance(query, dict), "a DCQL query must be an object")
    raw_credentials = query.get("credentials")
    _require(isinstance(raw_credentials, list) and raw_credentials, "credentials must be a non-empty array")
    credentials = tuple(_parse_credential(c) for c in raw_credentials)
    ids = [c.id for c in credentials]
    _require(len(ids) == len(set(ids)), "credential query ids must be unique")
    credential_sets = None
    if "credential_sets" in query:
        raw_sets = query["credential_sets"]
        _require(isinstance(raw_sets, list) and raw_sets, "credential_sets must be a non-empty array")
        parsed = []
        for raw in raw_sets:
            _require(isinstance(raw, dict), "a credential set must be an object")
            options = raw.get("options")
            _require(isinstance(options, list) and options, "credential set options must be a non-empty array")
            for option in options:
                _require(isinstance(option, list) and option, "each option must be a non-empty array of ids")
                for query_id in option:
                    _require(query_id in ids, f"credential set refers to unknown credential query {query_id!r}")
            required = raw.get("required", True)
            _require(type(required) is bool, "required must be a boolean")
            parsed.append(CredentialSetQuery(tuple(tuple(o) for o in options), required))
        credential_sets = tuple(parsed)
    return DCQLQuery(credentials, credential_sets)


def _as_query(query: DCQLQuery | Mapping[str, Any]) -> DCQLQuery:
    return query if isinstance(query, DCQLQuery) else parse_query(query)


def _claim_hits(claims: Mapping[str, Any], claim: ClaimQuery) -> list[tuple[ClaimPath, Any]]:
    """The concrete (path, value) pairs a claims query selects; with `values`, only the matching ones."""
    try:
        hits = resolve_path(claims, claim.path, strict=True)
    except ClaimPathTypeError:
        return []  # §7.1: processing aborts: this claim query selects nothing from this credential
    if claim.values is None:
        return hits
    # type() comparison so that True does not match 1 (JSON distinguishes them).
    return [(p, v) for p, v in hits if any(type(v) is type(w) and v == w for w in claim.values)]


def _selected_claims(credential: CredentialQuery, claims: Mapping[str, Any]) -> list[ClaimQuery] | None:
    """The claims queries to satisfy (the first satisfiable claim set, §6.4.1), or None if none is."""
    if credential.claims is None:
        return []
    if credential.claim_sets is None:
        options: Sequence[Sequence[ClaimQuery]] = [credential.claims]
    else:
        by_id = {c.id: c for c in credential.claims}
        options = [[by_id[i] for i in option] for option in credential.claim_sets]
    for option in options:
        if all(_claim_hits(claims, c) for c in option):
            return list(option)
    return None


def _meta_matches(credential: CredentialQuery, payload: Mapping[str, Any], claims: Mapping[str, Any]) -> bool:
    if credential.vct_values is not None and claims.get("vct") not in credential.vct_values:
        return False
    return not (credential.require_cryptographic_holder_binding and "cnf" not in payload)


@dataclass(frozen=True, slots=True)
class CredentialMatch:
    """One held credential answering a credential query, and the claim paths to disclose."""

    credential_index: int
    credential: SDJWT
    disclose: tuple[ClaimPath, ...]


def _match_credential(credential: CredentialQuery, held: Sequence[SDJWT]) -> list[CredentialMatch]:
    matches = []
    for index, sd in enumerate(held):
        if jws.media_type(sd.header.get("typ")) != jws.media_type(SD_JWT_VC_FORMAT) or not _meta_matches(
            credential, sd.payload, sd.claims
        ):
            continue
        selected = _selected_claims(credential, sd.claims)
        if selected is None:
            continue
        # Disclose only the concrete claims that were asked for (and, with values, only matching
        # array elements): never an unrequested selectively disclosable claim.
        paths = tuple(dict.fromkeys(p for c in selected for p, _ in _claim_hits(sd.claims, c)))
        matches.append(CredentialMatch(index, sd, paths))
        if not credential.multiple:
            break
    return matches


def match(query: DCQLQuery | Mapping[str, Any], held: Sequence[SDJWT]) -> dict[str, list[CredentialMatch]] | None:
    """Wallet side: which held SD-JWT VCs answer the query, and what to disclose from each.

    Returns a dict credential-query-id → matches (one unless `multiple`), honouring
    `credential_sets` (the first satisfiable option of each set; optional sets contribute when
    satisfiable) and `claim_sets` (the first satisfiable one). None when the query cannot be met.
    """
    parsed = _as_query(query)
    candidates = {c.id: _match_credential(c, held) for c in parsed.credentials}
    if parsed.credential_sets is None:
        if not all(candidates.values()):
            return None
        return candidates
    chosen: dict[str, list[CredentialMatch]] = {}
    for credential_set in parsed.credential_sets:
        option = next((o for o in credential_set.options if all(candidates[i] for i in o)), None)
        if option is None:
            if credential_set.required:
                return None
            continue
        for query_id in option:
            chosen[query_id] = candidates[query_id]
    return chosen


def _presentation_satisfies(credential: CredentialQuery, result: VerifiedSDJWT) -> str | None:
    if not _meta_matches(credential, result.payload, result.claims):
        return "vct or holder binding requirement not met"
    if credential.require_cryptographic_holder_binding and result.key_binding is None:
        return "cryptographic holder binding required but no key binding was verified"
    if _selected_claims(credential, result.claims) is None:
        return "the requested claims (or claim set) are not all present with acceptable values"
    return None


def _related(a: ClaimPath, b: ClaimPath) -> bool:
    """One path is a prefix of the other (None in either matches any array index)."""
    return all(x is None or y is None or x == y for x, y in zip(a, b, strict=False))


def _unrequested(credential: CredentialQuery, disclosed: frozenset[ClaimPath]) -> list[list[Any]]:
    # A disclosure is asked for when it is a requested claim, inside one (its subtree), or one of
    # its parents (needed to reach a nested disclosure). The query's claims in any claim set count.
    requested = [c.path for c in credential.claims or ()]
    return sorted((list(path) for path in disclosed if not any(_related(path, r) for r in requested)), key=repr)


def check_presentation(
    query: DCQLQuery | Mapping[str, Any], vp_token: Mapping[str, Sequence[VerifiedSDJWT]]
) -> dict[str, list[VerifiedSDJWT]]:
    """Verifier side: check that verified presentations, keyed by credential query id as in the
    `vp_token`, satisfy the query. Unknown ids, empty arrays, several presentations where
    `multiple` is false, missing claims, unmet `values`, and unmet credential sets are rejected
    with `PresentationMismatch`; a disclosure the credential query did not ask for with
    `OverDisclosure`. Returns the accepted presentations by query id."""
    parsed = _as_query(query)
    known = {c.id: c for c in parsed.credentials}
    if not isinstance(vp_token, Mapping):
        raise PresentationMismatch("vp_token must be an object keyed by credential query id")
    for query_id, presentations in vp_token.items():
        credential = known.get(query_id)
        if credential is None:
            raise PresentationMismatch(f"vp_token contains {query_id!r}, which the query did not ask for")
        if not isinstance(presentations, Sequence) or not presentations:
            raise PresentationMismatch(f"{query_id!r} must be a non-empty array of presentations")
        if len(presentations) > 1 and not credential.multiple:
            raise PresentationMismatch(f"{query_id!r} allows a single presentation")
        for result in presentations:
            problem = _presentation_satisfies(credential, result)
            if problem is not None:
                raise PresentationMismatch(f"{query_id!r}: {problem}")
            unasked = _unrequested(credential, result.disclosed_paths)
            if unasked:
                raise OverDisclosure(f"{query_id!r} discloses claims the query did not ask for: {unasked}")
    present = set(vp_token)
    if parsed.credential_sets is None:
        missing = set(known) - present
        if missing:
            raise PresentationMismatch(f"missing presentations for {sorted(missing)}")
    else:
        for credential_set in parsed.credential_sets:
            if credential_set.required and not any(set(o) <= present for o in credential_set.options):
                raise PresentationMismatch("a required credential set is not satisfied")
    return {k: list(v) for k, v in vp_token.items()}
