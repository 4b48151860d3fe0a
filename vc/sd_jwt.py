"""Selective Disclosure for JWTs (SD-JWT), RFC 9901: issuance, holder presentation, verification.

Claim paths are tuples in the OpenID4VP claims-path-pointer style: a string names an object
property, a non-negative integer an array element, and `None` every element of an array. The issuer
says which claims are selectively disclosable with a set of such paths; the holder says which claims
to present with another; the verifier reports the paths that were disclosed.

All signatures go through `keys.jws`. Nothing here does I/O.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from keys import jws
from keys.jwk import JWKError, PrivateKey, PublicKey, b64url_decode, b64url_encode, load_public_jwk

SD_ALG = "sha-256"
SD_KEY = "_sd"
SD_ALG_KEY = "_sd_alg"
ARRAY_KEY = "..."
KB_JWT_TYP = "kb+jwt"
SALT_BYTES = 16  # RFC 9901 §4.2.1: at least 128 bits of entropy

ClaimPath = tuple[str | int | None, ...]
# A key, or a resolver called with the issuer JWT's (unverified) header and payload: jws.KeyResolver.
IssuerKey = PublicKey | Callable[[dict[str, Any], dict[str, Any]], PublicKey]

_RESERVED_NAMES = frozenset({SD_KEY, ARRAY_KEY})
_json_decode = jws.decode_json
# Shuffling digests hides the order claims were issued in; SystemRandom so it is not predictable.
_shuffle = random.SystemRandom().shuffle


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what a verifier (or holder parser) will process; all are DoS guards."""

    max_presentation_bytes: int = 256 * 1024
    max_disclosures: int = 512
    max_depth: int = 32


DEFAULT_LIMITS = Limits()


# --------------------------------------------------------------------------------------------
# Errors: one class per failure, each with a stable `reason`.


class SDJWTError(ValueError):
    """Base class: the SD-JWT cannot be accepted. `reason` is a stable machine-readable code."""

    reason = "invalid_sd_jwt"


class MalformedPresentation(SDJWTError):
    reason = "malformed_presentation"


class LimitExceeded(SDJWTError):
    reason = "limit_exceeded"


class MalformedIssuerJWT(SDJWTError):
    reason = "malformed_issuer_jwt"


class IssuerAlgorithmNotAllowed(SDJWTError):
    reason = "issuer_algorithm_not_allowed"


class IssuerJWTWrongType(SDJWTError):
    reason = "issuer_jwt_wrong_typ"


class UnknownIssuerKey(SDJWTError):
    reason = "unknown_issuer_key"


class IssuerSignatureInvalid(SDJWTError):
    reason = "issuer_signature_invalid"


class MalformedDisclosure(SDJWTError):
    reason = "malformed_disclosure"


class ReservedClaimName(SDJWTError):
    reason = "reserved_claim_name"


class DuplicateDisclosure(SDJWTError):
    reason = "duplicate_disclosure"


class DuplicateDigest(SDJWTError):
    reason = "duplicate_digest"


class UnreferencedDisclosure(SDJWTError):
    reason = "unreferenced_disclosure"


class ClaimNameCollision(SDJWTError):
    reason = "claim_name_collision"


class UnsupportedSdAlg(SDJWTError):
    reason = "unsupported_sd_alg"


class SdAlgNotTopLevel(SDJWTError):
    reason = "sd_alg_not_top_level"


class DisclosureTypeMismatch(SDJWTError):
    """An `_sd` digest names an array-element disclosure, or a `...` digest an object-property one."""

    reason = "disclosure_type_mismatch"


class MalformedDigests(SDJWTError):
    reason = "malformed_digests"


class MalformedTimeClaim(SDJWTError):
    reason = "malformed_time_claim"


class Expired(SDJWTError):
    reason = "expired"


class NotYetValid(SDJWTError):
    reason = "not_yet_valid"


class IssuerAudienceMismatch(SDJWTError):
    """The issuer JWT names an audience (`aud`) that does not include this verifier (RFC 7519 §4.1.3)."""

    reason = "issuer_jwt_wrong_aud"


class KeyBindingMissing(SDJWTError):
    reason = "kb_missing"


class UnexpectedKeyBinding(SDJWTError):
    """A KB-JWT came with an SD-JWT that binds no holder key (`cnf`)."""

    reason = "kb_without_cnf"


class UncheckableKeyBinding(SDJWTError):
    """A KB-JWT came although the verifier gave no audience and nonce to check it against."""

    reason = "kb_not_checkable"


class InvalidHolderKey(SDJWTError):
    reason = "invalid_cnf"


class MalformedKeyBinding(SDJWTError):
    reason = "kb_malformed"


class KeyBindingWrongType(SDJWTError):
    reason = "kb_wrong_typ"


class KeyBindingSignatureInvalid(SDJWTError):
    reason = "kb_signature_invalid"


class KeyBindingAudienceMismatch(SDJWTError):
    reason = "kb_wrong_aud"


class KeyBindingNonceMismatch(SDJWTError):
    reason = "kb_wrong_nonce"


class KeyBindingIatInvalid(SDJWTError):
    reason = "kb_iat_invalid"


class KeyBindingHashMismatch(SDJWTError):
    reason = "kb_sd_hash_mismatch"


class KeyBindingTimeInvalid(SDJWTError):
    """The KB-JWT carries an `exp` that has passed or an `nbf` not reached (§7.3: valid in all respects)."""

    reason = "kb_time_invalid"


class IssuanceError(ValueError):
    """The issuer asked for something RFC 9901 cannot express (bad path, reserved claim name, …)."""


class PresentationError(ValueError):
    """The holder asked to present a claim path the credential does not contain."""


# --------------------------------------------------------------------------------------------
# Shared pieces.


def _digest(disclosure: str) -> str:
    # RFC 9901 §4.2.3: the hash input is the ASCII of the base64url disclosure as sent.
    return base64.urlsafe_b64encode(hashlib.sha256(disclosure.encode("ascii")).digest()).rstrip(b"=").decode("ascii")


def _b64url_json(data: str) -> Any:
    """Strict, canonical base64url (keys.jwk) then UTF-8 JSON."""
    return _json_decode(b64url_decode(data).decode("utf-8"))


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class Disclosure(NamedTuple):
    """One decoded disclosure. `name` is None for an array element. (A NamedTuple because it is
    built once per disclosure on the verification hot path, where frozen-dataclass init is slow.)"""

    raw: str
    digest: str
    salt: str
    name: str | None
    value: Any


def make_disclosure(name: str | None, value: Any, salt: str | None = None) -> Disclosure:
    """Create a disclosure for an object property (`name` given) or an array element (`name` None)."""
    salt = salt if salt is not None else b64url_encode(secrets.token_bytes(SALT_BYTES))
    content = [salt, value] if name is None else [salt, name, value]
    raw = b64url_encode(_json(content).encode("utf-8"))
    return Disclosure(raw=raw, digest=_digest(raw), salt=salt, name=name, value=value)


def decode_disclosure(raw: str) -> Disclosure:
    """Decode and check one disclosure string (structure only; whether it is referenced is checked later)."""
    try:
        content = _b64url_json(raw)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, too deep
        raise MalformedDisclosure("a disclosure is not base64url-encoded JSON") from exc
    if type(content) is not list or len(content) not in (2, 3):
        raise MalformedDisclosure("a disclosure must be a JSON array of 2 or 3 elements")
    if type(content[0]) is not str:
        raise MalformedDisclosure("a disclosure salt must be a string")
    if len(content) == 3:
        name = content[1]
        if type(name) is not str:
            raise MalformedDisclosure("a disclosure claim name must be a string")
        if name in _RESERVED_NAMES:
            raise ReservedClaimName(f"a disclosure must not name the reserved claim {name!r}")
        return Disclosure(raw=raw, digest=_digest(raw), salt=content[0], name=name, value=content[2])
    return Disclosure(raw=raw, digest=_digest(raw), salt=content[0], name=None, value=content[1])


# --------------------------------------------------------------------------------------------
# Issuance.


class _PathNode:
    """A trie over claim paths; `disclosable` marks the node itself as selectively disclosable."""

    __slots__ = ("children", "disclosable")

    def __init__(self) -> None:
        self.children: dict[str | int | None, _PathNode] = {}
        self.disclosable = False


def _build_trie(claims: Mapping[str, Any], paths: Iterable[Sequence[str | int | None]]) -> _PathNode:
    root = _PathNode()
    for path in paths:
        path = tuple(path)
        if not path:
            raise IssuanceError("an empty path cannot be selectively disclosable")
        node = root
        for component in path:
            if not (component is None or isinstance(component, str) or (type(component) is int and component >= 0)):
                raise IssuanceError(f"invalid path component {component!r} in {path!r}")
            node = node.children.setdefault(component, _PathNode())
        node.disclosable = True
        if not resolve_path(claims, path):
            raise IssuanceError(f"disclosable path {path!r} does not exist in the claims")
    return root


def _merge_nodes(a: _PathNode | None, b: _PathNode | None) -> _PathNode | None:
    if a is None or b is None:
        return a or b
    merged = _PathNode()
    merged.disclosable = a.disclosable or b.disclosable
    for key in a.children.keys() | b.children.keys():
        merged.children[key] = _merge_nodes(a.children.get(key), b.children.get(key))  # type: ignore[assignment]
    return merged


def _decoy_digest() -> str:
    return b64url_encode(hashlib.sha256(secrets.token_bytes(32)).digest())


def _pack(value: Any, node: _PathNode | None, decoys: int, out: list[Disclosure], path: ClaimPath) -> Any:
    if isinstance(value, dict):
        packed: dict[str, Any] = {}
        digests: list[str] = []
        for key, item in value.items():
            if key in _RESERVED_NAMES or key == SD_ALG_KEY:
                raise IssuanceError(f"claim name {key!r} is reserved by RFC 9901 (at {(*path, key)!r})")
            child = node.children.get(key) if node is not None else None
            packed_item = _pack(item, child, decoys, out, (*path, key))
            if child is not None and child.disclosable:
                disclosure = make_disclosure(key, packed_item)
                out.append(disclosure)
                digests.append(disclosure.digest)
            else:
                packed[key] = packed_item
        if node is not None and any(isinstance(k, int) or k is None for k in node.children):
            raise IssuanceError(f"array path component used on an object at {path!r}")
        if digests:
            digests.extend(_decoy_digest() for _ in range(decoys))
            _shuffle(digests)
            packed[SD_KEY] = digests
        return packed
    if isinstance(value, list):
        if node is not None and any(isinstance(k, str) for k in node.children):
            raise IssuanceError(f"object path component used on an array at {path!r}")
        result: list[Any] = []
        wildcard = node.children.get(None) if node is not None else None
        for index, item in enumerate(value):
            child = _merge_nodes(node.children.get(index), wildcard) if node is not None else None
            packed_item = _pack(item, child, decoys, out, (*path, index))
            if child is not None and child.disclosable:
                disclosure = make_disclosure(None, packed_item)
                out.append(disclosure)
                result.append({ARRAY_KEY: disclosure.digest})
            else:
                result.append(packed_item)
        return result
    if node is not None and node.children:
        raise IssuanceError(f"path continues below the scalar at {path!r}")
    return value


def issue_sd_jwt(
    claims: Mapping[str, Any],
    issuer_key: PrivateKey,
    *,
    disclosable: Iterable[Sequence[str | int | None]] = (),
    decoys: int = 0,
    holder_jwk: Mapping[str, Any] | None = None,
    typ: str | None = None,
    kid: str | None = None,
    headers: Mapping[str, Any] | None = None,
) -> str:
    """Issue an SD-JWT (`<JWT>~<D1>~…~<Dn>~`) over `claims`.

    `disclosable` lists the claim paths that become selectively disclosable: `("address",)` an
    object property, `("address", "street")` a nested one (recursive disclosure when both are
    listed), `("nationalities", 1)` one array element and `("nationalities", None)` each element.
    Every path must exist in `claims`. `decoys` adds that many decoy digests to each `_sd` array.
    `holder_jwk` becomes `cnf.jwk` (always plainly visible).
    """
    if decoys < 0:
        raise IssuanceError("decoys must not be negative")
    root = _build_trie(claims, disclosable)
    disclosures: list[Disclosure] = []
    payload = _pack(dict(claims), root, decoys, disclosures, ())
    if "cnf" in payload and holder_jwk is not None:
        raise IssuanceError("give the holder key either as holder_jwk or as a cnf claim, not both")
    if holder_jwk is not None:
        payload["cnf"] = {"jwk": dict(holder_jwk)}
    payload[SD_ALG_KEY] = SD_ALG
    token = jws.sign(payload, issuer_key, typ=typ, kid=kid, headers=dict(headers or {}))
    return "~".join([token, *(d.raw for d in disclosures), ""])


# --------------------------------------------------------------------------------------------
# Processing (shared by holder and verifier).


class _Processor:
    """Replaces digests by disclosed values (RFC 9901 §7.1 steps 3-5) and records claim paths."""

    __slots__ = ("by_digest", "limits", "paths", "seen", "used")

    def __init__(self, by_digest: dict[str, Disclosure], limits: Limits) -> None:
        self.by_digest = by_digest
        self.limits = limits
        self.seen: set[str] = set()
        self.used = 0
        self.paths: dict[str, ClaimPath] = {}

    def _claim_digest(self, digest: Any) -> Disclosure | None:
        if type(digest) is not str:
            raise MalformedDigests("a digest must be a string")
        if digest in self.seen:
            raise DuplicateDigest("a digest appears more than once")
        self.seen.add(digest)
        disclosure = self.by_digest.get(digest)
        if disclosure is not None:
            self.used += 1
        return disclosure

    def _claim_digests(self, digests: list[Any]) -> list[Disclosure]:
        # Set operations in C instead of a Python loop per digest: most digests are undisclosed
        # claims or decoys, so only the disclosed ones are looked at one by one.
        if not set(map(type, digests)) <= {str}:
            raise MalformedDigests("a digest must be a string")
        before = len(self.seen)
        self.seen.update(digests)
        if len(self.seen) != before + len(digests):
            raise DuplicateDigest("a digest appears more than once")
        by_digest = self.by_digest
        found = [by_digest[d] for d in digests if d in by_digest] if by_digest else []
        self.used += len(found)
        return found

    def object(self, obj: dict[str, Any], path: ClaimPath, depth: int) -> dict[str, Any]:
        if depth > self.limits.max_depth:
            raise LimitExceeded("claims are nested too deeply")
        out: dict[str, Any] = {}
        digests = None
        for key, value in obj.items():
            if key == SD_KEY:
                digests = value
            elif key == SD_ALG_KEY:
                # The top level removes _sd_alg before calling; anywhere else it is misplaced.
                raise SdAlgNotTopLevel("_sd_alg may only appear at the top level")
            elif type(value) is dict:
                out[key] = self.object(value, (*path, key), depth + 1)
            elif type(value) is list:
                out[key] = self.array(value, (*path, key), depth + 1)
            else:
                out[key] = value
        if digests is not None:
            if type(digests) is not list:
                raise MalformedDigests("_sd must be an array")
            for disclosure in self._claim_digests(digests):
                name = disclosure.name
                if name is None:
                    raise DisclosureTypeMismatch("an _sd digest refers to an array-element disclosure")
                if name in out:
                    raise ClaimNameCollision(f"disclosed claim {name!r} already exists at this level")
                claim_path = (*path, name)
                self.paths[disclosure.digest] = claim_path
                out[name] = self.value(disclosure.value, claim_path, depth + 1)
        return out

    def array(self, arr: list[Any], path: ClaimPath, depth: int) -> list[Any]:
        if depth > self.limits.max_depth:
            raise LimitExceeded("claims are nested too deeply")
        out: list[Any] = []
        for element in arr:
            if type(element) is dict and ARRAY_KEY in element and len(element) == 1:
                disclosure = self._claim_digest(element[ARRAY_KEY])
                if disclosure is None:
                    continue  # RFC 9901 §7.1 3.3.2.2: undisclosed elements are dropped
                if disclosure.name is not None:
                    raise DisclosureTypeMismatch("a '...' digest refers to an object-property disclosure")
                claim_path = (*path, len(out))
                self.paths[disclosure.digest] = claim_path
                out.append(self.value(disclosure.value, claim_path, depth + 1))
            else:
                out.append(self.value(element, (*path, len(out)), depth + 1))
        return out

    def value(self, value: Any, path: ClaimPath, depth: int) -> Any:
        if type(value) is dict:
            return self.object(value, path, depth)
        if type(value) is list:
            return self.array(value, path, depth)
        return value


def _split(presentation: str, limits: Limits) -> tuple[str, list[str], str]:
    if not isinstance(presentation, str):
        raise MalformedPresentation("an SD-JWT must be a string")
    if len(presentation) > limits.max_presentation_bytes:
        raise LimitExceeded("the SD-JWT is too large")
    if not presentation.isascii():
        raise MalformedPresentation("an SD-JWT is ASCII only")
    parts = presentation.split("~")
    if len(parts) < 2:
        raise MalformedPresentation("an SD-JWT must contain '~' separators (the trailing '~' is required)")
    disclosures = parts[1:-1]
    if len(disclosures) > limits.max_disclosures:
        raise LimitExceeded("too many disclosures")
    for raw in disclosures:
        if not raw:
            raise MalformedPresentation("empty disclosure between '~' separators")
    return parts[0], disclosures, parts[-1]


def _index_disclosures(raws: list[str]) -> dict[str, Disclosure]:
    by_digest: dict[str, Disclosure] = {}
    for raw in raws:
        disclosure = decode_disclosure(raw)
        if disclosure.digest in by_digest:
            raise DuplicateDisclosure("the same disclosure is sent twice")
        by_digest[disclosure.digest] = disclosure
    return by_digest


def _process(
    payload: dict[str, Any], by_digest: dict[str, Disclosure], limits: Limits
) -> tuple[dict[str, Any], _Processor]:
    sd_alg = payload.get(SD_ALG_KEY, SD_ALG)
    if sd_alg != SD_ALG:
        raise UnsupportedSdAlg(f"_sd_alg {sd_alg!r} is not supported")
    top = payload
    if SD_ALG_KEY in payload:
        top = dict(payload)
        del top[SD_ALG_KEY]
    processor = _Processor(by_digest, limits)
    claims = processor.object(top, (), 0)
    if processor.used != len(by_digest):
        raise UnreferencedDisclosure("a disclosure is not referenced by any digest")
    return claims, processor


# --------------------------------------------------------------------------------------------
# Holder.


def _path_matches(pattern: ClaimPath, concrete: ClaimPath) -> bool:
    """Whether `concrete` (no wildcards) is the node `pattern` points to, or lies on the way to it,
    or below it."""
    for p, c in zip(pattern, concrete, strict=False):
        if p is None:
            if not isinstance(c, int):
                return False
        elif p != c:
            return False
    return True


@dataclass(frozen=True)
class SDJWT:
    """A parsed SD-JWT as a holder keeps it (signature not checked: the holder trusts its own store).

    `claims` are the processed claims with every disclosure applied; `disclosure_paths` maps each
    disclosure's digest to its claim path in `claims`.
    """

    issuer_jwt: str
    header: dict[str, Any]
    payload: dict[str, Any]
    disclosures: tuple[Disclosure, ...]
    kb_jwt: str
    claims: dict[str, Any]
    disclosure_paths: Mapping[str, ClaimPath] = field(repr=False)

    def disclosable_paths(self) -> list[ClaimPath]:
        """The claim paths of all selectively disclosable claims, in disclosure order."""
        return [self.disclosure_paths[d.digest] for d in self.disclosures]

    def disclosures_for(self, paths: Iterable[Sequence[str | int | None]]) -> list[Disclosure]:
        """The disclosures needed to present `paths`: each claim, its whole subtree, and the
        disclosures of its parents (so nested disclosures can be resolved)."""
        patterns = [tuple(p) for p in paths]
        for pattern in patterns:
            if not resolve_path(self.claims, pattern):
                raise PresentationError(f"the credential has no claim at {pattern!r}")
        return [d for d in self.disclosures if any(_path_matches(p, self.disclosure_paths[d.digest]) for p in patterns)]


def parse_sd_jwt(sd_jwt: str, *, limits: Limits = DEFAULT_LIMITS) -> SDJWT:
    """Parse an SD-JWT (as issued or stored) for the holder, with the same structural checks the
    verifier applies, but without verifying the issuer signature."""
    issuer_jwt, raws, kb_jwt = _split(sd_jwt, limits)
    try:
        header = jws.read_header(issuer_jwt)
        payload = json.loads(b64url_decode(issuer_jwt.split(".")[1]))
    except (jws.JWSError, ValueError, UnicodeDecodeError) as exc:
        raise MalformedIssuerJWT("the issuer JWT cannot be decoded") from exc
    if not isinstance(payload, dict):
        raise MalformedIssuerJWT("the issuer JWT payload is not a JSON object")
    by_digest = _index_disclosures(raws)
    claims, processor = _process(payload, by_digest, limits)
    return SDJWT(
        issuer_jwt=issuer_jwt,
        header=header,
        payload=payload,
        disclosures=tuple(by_digest.values()),
        kb_jwt=kb_jwt,
        claims=claims,
        disclosure_paths=processor.paths,
    )


def sd_hash(presented_sd_jwt: str) -> str:
    """`sd_hash` for a KB-JWT: base64url SHA-256 of `<JWT>~<D1>~…~<Dn>~` exactly as presented."""
    return b64url_encode(hashlib.sha256(presented_sd_jwt.encode("ascii")).digest())


def create_presentation(
    sd_jwt: SDJWT | str,
    disclose: Iterable[Sequence[str | int | None]],
    *,
    holder_key: PrivateKey | None = None,
    aud: str | None = None,
    nonce: str | None = None,
    iat: int | None = None,
) -> str:
    """Present the claims at the paths in `disclose` (parents included), with a KB-JWT when
    `holder_key` is given (then `aud`, `nonce` and `iat` are required)."""
    parsed = parse_sd_jwt(sd_jwt) if isinstance(sd_jwt, str) else sd_jwt
    chosen = parsed.disclosures_for(disclose)
    presented = "~".join([parsed.issuer_jwt, *(d.raw for d in chosen), ""])
    if holder_key is None:
        return presented
    if not isinstance(aud, str) or not isinstance(nonce, str) or type(iat) is not int:
        raise PresentationError("a key binding JWT needs a string aud, a string nonce and an integer iat")
    kb_payload = {"iat": iat, "aud": aud, "nonce": nonce, "sd_hash": sd_hash(presented)}
    return presented + jws.sign(kb_payload, holder_key, typ=KB_JWT_TYP)


# --------------------------------------------------------------------------------------------
# Verifier.


@dataclass(frozen=True, slots=True)
class VerifiedSDJWT:
    """The outcome of a successful verification."""

    claims: dict[str, Any]  # processed: disclosures applied, _sd/_sd_alg removed
    header: dict[str, Any]  # issuer JWT protected header
    payload: dict[str, Any]  # issuer JWT payload as signed
    disclosed_paths: frozenset[ClaimPath]  # claim paths (into `claims`) revealed by disclosures
    key_binding: dict[str, Any] | None  # KB-JWT payload, when one was verified
    key_binding_header: dict[str, Any] | None = None


_JWS_TO_ISSUER_ERROR: dict[type[jws.JWSError], type[SDJWTError]] = {
    jws.AlgorithmNotAllowed: IssuerAlgorithmNotAllowed,
    jws.WrongType: IssuerJWTWrongType,
    jws.UnknownKey: UnknownIssuerKey,
    jws.InvalidSignature: IssuerSignatureInvalid,
}


def _numeric(payload: Mapping[str, Any], name: str) -> float | None:
    value = payload.get(name)
    if value is None:
        return None
    if type(value) not in (int, float):
        raise MalformedTimeClaim(f"{name} must be a number")
    return value


def check_time_claims(claims: Mapping[str, Any], now: int, skew: int) -> None:
    """Reject expired or not-yet-valid claims (`exp`, `nbf`), allowing `skew` seconds of clock drift,
    and an `iat` that is not a number (RFC 7519 §4.1.6: a NumericDate)."""
    _numeric(claims, "iat")
    exp = _numeric(claims, "exp")
    if exp is not None and now >= exp + skew:
        raise Expired("the SD-JWT has expired")
    nbf = _numeric(claims, "nbf")
    if nbf is not None and now + skew < nbf:
        raise NotYetValid("the SD-JWT is not valid yet")


def verify_sd_jwt(
    presentation: str,
    issuer_key: IssuerKey,
    *,
    require_key_binding: bool,
    expected_aud: str | None = None,
    expected_nonce: str | None = None,
    now: int,
    iat_skew: int = 60,
    max_age: int = 300,
    algorithms: Iterable[str] = jws.ALLOWED_ALGORITHMS,
    kb_algorithms: Iterable[str] | None = None,
    typ: str | Iterable[str] | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> VerifiedSDJWT:
    """Verify an SD-JWT or SD-JWT+KB presentation as RFC 9901 §7 requires.

    `issuer_key` is the issuer's public key or a resolver over keys the caller already trusts
    (called with the issuer JWT header). Key binding is a policy: with `require_key_binding` a
    KB-JWT must be present, signed by `cnf.jwk`, with `aud == expected_aud`, `nonce ==
    expected_nonce`, `iat` within `[now - max_age - iat_skew, now + iat_skew]` and the right
    `sd_hash`. A KB-JWT that comes unrequested is verified just as strictly. `iat_skew` also serves
    as the clock skew for `exp`/`nbf`. Raises a subclass of `SDJWTError`.
    """
    issuer_jwt, raws, kb_jwt = _split(presentation, limits)
    if require_key_binding and (expected_aud is None or expected_nonce is None):
        raise TypeError("expected_aud and expected_nonce are required when key binding is required")
    if require_key_binding and not kb_jwt:
        raise KeyBindingMissing("key binding is required but no KB-JWT was presented")

    try:
        verified = jws.verify(issuer_jwt, issuer_key, algorithms=algorithms, typ=typ)
    except jws.JWSError as exc:
        error = next((e for base, e in _JWS_TO_ISSUER_ERROR.items() if isinstance(exc, base)), MalformedIssuerJWT)
        raise error(f"issuer JWT: {exc}") from exc
    payload = verified.payload

    by_digest = _index_disclosures(raws)
    claims, processor = _process(payload, by_digest, limits)
    check_time_claims(claims, now, iat_skew)
    _check_audience(claims, expected_aud)

    kb_payload = kb_header = None
    if kb_jwt:
        if expected_aud is None or expected_nonce is None:
            # Never accept a binding we cannot check: fail closed rather than ignore it.
            raise UncheckableKeyBinding("a KB-JWT was presented but no expected aud/nonce was given")
        kb_header, kb_payload = _verify_key_binding(
            presentation,
            kb_jwt,
            payload.get("cnf"),
            expected_aud=expected_aud,  # type: ignore[arg-type]
            expected_nonce=expected_nonce,  # type: ignore[arg-type]
            now=now,
            iat_skew=iat_skew,
            max_age=max_age,
            algorithms=algorithms if kb_algorithms is None else kb_algorithms,
        )
    return VerifiedSDJWT(
        claims=claims,
        header=verified.header,
        payload=payload,
        disclosed_paths=frozenset(processor.paths.values()),
        key_binding=kb_payload,
        key_binding_header=kb_header,
    )


def _check_audience(claims: Mapping[str, Any], expected_aud: str | None) -> None:
    # An issuer JWT usually has no `aud`. One that has must name this verifier (RFC 7519 §4.1.3);
    # a holder checking its own credential (no audience of its own) refuses one that names anyone.
    if "aud" not in claims:
        return
    aud = claims["aud"]
    audiences = [aud] if isinstance(aud, str) else aud
    if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
        raise MalformedIssuerJWT("issuer JWT aud must be a string or an array of strings")
    if expected_aud is None or expected_aud not in audiences:
        raise IssuerAudienceMismatch("the issuer JWT is meant for another audience")


def _verify_key_binding(
    presentation: str,
    kb_jwt: str,
    cnf: Any,
    *,
    expected_aud: str,
    expected_nonce: str,
    now: int,
    iat_skew: int,
    max_age: int,
    algorithms: Iterable[str],
) -> tuple[dict[str, Any], dict[str, Any]]:
    if cnf is None:
        raise UnexpectedKeyBinding("a KB-JWT was presented but the SD-JWT binds no holder key (cnf)")
    if not isinstance(cnf, dict) or "jwk" not in cnf:
        raise InvalidHolderKey("cnf must carry a jwk")
    try:
        holder_key = load_public_jwk(cnf["jwk"])
    except JWKError as exc:
        raise InvalidHolderKey(f"cnf.jwk: {exc}") from exc
    try:
        verified = jws.verify(kb_jwt, holder_key, algorithms=algorithms, typ=KB_JWT_TYP)
    except jws.WrongType as exc:
        raise KeyBindingWrongType(f"KB-JWT typ must be {KB_JWT_TYP}") from exc
    except jws.InvalidSignature as exc:
        raise KeyBindingSignatureInvalid("the KB-JWT is not signed by the cnf key") from exc
    except jws.JWSError as exc:
        raise MalformedKeyBinding(f"KB-JWT: {exc}") from exc
    kb = verified.payload
    if kb.get("aud") != expected_aud:
        raise KeyBindingAudienceMismatch("KB-JWT aud does not match")
    if kb.get("nonce") != expected_nonce:
        raise KeyBindingNonceMismatch("KB-JWT nonce does not match")
    iat = kb.get("iat")
    if type(iat) not in (int, float):
        raise KeyBindingIatInvalid("KB-JWT iat missing or not a number")
    if iat > now + iat_skew or iat < now - max_age - iat_skew:
        raise KeyBindingIatInvalid("KB-JWT iat is outside the acceptable window")
    try:
        check_time_claims(kb, now, iat_skew)
    except (Expired, NotYetValid, MalformedTimeClaim) as exc:
        raise KeyBindingTimeInvalid(f"KB-JWT: {exc}") from None
    # The KB-JWT signs the presentation exactly as sent: everything up to and including the last '~'.
    if kb.get("sd_hash") != sd_hash(presentation[: len(presentation) - len(kb_jwt)]):
        raise KeyBindingHashMismatch("KB-JWT sd_hash does not match the presentation")
    return verified.header, kb


# --------------------------------------------------------------------------------------------
# Claim path resolution (OpenID4VP 1.0 §7, used by DCQL and by presentation).


class ClaimPathTypeError(ValueError):
    """A claims path pointer stepped over an element of the wrong type (OpenID4VP 1.0 §7.1:
    processing aborts with an error)."""


def resolve_path(claims: Any, path: Sequence[str | int | None], *, strict: bool = False) -> list[tuple[ClaimPath, Any]]:
    """All (concrete path, value) pairs a claims path pointer selects; empty when none.

    Strings select object keys, integers array elements, `None` all elements of an array. With
    `strict` (DCQL, OpenID4VP 1.0 §7.1), a selected element of the wrong type for the next step (a
    key asked of an array, an index of an object) raises `ClaimPathTypeError` instead of being
    dropped; a missing key or index still only drops that element.
    """
    selected: list[tuple[ClaimPath, Any]] = [((), claims)]
    for component in path:
        next_selected: list[tuple[ClaimPath, Any]] = []
        for concrete, value in selected:
            if isinstance(component, str):
                if isinstance(value, dict):
                    if component in value:
                        next_selected.append(((*concrete, component), value[component]))
                elif strict:
                    raise ClaimPathTypeError(f"{list(concrete)!r} is not an object")
            elif component is None or (type(component) is int and component >= 0):
                if not isinstance(value, list):
                    if strict:
                        raise ClaimPathTypeError(f"{list(concrete)!r} is not an array")
                elif component is None:
                    next_selected.extend(((*concrete, i), v) for i, v in enumerate(value))
                elif component < len(value):
                    next_selected.append(((*concrete, component), value[component]))
            else:
                raise ValueError(f"invalid path component {component!r}")
        selected = next_selected
        if not selected:
            break
    return selected
