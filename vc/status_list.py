"""Token Status List, draft-ietf-oauth-status-list-20: the list, its compression, and the JWT form.

Statuses are packed least-significant-bit first into bytes (§4.1), the byte array is ZLIB
(RFC 1950) compressed and base64url-encoded as `lst`. The Status List Token is a JWT with
`typ: statuslist+jwt`, signed through `keys.jws`. No I/O here: fetching and caching by `ttl` belong
to the caller.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from keys import jws
from keys.jwk import PrivateKey, b64url_decode, b64url_encode

VALID = 0
INVALID = 1
SUSPENDED = 2

STATUS_LIST_TYP = "statuslist+jwt"
ALLOWED_BITS = (1, 2, 4, 8)
# Decompression bomb guard: 16 MiB is room for 128 million 1-bit statuses.
MAX_DECOMPRESSED_BYTES = 16 * 1024 * 1024


class StatusListError(ValueError):
    """Base class: a status list or Status List Token cannot be accepted."""

    reason = "invalid_status_list"


class MalformedStatusList(StatusListError):
    reason = "malformed_status_list"


class StatusListTooLarge(StatusListError):
    reason = "status_list_too_large"


class IndexOutOfRange(StatusListError):
    reason = "status_index_out_of_range"


class StatusListTokenInvalid(StatusListError):
    """The token's signature, algorithm or structure is unacceptable (`__cause__` has the JWS error)."""

    reason = "status_list_token_invalid"


class StatusListWrongType(StatusListError):
    reason = "status_list_wrong_typ"


class StatusListSubjectMismatch(StatusListError):
    reason = "status_list_sub_mismatch"


class StatusListNotYetValid(StatusListError):
    reason = "status_list_not_yet_valid"


class StatusListExpired(StatusListError):
    reason = "status_list_expired"


class StatusList:
    """A fixed-size array of statuses of `bits` bits each (1, 2, 4 or 8)."""

    __slots__ = ("_data", "bits")

    def __init__(self, size: int, bits: int = 1) -> None:
        """An all-VALID list with room for `size` statuses (rounded up to whole bytes)."""
        if bits not in ALLOWED_BITS:
            raise MalformedStatusList(f"bits must be one of {ALLOWED_BITS}")
        if size < 0:
            raise MalformedStatusList("size must not be negative")
        self.bits = bits
        self._data = bytearray((size * bits + 7) // 8)

    @classmethod
    def from_bytes(cls, data: bytes, bits: int) -> StatusList:
        """A list over an already packed byte array."""
        status_list = cls(0, bits)
        status_list._data = bytearray(data)
        return status_list

    def __len__(self) -> int:
        return len(self._data) * 8 // self.bits

    @property
    def size(self) -> int:
        """How many statuses the list holds."""
        return len(self)

    def _locate(self, index: int) -> tuple[int, int]:
        if type(index) is not int or index < 0 or index >= len(self):
            raise IndexOutOfRange(f"index {index!r} is outside the status list (size {len(self)})")
        bit = index * self.bits
        return bit // 8, bit % 8

    def get(self, index: int) -> int:
        """The status at `index`; `IndexOutOfRange` outside the list."""
        byte, shift = self._locate(index)
        return (self._data[byte] >> shift) & ((1 << self.bits) - 1)

    def set(self, index: int, status: int) -> None:
        """Set the status at `index` (must fit in `bits`)."""
        if type(status) is not int or not 0 <= status < (1 << self.bits):
            raise MalformedStatusList(f"status {status!r} does not fit in {self.bits} bits")
        byte, shift = self._locate(index)
        mask = ((1 << self.bits) - 1) << shift
        self._data[byte] = (self._data[byte] & ~mask) | (status << shift)

    def to_bytes(self) -> bytes:
        """The packed byte array (before compression)."""
        return bytes(self._data)

    def compress(self) -> str:
        """The `lst` value: base64url(zlib(bytes)), at the highest compression level."""
        return b64url_encode(zlib.compress(bytes(self._data), 9))

    @classmethod
    def decompress(cls, lst: str, bits: int, *, max_bytes: int = MAX_DECOMPRESSED_BYTES) -> StatusList:
        """Parse an `lst` value, refusing lists that decompress to more than `max_bytes`."""
        if bits not in ALLOWED_BITS:
            raise MalformedStatusList(f"bits must be one of {ALLOWED_BITS}")
        try:
            compressed = b64url_decode(lst)
        except ValueError as exc:
            raise MalformedStatusList("lst is not base64url") from exc
        inflater = zlib.decompressobj()
        try:
            data = inflater.decompress(compressed, max_bytes)
        except zlib.error as exc:
            raise MalformedStatusList("lst is not ZLIB data") from exc
        if inflater.unconsumed_tail:
            raise StatusListTooLarge(f"the status list decompresses to more than {max_bytes} bytes")
        if not inflater.eof or inflater.unused_data:
            raise MalformedStatusList("lst is truncated or has trailing data")
        return cls.from_bytes(data, bits)

    def to_json(self) -> dict[str, Any]:
        """The `status_list` claim value `{bits, lst}`."""
        return {"bits": self.bits, "lst": self.compress()}


def build_status_list_token(
    status_list: StatusList,
    issuer_key: PrivateKey,
    *,
    uri: str,
    iat: int,
    exp: int | None = None,
    ttl: int | None = None,
    kid: str | None = None,
) -> str:
    """A signed Status List Token (`typ: statuslist+jwt`, `sub` = the list's URI)."""
    payload: dict[str, Any] = {"sub": uri, "iat": iat, "status_list": status_list.to_json()}
    if exp is not None:
        payload["exp"] = exp
    if ttl is not None:
        payload["ttl"] = ttl
    return jws.sign(payload, issuer_key, typ=STATUS_LIST_TYP, kid=kid)


@dataclass(frozen=True, slots=True)
class VerifiedStatusList:
    """A verified Status List Token: its header, payload and the decoded list."""

    header: dict[str, Any]
    payload: dict[str, Any]
    status_list: StatusList

    def status(self, index: int) -> int:
        """The status of the referenced token at `index` (`IndexOutOfRange` is a reject)."""
        return self.status_list.get(index)


def verify_status_list_token(
    token: str,
    key: jws.PublicKey | jws.KeyResolver,
    *,
    expected_uri: str,
    now: int,
    skew: int = 60,
    algorithms: Iterable[str] = jws.ALLOWED_ALGORITHMS,
    max_bytes: int = MAX_DECOMPRESSED_BYTES,
) -> VerifiedStatusList:
    """Verify a Status List Token: signature, `typ`, `sub == expected_uri` (exactly), `exp`, and a
    well-formed, bounded `status_list`."""
    try:
        verified = jws.verify(token, key, algorithms=algorithms, typ=STATUS_LIST_TYP)
    except jws.WrongType as exc:
        raise StatusListWrongType(f"typ must be {STATUS_LIST_TYP}") from exc
    except jws.JWSError as exc:
        raise StatusListTokenInvalid(str(exc)) from exc
    payload = verified.payload
    if payload.get("sub") != expected_uri:
        raise StatusListSubjectMismatch("sub does not equal the status list URI")
    for name in ("iat", "exp", "nbf", "ttl"):
        if name in payload and (type(payload[name]) not in (int, float) or payload[name] != payload[name]):
            raise MalformedStatusList(f"{name} must be a number")  # NaN cannot come from JSON, but a type can
    if "iat" not in payload:  # draft -20 §5.1: iat is REQUIRED
        raise MalformedStatusList("the status list token has no iat")
    if payload["iat"] > now + skew:
        raise StatusListNotYetValid("the status list token was issued in the future")
    if "nbf" in payload and now + skew < payload["nbf"]:
        raise StatusListNotYetValid("the status list token is not valid yet (nbf)")
    exp = payload.get("exp")
    if exp is not None and now >= exp + skew:
        raise StatusListExpired("the status list token has expired")
    if "ttl" in payload and payload["ttl"] <= 0:  # §5.1: a positive number of seconds
        raise MalformedStatusList("ttl must be a positive number")
    claim = payload.get("status_list")
    if not isinstance(claim, dict) or type(claim.get("bits")) is not int or not isinstance(claim.get("lst"), str):
        raise MalformedStatusList("status_list must be {bits, lst}")
    status_list = StatusList.decompress(claim["lst"], claim["bits"], max_bytes=max_bytes)
    return VerifiedStatusList(header=verified.header, payload=payload, status_list=status_list)


def status_reference(claims: dict[str, Any]) -> tuple[int, str] | None:
    """The (`idx`, `uri`) a Referenced Token points to via `status.status_list`, or None when it
    carries no status list reference."""
    status = claims.get("status")
    if status is None:
        return None
    ref = status.get("status_list") if isinstance(status, dict) else None
    if ref is None and isinstance(status, dict):
        return None
    if not isinstance(ref, dict):
        raise MalformedStatusList("status.status_list must be an object")
    idx, uri = ref.get("idx"), ref.get("uri")
    if type(idx) is not int or idx < 0 or not isinstance(uri, str) or not uri:
        raise MalformedStatusList("status.status_list needs a non-negative integer idx and a uri")
    return idx, uri
