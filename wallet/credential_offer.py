"""Credential Offers as a wallet reads them (OpenID4VCI 1.0 §4.1), pure: no I/O.

An offer reaches the wallet as a link (`openid-credential-offer://?credential_offer=…`, or the same
query on an https link to the wallet's own offer endpoint) or as those query parameters already
parsed. It carries the offer by value or by reference (`credential_offer_uri`, which the caller
fetches through the outbound checks). Everything is validated before it is used: types, sizes,
the issuer identifier, and the pre-authorized code grant this wallet supports.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from outbound.urls import UnsafeURL, check_client_url
from wallet.receive_errors import ReceiveError

OFFER_SCHEME = "openid-credential-offer"
PRE_AUTHORIZED_GRANT = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
MAX_LINK_CHARS = 64 * 1024  # an offer by value in a QR code or link is far smaller
MAX_OFFER_BYTES = 64 * 1024
MAX_CONFIGURATIONS = 16
MAX_IDENTIFIER_CHARS = 200
MAX_CODE_CHARS = 2000
MAX_TX_CODE_LENGTH = 64
MAX_TX_DESCRIPTION = 300  # §4.1.1: the description MUST NOT exceed 300 characters


@dataclass(frozen=True, slots=True)
class TxCodePrompt:
    """What to ask the citizen for (§4.1.1 `tx_code`): its presence means a code is required."""

    input_mode: str  # "numeric" (digits only) or "text"
    length: int | None
    description: str | None


@dataclass(frozen=True, slots=True)
class OfferReference:
    """How the offer came: by value (`offer`) or by reference (`uri`), exactly one."""

    offer: Any = None
    uri: str | None = None


@dataclass(frozen=True)
class CredentialOffer:
    """A validated Credential Offer object."""

    credential_issuer: str
    configuration_ids: tuple[str, ...]
    pre_authorized_code: str = field(repr=False)
    tx_code: TxCodePrompt | None
    authorization_server: str | None
    # The validated object as the issuer sent it, so the caller can carry it to the accept step.
    raw: dict[str, Any] = field(repr=False)


def _malformed(detail: str) -> ReceiveError:
    return ReceiveError("offer", "malformed_offer", detail)


def _single(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, list | tuple):
        if len(value) != 1:
            raise _malformed(f"{name} must be given once")
        value = value[0]
    if not isinstance(value, str):
        raise _malformed(f"{name} must be a string")
    return value


def read_offer_reference(link_or_params: str | Mapping[str, Any]) -> OfferReference:
    """Where the offer is: from an `openid-credential-offer://` link, an https link to the wallet's
    offer endpoint, or the query parameters given to that endpoint."""
    if isinstance(link_or_params, str):
        if len(link_or_params) > MAX_LINK_CHARS:
            raise _malformed("the offer link is too long")
        try:
            parts = urlsplit(link_or_params.strip())
        except ValueError:
            raise _malformed("the offer link is not a URL") from None
        if parts.scheme.lower() not in (OFFER_SCHEME, "https", "http"):
            raise _malformed("not an openid-credential-offer:// link")
        params: Mapping[str, Any] = parse_qs(parts.query, keep_blank_values=True)
    elif isinstance(link_or_params, Mapping):
        params = link_or_params
    else:
        raise _malformed("an offer link or its parameters are required")
    by_value, by_reference = _single(params, "credential_offer"), _single(params, "credential_offer_uri")
    if (by_value is None) == (by_reference is None):
        raise _malformed("exactly one of credential_offer and credential_offer_uri is required")
    if by_value is not None:
        if len(by_value) > MAX_OFFER_BYTES:
            raise _malformed("the offer is too large")
        return OfferReference(offer=parse_offer_json(by_value.encode("utf-8", "surrogatepass")))
    assert by_reference is not None
    return OfferReference(uri=by_reference)


def parse_offer_json(body: bytes) -> Any:
    """JSON text as the offer (by value or as fetched by reference), or `malformed_offer`."""
    if len(body) > MAX_OFFER_BYTES:
        raise _malformed("the offer is too large")
    try:
        return json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError, UnicodeDecodeError):
        raise _malformed("the offer is not JSON") from None


def check_issuer_identifier(value: Any, *, development: bool) -> str:
    """A Credential Issuer Identifier (§12.2.1): an https URL (http in development) with no query or
    fragment. Returned as given: identifiers are compared exactly, never normalised."""
    if not isinstance(value, str) or not value or len(value) > 2000:
        raise _malformed("credential_issuer must be a URL")
    if "?" in value or "#" in value:
        raise _malformed("credential_issuer has no query or fragment")
    try:
        check_client_url(value, development=development, resolve=False)
    except UnsafeURL as exc:
        raise ReceiveError("offer", "unsafe_url", f"credential_issuer: {exc}") from None
    return value


def _tx_code(value: Any) -> TxCodePrompt:
    if not isinstance(value, dict):
        raise _malformed("tx_code must be an object")
    mode = value.get("input_mode", "numeric")
    if mode not in ("numeric", "text"):
        raise _malformed("tx_code.input_mode must be numeric or text")
    length = value.get("length")
    if length is not None and (type(length) is not int or not 1 <= length <= MAX_TX_CODE_LENGTH):
        raise _malformed(f"tx_code.length must be an integer from 1 to {MAX_TX_CODE_LENGTH}")
    description = value.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > MAX_TX_DESCRIPTION):
        raise _malformed("tx_code.description must be a string of at most 300 characters")
    return TxCodePrompt(input_mode=mode, length=length, description=description or None)


def validate_offer(value: Any, *, development: bool) -> CredentialOffer:
    """Check a Credential Offer object (§4.1.1); unknown parameters are ignored, as §4.1.1 says."""
    if not isinstance(value, dict):
        raise _malformed("the offer must be a JSON object")
    issuer = check_issuer_identifier(value.get("credential_issuer"), development=development)
    ids = value.get("credential_configuration_ids")
    if not isinstance(ids, list) or not ids or len(ids) > MAX_CONFIGURATIONS:
        raise _malformed(f"credential_configuration_ids must be a non-empty array of at most {MAX_CONFIGURATIONS}")
    if not all(isinstance(i, str) and 0 < len(i) <= MAX_IDENTIFIER_CHARS for i in ids) or len(set(ids)) != len(ids):
        raise _malformed("credential_configuration_ids must hold unique non-empty strings")
    grants = value.get("grants", {})
    if not isinstance(grants, dict):
        raise _malformed("grants must be an object")
    grant = grants.get(PRE_AUTHORIZED_GRANT)
    if grant is None:
        # Without grants the wallet would have to start the authorization code flow, which a
        # server-side wallet for pre-authorized offers does not do.
        raise ReceiveError("offer", "unsupported_grant", "no pre-authorized code grant")
    if not isinstance(grant, dict):
        raise _malformed("the pre-authorized code grant must be an object")
    code = grant.get("pre-authorized_code")
    if not isinstance(code, str) or not code or len(code) > MAX_CODE_CHARS:
        raise _malformed("pre-authorized_code must be a non-empty string")
    tx_code = _tx_code(grant["tx_code"]) if "tx_code" in grant else None
    server = grant.get("authorization_server")
    if server is not None and (not isinstance(server, str) or not server or len(server) > 2000):
        raise _malformed("authorization_server must be a string")
    return CredentialOffer(
        credential_issuer=issuer,
        configuration_ids=tuple(ids),
        pre_authorized_code=code,
        tx_code=tx_code,
        authorization_server=server,
        raw=value,
    )


def check_tx_code(prompt: TxCodePrompt | None, tx_code: str | None) -> str | None:
    """The code to send: None when the offer asks for none (a code is sent only when asked); the
    citizen's code when it has the requested form. Refused before any request otherwise, so a
    typing slip does not spend one of the issuer's few attempts."""
    if prompt is None:
        return None
    if tx_code is None or not isinstance(tx_code, str) or not tx_code.strip():
        raise ReceiveError("token", "tx_code_required", "the offer asks for a transaction code")
    code = tx_code.strip()
    if len(code) > MAX_TX_CODE_LENGTH or not code.isprintable():
        raise ReceiveError("token", "tx_code_malformed", "the code is too long or has control characters")
    if prompt.input_mode == "numeric" and not (code.isascii() and code.isdigit()):
        raise ReceiveError("token", "tx_code_malformed", "the code must be digits only")
    if prompt.length is not None and len(code) != prompt.length:
        raise ReceiveError("token", "tx_code_malformed", f"the code must be {prompt.length} characters long")
    return code
