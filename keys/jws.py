"""Compact JWS signing and verification through PyJWT, with an explicit algorithm allow-list.

Verification never trusts the token to pick its own key or algorithm: the caller supplies the key
(or a resolver over a key set it already trusts), `alg` must be in the allow-list and match the key,
`none` and HMAC are refused, and headers that name a key (`jku`, `x5u`, `jwk`, `x5c`) or mark an
extension critical are refused unless the calling protocol explicitly allows them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import jwt
from jwt.algorithms import ECAlgorithm, OKPAlgorithm

from keys.jwk import JWKError, PrivateKey, PublicKey, algorithm_for, b64url_decode

ALLOWED_ALGORITHMS: frozenset[str] = frozenset({"ES256", "EdDSA"})
KEY_NAMING_HEADERS: frozenset[str] = frozenset({"jku", "x5u", "jwk", "x5c"})
# A compact JWS larger than this is refused before any parsing work (DoS bound).
MAX_JWS_BYTES = 64 * 1024

_ALGORITHM_IMPLEMENTATIONS = {"ES256": ECAlgorithm(ECAlgorithm.SHA256), "EdDSA": OKPAlgorithm()}
_JWS = jwt.PyJWS(algorithms=sorted(ALLOWED_ALGORITHMS))


class JWSError(ValueError):
    """Base class: the JWS cannot be accepted. `reason` is a stable machine-readable code."""

    reason = "invalid_jws"


class MalformedJWS(JWSError):
    reason = "malformed_jws"


class AlgorithmNotAllowed(JWSError):
    reason = "algorithm_not_allowed"


class UnknownCriticalHeader(JWSError):
    reason = "unknown_critical_header"


class KeyHeaderNotAllowed(JWSError):
    reason = "key_header_not_allowed"


class UnknownKey(JWSError):
    reason = "unknown_key"


class InvalidSignature(JWSError):
    reason = "invalid_signature"


class WrongType(JWSError):
    reason = "wrong_typ"


@dataclass(frozen=True, slots=True)
class VerifiedJWS:
    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: str


KeyResolver = Callable[[dict[str, Any]], PublicKey]


def sign(
    payload: dict[str, Any],
    key: PrivateKey,
    *,
    typ: str | None = None,
    kid: str | None = None,
    headers: dict[str, Any] | None = None,
) -> str:
    """Sign `payload` as a compact JWS with the algorithm the key implies (ES256 or EdDSA)."""
    alg = algorithm_for(key)
    header: dict[str, Any] = dict(headers or {})
    if typ is not None:
        header["typ"] = typ
    if kid is not None:
        header["kid"] = kid
    # PyJWT would otherwise add "typ": "JWT" on its own; only the caller decides typ.
    if "typ" not in header:
        header["typ"] = None
    return jwt.encode(payload, key, algorithm=alg, headers=header, sort_headers=False)


def read_header(token: str) -> dict[str, Any]:
    """The protected header of a compact JWS, unverified, with its structure checked."""
    if not isinstance(token, str) or len(token) > MAX_JWS_BYTES:
        raise MalformedJWS("token is not a string of acceptable size")
    parts = token.split(".")
    if len(parts) != 3:
        raise MalformedJWS("a compact JWS has exactly three parts")
    try:
        header = json.loads(b64url_decode(parts[0]))
    except ValueError as exc:
        raise MalformedJWS("the header is not base64url JSON") from exc
    if not isinstance(header, dict):
        raise MalformedJWS("the header is not a JSON object")
    return header


def verify(
    token: str,
    key: PublicKey | KeyResolver,
    *,
    algorithms: Iterable[str] = ALLOWED_ALGORITHMS,
    typ: str | Iterable[str] | None = None,
    allowed_key_headers: Iterable[str] = (),
) -> VerifiedJWS:
    """Verify a compact JWS and return its header and JSON payload.

    `key` is a public key, or a resolver called with the protected header that returns one from a
    key set the caller trusts (raising `UnknownKey` when the `kid` is not in it). `typ`, when given,
    must match exactly (one string or a set of accepted values). Time claims are not checked here:
    each format decides when and how (SD-JWT checks `exp` only after processing disclosures).
    """
    header = read_header(token)
    allowed = frozenset(algorithms) & ALLOWED_ALGORITHMS
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in allowed:
        raise AlgorithmNotAllowed(f"alg {alg!r} is not allowed")
    if "crit" in header:
        raise UnknownCriticalHeader(f"critical header extensions not understood: {header['crit']!r}")
    named = (KEY_NAMING_HEADERS - frozenset(allowed_key_headers)) & header.keys()
    if named:
        raise KeyHeaderNotAllowed(
            f"header names a key ({', '.join(sorted(named))}); keys come from trusted sources only"
        )
    if typ is not None:
        accepted = {typ} if isinstance(typ, str) else set(typ)
        if header.get("typ") not in accepted:
            raise WrongType(f"typ {header.get('typ')!r} is not {' or '.join(sorted(accepted))}")
    public = key(header) if callable(key) else key
    try:
        if algorithm_for(public) != alg:
            raise AlgorithmNotAllowed(f"alg {alg!r} does not match the key type")
    except JWKError as exc:
        raise UnknownKey(str(exc)) from None
    try:
        decoded = _JWS.decode_complete(token, key=public, algorithms=[alg])
    except jwt.InvalidSignatureError as exc:
        raise InvalidSignature("signature verification failed") from exc
    except jwt.PyJWTError as exc:
        raise MalformedJWS(str(exc)) from exc
    try:
        payload = json.loads(decoded["payload"])
    except ValueError as exc:
        raise MalformedJWS("the payload is not JSON") from exc
    if not isinstance(payload, dict):
        raise MalformedJWS("the payload is not a JSON object")
    return VerifiedJWS(header=header, payload=payload, signing_input=token.rsplit(".", 1)[0])


def verify_with_header_jwk(token: str, *, typ: str | Iterable[str] | None = None) -> tuple[VerifiedJWS, dict[str, Any]]:
    """Verify a JWS signed by the key in its own `jwk` header (only where a protocol says so,
    e.g. OpenID4VCI proofs). Returns the verified JWS and that JWK."""
    from keys.jwk import load_public_jwk

    header = read_header(token)
    jwk = header.get("jwk")
    try:
        public = load_public_jwk(jwk)
    except JWKError as exc:
        raise UnknownKey(f"header jwk: {exc}") from None
    return verify(token, public, typ=typ, allowed_key_headers={"jwk"}), jwk
