"""JSON Web Keys: generation, public export, import with an allow-list, RFC 7638 thumbprints."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric import ec, ed25519

SigningAlgorithm = Literal["ES256", "EdDSA"]
PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey

# RFC 7638 §3.2: the required members of each key type, in lexicographic order.
_THUMBPRINT_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}


class JWKError(ValueError):
    """A JWK is malformed or of a type this project does not accept."""


def b64url_encode(data: bytes) -> str:
    """Base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


# URL-safe to standard alphabet; the standard alphabet's own '+', '/' and the padding '=' become
# '!', which strict decoding then rejects like any other character outside the alphabet.
_URLSAFE_TO_STANDARD = bytes.maketrans(b"-_+/=", b"+/!!!")
# The last character of a final partial group carries unused low bits that must be zero
# (RFC 4648 §3.5); allowing others would give one value several encodings.
_CANONICAL_LAST_CHAR = {2: frozenset("AQgw"), 3: frozenset("AEIMQUYcgkosw048")}


def b64url_decode(data: str) -> bytes:
    """Strict base64url decoding: URL-safe alphabet only, no padding, canonical final character.

    On every verification's hot path, so `binascii` in strict mode checks the alphabet in C."""
    if not isinstance(data, str):
        raise ValueError("not base64url")
    remainder = len(data) % 4
    if remainder == 1 or (remainder and data[-1] not in _CANONICAL_LAST_CHAR[remainder]):
        raise ValueError("not canonical base64url")
    try:
        padded = data.encode("ascii").translate(_URLSAFE_TO_STANDARD) + b"=" * ((4 - remainder) % 4)
        return binascii.a2b_base64(padded, strict_mode=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ValueError("not base64url") from None


def generate_private_key(alg: SigningAlgorithm = "ES256") -> PrivateKey:
    """A fresh signing key: P-256 for ES256, Ed25519 for EdDSA."""
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise JWKError(f"unsupported algorithm {alg!r}")


def algorithm_for(key: PrivateKey | PublicKey) -> SigningAlgorithm:
    """The JWS algorithm a key signs with."""
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise JWKError("only the P-256 curve is accepted for EC keys")
        return "ES256"
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "EdDSA"
    raise JWKError(f"unsupported key type {type(key).__name__}")


def public_jwk(key: PrivateKey | PublicKey) -> dict[str, str]:
    """The public JWK of a key (no private members, no `kid`)."""
    public = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) else key
    if isinstance(public, ec.EllipticCurvePublicKey):
        algorithm_for(public)
        numbers = public.public_numbers()
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url_encode(numbers.x.to_bytes(32, "big")),
            "y": b64url_encode(numbers.y.to_bytes(32, "big")),
        }
    if isinstance(public, ed25519.Ed25519PublicKey):
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw)}
    raise JWKError(f"unsupported key type {type(public).__name__}")


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url) over the required members only."""
    members = _THUMBPRINT_MEMBERS.get(jwk.get("kty", ""))
    if members is None:
        raise JWKError(f"unsupported kty {jwk.get('kty')!r}")
    try:
        canonical = {name: jwk[name] for name in members}
    except KeyError as exc:
        raise JWKError(f"JWK lacks required member {exc.args[0]!r}") from None
    encoded = json.dumps(canonical, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return b64url_encode(hashlib.sha256(encoded.encode("utf-8")).digest())


def load_public_jwk(jwk: Any) -> PublicKey:
    """Import a public JWK, accepting only P-256 EC and Ed25519 keys without private members."""
    if not isinstance(jwk, dict):
        raise JWKError("a JWK must be a JSON object")
    if "d" in jwk:
        raise JWKError("a public JWK must not carry the private member 'd'")
    kty, crv = jwk.get("kty"), jwk.get("crv")
    try:
        if kty == "EC" and crv == "P-256":
            x, y = b64url_decode(jwk["x"]), b64url_decode(jwk["y"])
            if len(x) != 32 or len(y) != 32:
                raise JWKError("P-256 coordinates must be 32 bytes")
            # from_encoded_point validates the point is on the curve, faster than public numbers.
            return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + x + y)
        if kty == "OKP" and crv == "Ed25519":
            x = b64url_decode(jwk["x"])
            if len(x) != 32:
                raise JWKError("an Ed25519 key must be 32 bytes")
            return ed25519.Ed25519PublicKey.from_public_bytes(x)
    except JWKError:
        raise
    except (KeyError, ValueError, TypeError) as exc:
        raise JWKError(f"malformed JWK: {exc}") from None
    raise JWKError(f"unsupported key: kty={kty!r} crv={crv!r}")
