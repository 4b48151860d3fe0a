"""SD-JWT-based Verifiable Digital Credentials (SD-JWT VC), draft-ietf-oauth-sd-jwt-vc-18.

Issuance and verification on top of `vc.sd_jwt`, plus the pure half of issuer key discovery through
`/.well-known/jwt-vc-issuer` (fetching the document is the caller's business: no I/O here).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from keys import jws
from keys.jwk import JWKError, PrivateKey, PublicKey, load_public_jwk
from vc import sd_jwt
from vc.sd_jwt import DEFAULT_LIMITS, Limits, SDJWTError, VerifiedSDJWT

SD_JWT_VC_TYP = "dc+sd-jwt"
LEGACY_SD_JWT_VC_TYP = "vc+sd-jwt"
WELL_KNOWN_JWT_VC_ISSUER = "/.well-known/jwt-vc-issuer"
# Draft -18 §3.2.2.2: these registered claims are never selectively disclosable; a verifier
# refuses them in a disclosure.
# SD-JWT VC -18 §3.2.2.2: these are never selectively disclosable (`vct#integrity` and `aka_vcts`
# travel with `vct`, so a verifier can check the type without asking the holder for them).
NEVER_DISCLOSABLE = frozenset({"vct", "vct#integrity", "aka_vcts", "iss", "nbf", "exp", "cnf", "status"})
# What our issuers keep in the clear: the above, and `iat` (the draft allows disclosing it, but a
# hidden issuance time only makes the credential harder to audit).
ISSUED_IN_CLEAR = NEVER_DISCLOSABLE | {"iat"}


class SDJWTVCError(SDJWTError):
    """An SD-JWT that is valid as such but not a valid SD-JWT VC."""

    reason = "invalid_sd_jwt_vc"


class MissingRequiredClaim(SDJWTVCError):
    reason = "missing_required_claim"


class DisclosedRegisteredClaim(SDJWTVCError):
    """A claim that must be plainly visible (vct, iss, …) arrived through a disclosure."""

    reason = "disclosed_registered_claim"


class IssuerMetadataError(ValueError):
    """A `/.well-known/jwt-vc-issuer` document or issuer identifier is unusable."""

    reason = "invalid_issuer_metadata"


class IssuerKeyResolver(Protocol):
    """Finds the public key an issuer signs with. The HTTP implementation lives outside `vc`."""

    def resolve(self, iss: str, kid: str | None) -> PublicKey:
        """Return the key for (`iss`, `kid`) or raise `keys.jws.UnknownKey`."""
        ...


def issue_sd_jwt_vc(
    claims: Mapping[str, Any],
    issuer_key: PrivateKey,
    *,
    kid: str,
    disclosable: Iterable[Sequence[str | int | None]] = (),
    holder_jwk: Mapping[str, Any] | None = None,
    decoys: int = 0,
) -> str:
    """Issue an SD-JWT VC (`typ: dc+sd-jwt`, `kid` in the header).

    `claims` must contain `vct` and `iss`; `disclosable` may not name `vct`, `iss`, `iat`, `nbf`,
    `exp`, `cnf` or `status` (refused with `sd_jwt.IssuanceError`). `holder_jwk` becomes `cnf.jwk`.
    """
    for name in ("vct", "iss"):
        if not isinstance(claims.get(name), str) or not claims[name]:
            raise sd_jwt.IssuanceError(f"an SD-JWT VC needs a string {name!r} claim")
    paths = [tuple(p) for p in disclosable]
    for path in paths:
        if path and path[0] in ISSUED_IN_CLEAR:
            raise sd_jwt.IssuanceError(f"{path[0]!r} must never be selectively disclosable")
    return sd_jwt.issue_sd_jwt(
        claims, issuer_key, disclosable=paths, decoys=decoys, holder_jwk=holder_jwk, typ=SD_JWT_VC_TYP, kid=kid
    )


def verify_sd_jwt_vc(
    presentation: str,
    resolver: IssuerKeyResolver,
    *,
    require_key_binding: bool = True,
    expected_aud: str | None = None,
    expected_nonce: str | None = None,
    now: int,
    iat_skew: int = 60,
    max_age: int = 300,
    algorithms: Iterable[str] = jws.ALLOWED_ALGORITHMS,
    accept_legacy_typ: bool = False,
    limits: Limits = DEFAULT_LIMITS,
) -> VerifiedSDJWT:
    """Verify an SD-JWT VC presentation: all of `vc.sd_jwt.verify_sd_jwt`, plus `typ: dc+sd-jwt`
    (`vc+sd-jwt` only with `accept_legacy_typ`), the issuer key from `resolver` by (`iss`, `kid`),
    and plainly visible string `vct` and `iss`."""
    if not isinstance(presentation, str):
        raise sd_jwt.MalformedPresentation("an SD-JWT must be a string")
    seen_iss: list[str] = []

    def issuer_key(header: dict[str, Any], payload: dict[str, Any]) -> PublicKey:
        # The key lookup needs `iss` before the signature can be checked; the value is trusted
        # only because the signature then verifies with a key of that issuer's trusted set.
        iss = payload.get("iss")
        if not isinstance(iss, str):
            raise MissingRequiredClaim("an SD-JWT VC needs a string iss claim")
        seen_iss.append(iss)
        kid = header.get("kid")
        return resolver.resolve(iss, kid if isinstance(kid, str) else None)

    typ = (SD_JWT_VC_TYP, LEGACY_SD_JWT_VC_TYP) if accept_legacy_typ else SD_JWT_VC_TYP
    result = sd_jwt.verify_sd_jwt(
        presentation,
        issuer_key,
        require_key_binding=require_key_binding,
        expected_aud=expected_aud,
        expected_nonce=expected_nonce,
        now=now,
        iat_skew=iat_skew,
        max_age=max_age,
        algorithms=algorithms,
        typ=typ,
        limits=limits,
    )
    payload = result.payload
    for name in NEVER_DISCLOSABLE:
        if name in result.claims and name not in payload:
            raise DisclosedRegisteredClaim(f"{name!r} must not be selectively disclosed")
    if not isinstance(payload.get("vct"), str):
        raise MissingRequiredClaim("an SD-JWT VC needs a string vct claim")
    if [payload.get("iss")] != seen_iss:  # the key was chosen for exactly this issuer
        raise MissingRequiredClaim("iss changed under verification")
    return result


# --------------------------------------------------------------------------------------------
# /.well-known/jwt-vc-issuer (draft -18 §4)


def jwt_vc_issuer_metadata_url(iss: str, *, allow_http: bool = False) -> str:
    """The JWT VC Issuer Metadata URL: `/.well-known/jwt-vc-issuer` inserted between the host and
    the path of `iss`, with the path's trailing `/` removed."""
    parts = urlsplit(iss)
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes or not parts.netloc:
        raise IssuerMetadataError(f"issuer identifier {iss!r} is not an {'/'.join(schemes)} URL")
    if parts.query or parts.fragment:
        raise IssuerMetadataError("an issuer identifier has no query or fragment")
    return urlunsplit((parts.scheme, parts.netloc, WELL_KNOWN_JWT_VC_ISSUER + parts.path.rstrip("/"), "", ""))


@dataclass(frozen=True, slots=True)
class IssuerKeys:
    """Where an issuer's keys are: inline (`jwks`) or by reference (`jwks_uri`), exactly one."""

    jwks: dict[str, Any] | None
    jwks_uri: str | None


def keys_from_jwt_vc_issuer_metadata(metadata: Any, expected_iss: str) -> IssuerKeys:
    """Check a JWT VC Issuer Metadata document: `issuer` equal to `expected_iss` exactly (no
    normalisation) and exactly one of `jwks_uri` / `jwks`."""
    if not isinstance(metadata, dict):
        raise IssuerMetadataError("issuer metadata must be a JSON object")
    if metadata.get("issuer") != expected_iss:
        raise IssuerMetadataError("issuer metadata 'issuer' does not equal iss")
    has_uri, has_jwks = "jwks_uri" in metadata, "jwks" in metadata
    if has_uri == has_jwks:
        raise IssuerMetadataError("issuer metadata must contain exactly one of jwks_uri and jwks")
    if has_uri:
        uri = metadata["jwks_uri"]
        if not isinstance(uri, str) or not uri.startswith("https://"):
            raise IssuerMetadataError("jwks_uri must be an https URL")
        return IssuerKeys(jwks=None, jwks_uri=uri)
    jwks = metadata["jwks"]
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise IssuerMetadataError("jwks must be a JWK Set with a keys array")
    return IssuerKeys(jwks=jwks, jwks_uri=None)


def key_from_jwks(jwks: Mapping[str, Any], kid: str | None) -> PublicKey:
    """Select the key with `kid` from a JWK Set (or its only key when `kid` is None)."""
    keys = [k for k in jwks.get("keys", []) if isinstance(k, dict)]
    if kid is None:
        if len(keys) != 1:
            raise jws.UnknownKey("no kid and the key set does not hold exactly one key")
        candidates = keys
    else:
        candidates = [k for k in keys if k.get("kid") == kid]
        if len(candidates) != 1:
            raise jws.UnknownKey(f"kid {kid!r} is not (uniquely) in the issuer's key set")
    jwk = {k: v for k, v in candidates[0].items() if k not in ("kid", "use", "alg", "key_ops")}
    if candidates[0].get("use", "sig") != "sig":
        raise jws.UnknownKey("the key is not a signing key")
    try:
        return load_public_jwk(jwk)
    except JWKError as exc:
        raise jws.UnknownKey(str(exc)) from exc


class StaticIssuerKeyResolver:
    """An `IssuerKeyResolver` over already-fetched JWT VC Issuer Metadata documents (inline `jwks`),
    keyed by issuer identifier. Keys are imported once, up front. For tests and for issuers
    configured out of band."""

    def __init__(self, documents: Mapping[str, Mapping[str, Any]]) -> None:
        self._keys: dict[str, dict[str | None, PublicKey]] = {}
        for iss, metadata in documents.items():
            keys = keys_from_jwt_vc_issuer_metadata(metadata, iss)
            if keys.jwks is None:
                raise IssuerMetadataError("a static resolver needs inline jwks")
            entries = [k for k in keys.jwks["keys"] if isinstance(k, dict)]
            by_kid: dict[str | None, PublicKey] = {}
            for entry in entries:
                kid = entry.get("kid")
                if kid is None and len(entries) != 1:
                    continue  # a key without a kid can only be chosen when it is the only key
                by_kid[kid] = key_from_jwks({"keys": [entry]}, kid)
                if len(entries) == 1:
                    by_kid[None] = by_kid[kid]
            self._keys[iss] = by_kid

    def resolve(self, iss: str, kid: str | None) -> PublicKey:
        """The key for (`iss`, `kid`), or `keys.jws.UnknownKey`."""
        by_kid = self._keys.get(iss)
        if by_kid is None:
            raise jws.UnknownKey(f"issuer {iss!r} is not trusted")
        key = by_kid.get(kid)
        if key is None:
            raise jws.UnknownKey(f"kid {kid!r} is not in the key set of {iss!r}")
        return key
