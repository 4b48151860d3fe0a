"""Compact JWS signing (through PyJWT) and verification, with an explicit algorithm allow-list.

Verification calls `cryptography` directly rather than PyJWT's decoder: PyJWT validates base64url
one character at a time in Python, which cost a third of an SD-JWT VC verification (measured in
bench/bench_vc.py). Tests cross-check both directions with PyJWT.

Verification never trusts the token to pick its own key or algorithm: the caller supplies the key
(or a resolver over a key set it already trusts), `alg` must be in the allow-list and match the key,
`none` and HMAC are refused, and headers that name a key (`jku`, `x5u`, `jwk`, `x5c`) or mark an
extension critical are refused unless the calling protocol explicitly allows them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import jwt
from cryptography.exceptions import InvalidSignature as CryptographyInvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from keys.jwk import PrivateKey, PublicKey, algorithm_for, b64url_decode

ALLOWED_ALGORITHMS: frozenset[str] = frozenset({"ES256", "EdDSA"})
KEY_NAMING_HEADERS: frozenset[str] = frozenset({"jku", "x5u", "jwk", "x5c"})
# A compact JWS larger than this is refused before any parsing work (DoS bound).
MAX_JWS_BYTES = 64 * 1024


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


class VerifiedJWS(NamedTuple):
    # A NamedTuple: immutable like a frozen dataclass, and cheaper to build on the hot path.
    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: str


# A resolver picks the verification key from a key set the caller already trusts, given the
# (still unverified) header and payload: `kid` from the header, and for some formats the issuer
# named in the payload. It raises UnknownKey when the token names no key of that set.
KeyResolver = Callable[[dict[str, Any], dict[str, Any]], PublicKey]

_ES256 = ec.ECDSA(hashes.SHA256())


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


# RFC 8259 JSON only: Python's json would otherwise accept NaN and Infinity.
_scan_json = json.JSONDecoder(parse_constant=_reject_constant).scan_once
_JSON_WHITESPACE = " \t\n\r"


def decode_json(text: str) -> Any:
    """One JSON value (RFC 8259), surrounding whitespace allowed, nothing else. `json.loads`
    without its Python wrapper: this runs several times per verification."""
    start = len(text) - len(text.lstrip(_JSON_WHITESPACE))
    try:
        value, end = _scan_json(text, start)
    except StopIteration:
        raise ValueError("not JSON") from None
    if end != len(text) and text[end:].strip(_JSON_WHITESPACE):
        raise ValueError("extra data after the JSON value")
    return value


def media_type(typ: Any) -> str | None:
    """A `typ` header as the media type it names (RFC 7515 §4.1.9): case-insensitive, with
    "application/" implied when no "/" appears, so `kb+jwt` and `application/KB+JWT` are one type.
    None for anything that is not a string: a header value of the wrong JSON type names no type."""
    if not isinstance(typ, str):
        return None
    lowered = typ.lower()
    return lowered if "/" in lowered else "application/" + lowered


def _segment(data: str, what: str) -> bytes:
    # Strict and canonical, so a JWS has exactly one serialisation.
    try:
        return b64url_decode(data)
    except ValueError:
        raise MalformedJWS(f"the {what} is not canonical base64url") from None


# Protected headers repeat (one per issuer key, one per holder algorithm for KB-JWTs), so parsed
# headers are kept by their encoded form. Bounded: cleared when full.
_HEADER_CACHE: dict[str, dict[str, Any]] = {}
_HEADER_CACHE_SIZE = 1024


def _header(header_b64: str) -> dict[str, Any]:
    cached = _HEADER_CACHE.get(header_b64)
    if cached is None:
        cached = _json_object(_segment(header_b64, "header"), "header")
        if len(_HEADER_CACHE) >= _HEADER_CACHE_SIZE:
            _HEADER_CACHE.clear()
        _HEADER_CACHE[header_b64] = cached
    return dict(cached)  # a copy: callers may keep or change theirs


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = decode_json(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        raise MalformedJWS(f"the {what} is not JSON") from None
    if not isinstance(value, dict):
        raise MalformedJWS(f"the {what} is not a JSON object")
    return value


def sign(
    payload: dict[str, Any],
    key: PrivateKey,
    *,
    typ: str | None = None,
    kid: str | None = None,
    headers: dict[str, Any] | None = None,
) -> str:
    """Sign `payload` as a compact JWS (through PyJWT) with the algorithm the key implies."""
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


def _split(token: str) -> tuple[str, str, str]:
    if not isinstance(token, str) or len(token) > MAX_JWS_BYTES:
        raise MalformedJWS("token is not a string of acceptable size")
    parts = token.split(".")
    if len(parts) != 3:
        raise MalformedJWS("a compact JWS has exactly three parts")
    return parts[0], parts[1], parts[2]


def read_header(token: str) -> dict[str, Any]:
    """The protected header of a compact JWS, unverified, with its structure checked."""
    return _header(_split(token)[0])


def read_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and payload of a compact JWS, UNVERIFIED: for routing only (which issuer, which
    key set), never for a decision."""
    header_b64, payload_b64, _ = _split(token)
    return _header(header_b64), _json_object(_segment(payload_b64, "payload"), "payload")


def verify(
    token: str,
    key: PublicKey | KeyResolver,
    *,
    algorithms: Iterable[str] = ALLOWED_ALGORITHMS,
    typ: str | Iterable[str] | None = None,
    allowed_key_headers: Iterable[str] = (),
) -> VerifiedJWS:
    """Verify a compact JWS and return its header and JSON payload.

    `key` is a public key, or a resolver over a key set the caller trusts (see `KeyResolver`).
    `typ`, when given, must name the same media type (one string or a set of accepted values;
    compared as RFC 7515 §4.1.9 says, and a `typ` that is not a string never matches). Time claims
    are not checked here: each format decides when and how (SD-JWT checks `exp` only after
    processing disclosures).
    """
    header_b64, payload_b64, signature_b64 = _split(token)
    header = _header(header_b64)
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in ALLOWED_ALGORITHMS or alg not in algorithms:
        raise AlgorithmNotAllowed(f"alg {alg!r} is not allowed")
    if "crit" in header:
        raise UnknownCriticalHeader(f"critical header extensions not understood: {header['crit']!r}")
    named = KEY_NAMING_HEADERS & header.keys()
    if named and (named := named - frozenset(allowed_key_headers)):
        raise KeyHeaderNotAllowed(
            f"header names a key ({', '.join(sorted(named))}); keys come from trusted sources only"
        )
    if typ is not None:
        written = [typ] if isinstance(typ, str) else list(typ)
        if media_type(header.get("typ")) not in {media_type(t) for t in written}:
            raise WrongType(f"typ {header.get('typ')!r} is not {' or '.join(sorted(written))}")
    payload = _json_object(_segment(payload_b64, "payload"), "payload")
    signature = _segment(signature_b64, "signature")
    public = key(header, payload) if callable(key) else key
    signing_input = f"{header_b64}.{payload_b64}"
    if isinstance(public, ec.EllipticCurvePublicKey) and isinstance(public.curve, ec.SECP256R1):
        if alg != "ES256":
            raise AlgorithmNotAllowed(f"alg {alg!r} does not match the key type")
        if len(signature) != 64:
            raise InvalidSignature("an ES256 signature is 64 bytes")
        der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
        try:
            public.verify(der, signing_input.encode("ascii"), _ES256)
        except CryptographyInvalidSignature:
            raise InvalidSignature("signature verification failed") from None
    elif isinstance(public, ed25519.Ed25519PublicKey):
        if alg != "EdDSA":
            raise AlgorithmNotAllowed(f"alg {alg!r} does not match the key type")
        try:
            public.verify(signature, signing_input.encode("ascii"))
        except CryptographyInvalidSignature:
            raise InvalidSignature("signature verification failed") from None
    else:
        raise UnknownKey(f"unsupported verification key {type(public).__name__}")
    return VerifiedJWS(header=header, payload=payload, signing_input=signing_input)


def verify_with_header_jwk(token: str, *, typ: str | Iterable[str] | None = None) -> tuple[VerifiedJWS, dict[str, Any]]:
    """Verify a JWS signed by the key in its own `jwk` header (only where a protocol says so,
    e.g. OpenID4VCI proofs). Returns the verified JWS and that JWK."""
    from keys.jwk import JWKError, load_public_jwk

    header = read_header(token)
    jwk = header.get("jwk")
    try:
        public = load_public_jwk(jwk)
    except JWKError as exc:
        raise UnknownKey(f"header jwk: {exc}") from None
    return verify(token, public, typ=typ, allowed_key_headers={"jwk"}), jwk
