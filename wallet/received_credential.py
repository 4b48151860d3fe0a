"""Checks a credential the wallet just received, before anything is stored (STANDARDS.md, "The
wallet's side of OpenID4VCI"): `iss` is exactly the offer's `credential_issuer`; the signature
verifies with a key from that issuer's `/.well-known/jwt-vc-issuer`; `typ: dc+sd-jwt`; `vct` is the
offered configuration's; `cnf.jwk` is the key the wallet proved; every RFC 9901 check; and `sub`,
when present, is the citizen's own id. The status list check needs HTTP and is the receiver's
(wallet/receive.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from keys import jws
from keys.jwk import JWKError, PublicKey, load_public_jwk, public_jwk, thumbprint
from keys.subjects import SUBJECT_CLAIM
from vc import sd_jwt
from vc.sd_jwt_vc import key_from_jwks, verify_sd_jwt_vc
from vc.status_list import StatusListError, status_reference
from wallet.issuer_metadata import CredentialConfiguration
from wallet.receive_errors import ReceiveError

STEP = "verification"
# RFC 9901 failures a citizen can be told about in plain words; the rest are "malformed".
_REASONS: tuple[tuple[type[sd_jwt.SDJWTError], str], ...] = (
    (sd_jwt.IssuerSignatureInvalid, "signature_invalid"),
    (sd_jwt.IssuerAlgorithmNotAllowed, "signature_invalid"),
    (sd_jwt.UnknownIssuerKey, "issuer_key_unknown"),
    (sd_jwt.IssuerJWTWrongType, "wrong_typ"),
    (sd_jwt.Expired, "expired"),
    (sd_jwt.NotYetValid, "not_yet_valid"),
)


@dataclass(frozen=True)
class VerifiedCredential:
    """A received credential that passed every check but its status."""

    sd_jwt: str
    holder_key: ec.EllipticCurvePrivateKey
    configuration: CredentialConfiguration
    claims: dict[str, Any]
    status: tuple[int, str] | None  # (idx, uri) of its status list entry, if it has one


def claimed_issuer(credential: str) -> Any:
    """The `iss` the credential claims, unverified: compared with the offer's issuer before any of
    the issuer's keys are fetched, so a credential never makes the wallet fetch from elsewhere."""
    try:
        _, payload = jws.read_unverified(credential.split("~", 1)[0])
    except jws.JWSError:
        raise ReceiveError(STEP, "malformed_credential", "the issuer JWT cannot be read") from None
    return payload.get("iss")


class _OneIssuer:
    """`IssuerKeyResolver` over the key set of the one issuer the offer named."""

    def __init__(self, issuer: str, jwks: dict[str, Any]) -> None:
        self.issuer, self.jwks = issuer, jwks

    def resolve(self, iss: str, kid: str | None) -> PublicKey:
        if iss != self.issuer:
            raise jws.UnknownKey("the credential names another issuer")
        return key_from_jwks(self.jwks, kid)


def verify_received(
    credential: str,
    *,
    issuer: str,
    jwks: dict[str, Any],
    configuration: CredentialConfiguration,
    holder_key: ec.EllipticCurvePrivateKey,
    citizen_id: str,
    now: int,
) -> VerifiedCredential:
    """Every check of a freshly issued credential except its status; `ReceiveError` otherwise.

    A credential that carries `sub` must carry the citizen's own platform id (DESIGN.md, "One
    applicant, one decision"): an offer meant for someone else never lands in her wallet."""
    if claimed_issuer(credential) != issuer:
        raise ReceiveError(STEP, "issuer_mismatch", "iss is not the offer's credential_issuer")
    try:
        # An issued credential has no key binding JWT yet; one arriving here is refused
        # (UncheckableKeyBinding) rather than ignored.
        verified = verify_sd_jwt_vc(credential, _OneIssuer(issuer, jwks), require_key_binding=False, now=now)
    except sd_jwt.SDJWTError as exc:
        reason = next((r for kind, r in _REASONS if isinstance(exc, kind)), "malformed_credential")
        raise ReceiveError(STEP, reason, f"{exc.reason}: {exc}") from None
    payload = verified.payload
    if payload.get("vct") != configuration.vct:
        raise ReceiveError(STEP, "vct_mismatch", f"vct is not {configuration.vct!r}")
    cnf = payload.get("cnf")
    bound = cnf.get("jwk") if isinstance(cnf, dict) else None
    try:
        load_public_jwk(bound)  # a public key of an accepted type, no private member
        same_key = thumbprint(bound) == thumbprint(public_jwk(holder_key))  # type: ignore[arg-type]
    except JWKError:
        same_key = False
    if not same_key:
        raise ReceiveError(STEP, "holder_key_mismatch", "cnf.jwk is not the proved key")
    try:
        status = status_reference(payload)
    except StatusListError as exc:
        raise ReceiveError(STEP, "malformed_credential", str(exc)) from None
    claims = {k: v for k, v in verified.claims.items() if k not in ("_sd", "_sd_alg")}
    if SUBJECT_CLAIM in claims and claims[SUBJECT_CLAIM] != citizen_id:
        raise ReceiveError(STEP, "subject_mismatch", "sub is not the citizen's platform id")
    return VerifiedCredential(credential, holder_key, configuration, claims, status)
