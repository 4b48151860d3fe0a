"""OpenID4VP 1.0 authorization requests as the wallet receives them, authenticated before anything
is shown or sent.

A request arrives as an `openid4vp://` link or as the parameters of the wallet's own authorization
endpoint: by value, or as a request object (`request`, or `request_uri` fetched through
`outbound.urls`, since the wallet runs on a server and fetches whatever URL a citizen pastes). The
client identifier prefix says how the verifier is authenticated (§5.9.3):

- `x509_san_dns:<name>`: a signed request object (`typ: oauth-authz-req+jwt`, ES256 or EdDSA) whose
  `x5c` leaf chains to one of the wallet's trust anchors, has `<name>` as a dNSName SAN, and whose
  `response_uri` is on `<name>`;
- `x509_hash:<h>`: the same chain check, and `<h>` is base64url(SHA-256(DER of the leaf));
- `redirect_uri:<response URI>`: unsigned, passed by value, development mode only: nobody vouches
  for such a verifier, so it is shown as unverified.

Every refusal is a `SharingRefused` (wallet/present_errors.py) with a stable `reason`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import rfc8785
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from keys import jws
from keys.jwk import b64url_encode
from outbound.urls import FetchFailed, UnsafeURL, check_client_url, fetch_bounded
from vc.canonical_json import canonical_json
from vc.dcql import DCQLError, DCQLQuery, parse_query
from wallet.present_errors import SharingRefused

REQUEST_OBJECT_TYP = "oauth-authz-req+jwt"
ALGORITHMS = ("ES256", "EdDSA")
# Static discovery (§5.8, §13.1.2): a request object for a wallet whose metadata the verifier has
# not been given names this audience, if it names one at all.
SELF_ISSUED_AUDIENCE = "https://self-issued.me/v2"
SUPPORTED_PREFIXES = ("x509_san_dns", "x509_hash", "redirect_uri")
LINK_SCHEME = "openid4vp"
MAX_LINK_CHARS = 16 * 1024
MAX_REQUEST_OBJECT_BYTES = 64 * 1024
MAX_CHAIN_CERTIFICATES = 5
# The holder keys the vault makes are ES256: a verifier must accept that for key binding.
HOLDER_ALGORITHM = "ES256"


@dataclass(frozen=True)
class AuthorizationRequest:
    """A request whose client identifier was authenticated as its prefix requires. `params` are the
    request as shown (the request object's claims, or the parameters passed by value)."""

    client_id: str  # the full client identifier, prefix included: the KB-JWT's `aud`
    prefix: str
    params: dict[str, Any]
    response_uri: str
    nonce: str
    state: str
    dcql_query: dict[str, Any]
    query: DCQLQuery
    signed: bool
    # SHA-256 (hex) over the RFC 8785 JSON of the request as shown. For a signed request it is what
    # the verifier computes over its own request object's claims: both sides can name what was asked.
    notice_sha256: str
    request_uri: str | None = None
    expires_at: int | None = None
    # For signed requests: the leaf certificate and the trust anchor its chain ended at.
    certificate: x509.Certificate | None = field(default=None, repr=False)
    anchor: x509.Certificate | None = field(default=None, repr=False)

    @property
    def response_host(self) -> str:
        return urlsplit(self.response_uri).hostname or ""


def load_trust_anchors(pems: Sequence[str | bytes]) -> list[x509.Certificate]:
    """Certificates from PEM texts (each may hold several)."""
    anchors: list[x509.Certificate] = []
    for pem in pems:
        anchors.extend(x509.load_pem_x509_certificates(pem.encode() if isinstance(pem, str) else pem))
    return anchors


# -- reading the request -------------------------------------------------------------------------


def request_parameters(link_or_params: str | Mapping[str, str]) -> dict[str, str]:
    """The authorization request parameters of an `openid4vp://` link, or the wallet endpoint's
    parameters as given. A parameter sent twice is refused (RFC 6749 §3.1)."""
    if isinstance(link_or_params, Mapping):
        params = dict(link_or_params)
    else:
        link = link_or_params.strip() if isinstance(link_or_params, str) else ""
        if not link or len(link) > MAX_LINK_CHARS:
            raise SharingRefused("malformed_request", "not a sharing request link")
        parts = urlsplit(link)
        if parts.scheme.lower() != LINK_SCHEME:
            raise SharingRefused("malformed_request", f"a sharing request link starts with {LINK_SCHEME}://")
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        params = dict(pairs)
        if len(params) != len(pairs):
            raise SharingRefused("malformed_request", "a parameter is repeated")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in params.items()):
        raise SharingRefused("malformed_request", "parameters must be text")
    return params


def _json_parameter(params: Mapping[str, Any], name: str, required: bool) -> Any:
    value = params.get(name)
    if value is None:
        if required:
            raise SharingRefused("malformed_request", f"no {name}")
        return None
    if isinstance(value, str):  # by value in a link, JSON objects travel as strings
        try:
            value = jws.decode_json(value)
        except (ValueError, RecursionError):
            raise SharingRefused("malformed_request", f"{name} is not JSON") from None
    if not isinstance(value, dict):
        raise SharingRefused("malformed_request", f"{name} is not a JSON object")
    return value


def _client_id_prefix(client_id: Any) -> tuple[str, str]:
    if not isinstance(client_id, str) or not client_id:
        raise SharingRefused("malformed_request", "no client_id")
    prefix, colon, rest = client_id.partition(":")
    if not colon or prefix not in SUPPORTED_PREFIXES or not rest:
        raise SharingRefused("unsupported_client_id_prefix", client_id[:200])
    return prefix, rest


# -- signed request objects ----------------------------------------------------------------------


def _certificates(header: Mapping[str, Any]) -> list[x509.Certificate]:
    x5c = header.get("x5c")
    if not isinstance(x5c, list) or not x5c or len(x5c) > MAX_CHAIN_CERTIFICATES:
        raise SharingRefused("certificate_missing")
    chain = []
    for entry in x5c:
        try:
            # RFC 7515 §4.1.6: standard base64 (not base64url) of the DER.
            der = base64.b64decode(entry, validate=True) if isinstance(entry, str) else b""
            chain.append(x509.load_der_x509_certificate(der))
        except (binascii.Error, ValueError):
            raise SharingRefused("certificate_malformed") from None
    return chain


def _verify_chain(
    chain: list[x509.Certificate], anchors: Sequence[x509.Certificate], now: float
) -> tuple[x509.Certificate, x509.Certificate]:
    """(leaf, trust anchor) when the x5c chain verifies to an anchor (RFC 5280 path validation by
    cryptography; the leaf is a client certificate: an EKU, if present, allows client auth)."""
    if not anchors:
        raise SharingRefused("untrusted_certificate", "no trust anchor is configured")
    verifier = (
        PolicyBuilder()
        .store(Store(list(anchors)))
        .time(dt.datetime.fromtimestamp(now, dt.UTC))
        .max_chain_depth(MAX_CHAIN_CERTIFICATES)
        .build_client_verifier()
    )
    try:
        verified = verifier.verify(chain[0], chain[1:])
    except VerificationError:
        raise SharingRefused("untrusted_certificate") from None
    return chain[0], verified.chain[-1]


def _dns_names(certificate: x509.Certificate) -> set[str]:
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {name.lower().rstrip(".") for name in san.get_values_for_type(x509.DNSName)}


def certificate_hash(certificate: x509.Certificate) -> str:
    """The `x509_hash` value of a certificate: base64url(SHA-256(DER))."""
    return b64url_encode(hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).digest())


def _verify_request_object(
    token: str, link_client_id: str, prefix: str, identifier: str, anchors: Sequence[x509.Certificate], now: float
) -> tuple[dict[str, Any], x509.Certificate, x509.Certificate]:
    try:
        header = jws.read_header(token)
    except jws.JWSError:
        raise SharingRefused("malformed_request_object") from None
    if jws.media_type(header.get("typ")) != jws.media_type(REQUEST_OBJECT_TYP):
        raise SharingRefused("wrong_request_object_typ")
    if header.get("alg") not in ALGORITHMS:
        raise SharingRefused("algorithm_not_allowed")
    leaf, anchor = _verify_chain(_certificates(header), anchors, now)
    try:
        payload = jws.verify(
            token, leaf.public_key(), algorithms=ALGORITHMS, typ=REQUEST_OBJECT_TYP, allowed_key_headers={"x5c"}
        ).payload  # type: ignore[arg-type]
    except jws.AlgorithmNotAllowed:
        raise SharingRefused("algorithm_not_allowed") from None
    except jws.JWSError:
        raise SharingRefused("invalid_signature") from None
    # §5.10 / RFC 9101 §5: the client_id outside the object must be the one inside it.
    if payload.get("client_id") != link_client_id:
        raise SharingRefused("client_id_mismatch")
    if "iss" in payload and payload["iss"] != link_client_id:
        raise SharingRefused("client_id_mismatch")
    if "aud" in payload and payload["aud"] != SELF_ISSUED_AUDIENCE:
        raise SharingRefused("wrong_audience")
    if prefix == "x509_san_dns":
        name = identifier.lower().rstrip(".")
        if name not in _dns_names(leaf):
            raise SharingRefused("dns_name_not_certified", identifier)
        host = (urlsplit(str(payload.get("response_uri", ""))).hostname or "").rstrip(".")
        if host != name:
            raise SharingRefused("response_uri_host_mismatch", f"{host or 'no host'}, not {identifier}")
    elif prefix == "x509_hash" and certificate_hash(leaf) != identifier:
        raise SharingRefused("certificate_hash_mismatch")
    return payload, leaf, anchor


# -- the request itself --------------------------------------------------------------------------


def _check_response_uri(value: Any, development: bool) -> None:
    try:
        check_client_url(value, development=development, resolve=False)
    except UnsafeURL as exc:
        raise SharingRefused("unsafe_response_uri", str(exc)) from None


def _authorization_request(
    params: dict[str, Any], prefix: str, signed: bool, development: bool, now: float, **extra: Any
) -> AuthorizationRequest:
    if params.get("response_type") != "vp_token":
        raise SharingRefused("unsupported_response_type")
    if params.get("response_mode") != "direct_post":
        raise SharingRefused("unsupported_response_mode")
    for name in ("nonce", "state"):
        if not isinstance(params.get(name), str) or not params[name]:
            raise SharingRefused("malformed_request", f"no {name}")
    if "transaction_data" in params:
        # §8.4: a wallet that does not support transaction data must not answer as if it did.
        raise SharingRefused("unsupported_transaction_data")
    response_uri = params.get("response_uri")
    _check_response_uri(response_uri, development)  # kept as sent: redirect_uri: client ids name it exactly
    dcql_query = _json_parameter(params, "dcql_query", required=True)
    try:
        query = parse_query(dcql_query)
    except DCQLError as exc:
        raise SharingRefused("invalid_dcql_query", str(exc)) from None
    metadata = _json_parameter(params, "client_metadata", required=False)
    formats = (metadata or {}).get("vp_formats_supported", {})
    sd_jwt_formats = formats.get("dc+sd-jwt") if isinstance(formats, dict) else None
    kb_algs = sd_jwt_formats.get("kb-jwt_alg_values") if isinstance(sd_jwt_formats, dict) else None
    if isinstance(kb_algs, list) and HOLDER_ALGORITHM not in kb_algs:
        raise SharingRefused("unsupported_vp_formats")
    exp = params.get("exp")
    if type(exp) in (int, float) and now >= exp:
        raise SharingRefused("request_expired")
    # A JSON number may be 1e400 (infinity to Python), which int() cannot take: bound it first.
    expires_at = int(exp) if type(exp) in (int, float) and exp < 2**53 else None
    shown = {**params, "dcql_query": dcql_query, **({"client_metadata": metadata} if metadata is not None else {})}
    try:
        notice = hashlib.sha256(canonical_json(shown)).hexdigest()
    except rfc8785.CanonicalizationError as exc:  # e.g. an integer beyond I-JSON's range
        raise SharingRefused("malformed_request", str(exc)) from None
    return AuthorizationRequest(
        client_id=params["client_id"],
        prefix=prefix,
        params=shown,
        response_uri=response_uri,
        nonce=params["nonce"],
        state=params["state"],
        dcql_query=dcql_query,
        query=query,
        signed=signed,
        notice_sha256=notice,
        expires_at=expires_at,
        **extra,
    )


def _fetch_request_object(http: httpx.Client, request_uri: str, development: bool) -> str:
    try:
        body = fetch_bounded(
            http,
            request_uri,
            development=development,
            max_bytes=MAX_REQUEST_OBJECT_BYTES,
            accept=f"application/{REQUEST_OBJECT_TYP}",
        )
    except UnsafeURL as exc:
        raise SharingRefused("unsafe_request_uri", str(exc)) from None
    except FetchFailed:
        raise SharingRefused("request_unavailable") from None
    try:
        return body.decode("ascii").strip()
    except UnicodeDecodeError:
        raise SharingRefused("malformed_request_object") from None


def read_authorization_request(
    link_or_params: str | Mapping[str, str],
    *,
    http: httpx.Client,
    anchors: Callable[[], Sequence[x509.Certificate]],
    development: bool,
    now: float,
) -> AuthorizationRequest:
    """Read, fetch and authenticate an OpenID4VP request; `SharingRefused` for anything the
    wallet cannot verify or does not support. `anchors` is called only for a signed request."""
    link_params = request_parameters(link_or_params)
    link_client_id = link_params.get("client_id")
    prefix, identifier = _client_id_prefix(link_client_id)
    request_uri, request = link_params.get("request_uri"), link_params.get("request")
    if request_uri is not None and request is not None:
        raise SharingRefused("malformed_request", "both request and request_uri")
    method = link_params.get("request_uri_method")
    if method is not None and (request_uri is None or method not in ("get", "post")):
        raise SharingRefused("malformed_request", "request_uri_method")
    by_reference = request_uri is not None or request is not None
    if prefix == "redirect_uri":
        # §5.9.3: such requests cannot be signed (there is no key to check them with), so nobody
        # vouches for the verifier: accepted only for development.
        if not development:
            raise SharingRefused("unsigned_request_not_allowed")
        if by_reference:
            raise SharingRefused("malformed_request", "a redirect_uri: request is passed by value")
        authorization = _authorization_request(link_params, prefix, False, development, now)
        if link_client_id != f"redirect_uri:{authorization.response_uri}":
            raise SharingRefused("client_id_mismatch")
        return authorization
    if not by_reference:
        raise SharingRefused("unsigned_request_not_allowed")
    # GET also for request_uri_method=post: §5.10 lets a wallet that does not post its metadata do so.
    token = request if request is not None else _fetch_request_object(http, request_uri, development)  # type: ignore[arg-type]
    payload, leaf, anchor = _verify_request_object(token, link_client_id, prefix, identifier, anchors(), now)  # type: ignore[arg-type]
    return _authorization_request(
        payload, prefix, True, development, now, request_uri=request_uri, certificate=leaf, anchor=anchor
    )


_ORGANIZATION = x509.NameOID.ORGANIZATION_NAME
_UNIT = x509.NameOID.ORGANIZATIONAL_UNIT_NAME
_COMMON_NAME = x509.NameOID.COMMON_NAME


def subject_attribute(certificate: x509.Certificate, oid: x509.ObjectIdentifier) -> str | None:
    """One attribute of a certificate's subject, if present and text."""
    values = certificate.subject.get_attributes_for_oid(oid)
    value = values[0].value if values else None
    return value if isinstance(value, str) and value else None


def certificate_name(certificate: x509.Certificate) -> str | None:
    """The organisation a certificate names (O, else CN)."""
    return subject_attribute(certificate, _ORGANIZATION) or subject_attribute(certificate, _COMMON_NAME)


def certificate_unit(certificate: x509.Certificate) -> str | None:
    return subject_attribute(certificate, _UNIT)
