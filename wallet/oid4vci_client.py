"""The wallet's requests to a credential issuer (OpenID4VCI 1.0, pre-authorized code flow), each
one bounded and through the outbound checks (the wallet runs on a server and calls URLs named in
offers that citizens paste: https only outside development, public addresses only, no redirects).

Each method returns what the next step needs, or raises `ReceiveError` naming its step: an issuer's
error response keeps its code and description; anything malformed or unreachable gets the wallet's
own reason.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import ec

from keys import jws
from keys.jwk import public_jwk
from outbound.exchange import BoundedResponse, post_bounded
from outbound.urls import FetchFailed, UnsafeURL, fetch_bounded
from vc.sd_jwt_vc import IssuerMetadataError, jwt_vc_issuer_metadata_url, keys_from_jwt_vc_issuer_metadata
from wallet.credential_offer import PRE_AUTHORIZED_GRANT, parse_offer_json
from wallet.issuer_metadata import (
    IssuerMetadata,
    choose_authorization_server,
    read_issuer_metadata,
    token_endpoint_from,
    well_known_url,
)
from wallet.receive_errors import ReceiveError

PROOF_TYP = "openid4vci-proof+jwt"
MAX_METADATA_BYTES = 256 * 1024
MAX_TOKEN_RESPONSE_BYTES = 16 * 1024
MAX_NONCE_RESPONSE_BYTES = 4 * 1024
MAX_CREDENTIAL_RESPONSE_BYTES = 1024 * 1024
MAX_CREDENTIALS_PER_RESPONSE = 16
_BEARER_ERROR = re.compile(r'error="([^"]*)"')
_BEARER_DESCRIPTION = re.compile(r'error_description="([^"]*)"')


def _json(body: bytes, step: str) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError, UnicodeDecodeError):
        raise ReceiveError(step, "malformed_response", "the answer is not JSON") from None


def key_proof(holder_key: ec.EllipticCurvePrivateKey, *, audience: str, nonce: str | None, iat: int) -> str:
    """A `jwt` key proof (Appendix F.1): `typ: openid4vci-proof+jwt`, the public key as `jwk`,
    `aud` = the issuer identifier, `iat`, the `c_nonce` when the issuer has a nonce endpoint, and no
    `iss`: the wallet redeems pre-authorized offers anonymously (no client_id)."""
    payload: dict[str, Any] = {"aud": audience, "iat": iat}
    if nonce is not None:
        payload["nonce"] = nonce
    return jws.sign(payload, holder_key, typ=PROOF_TYP, headers={"jwk": public_jwk(holder_key)})


@dataclass(frozen=True, slots=True)
class AccessGrant:
    access_token: str = ""
    # §6.2: with `authorization_details`, credentials are requested by `credential_identifier`.
    identifiers: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def identifiers_for(self, configuration_id: str) -> tuple[str, ...]:
        return next((ids for config, ids in self.identifiers if config == configuration_id), ())


class IssuerClient:
    """HTTP to one party's OpenID4VCI endpoints, as the citizen's wallet."""

    def __init__(self, http: httpx.Client, *, development: bool) -> None:
        self.http = http
        self.development = development

    # -- GETs -----------------------------------------------------------------------------------

    def _get(self, url: str, step: str, unreachable: str = "issuer_unreachable") -> bytes:
        try:
            return fetch_bounded(
                self.http, url, development=self.development, max_bytes=MAX_METADATA_BYTES, accept="application/json"
            )
        except UnsafeURL as exc:
            raise ReceiveError(step, "unsafe_url", str(exc)) from None
        except FetchFailed as exc:
            raise ReceiveError(step, unreachable, str(exc)) from None

    def offer_by_reference(self, uri: str) -> Any:
        """§4.1.3: GET the `credential_offer_uri`."""
        return parse_offer_json(self._get(uri, "offer"))

    def issuer_metadata(self, issuer: str) -> IssuerMetadata:
        """§12.2.2: Credential Issuer Metadata at the well-known URL of the issuer identifier."""
        url = well_known_url(issuer, "openid-credential-issuer")
        body = self._get(url, "issuer_metadata")
        try:
            metadata = json.loads(body.decode("utf-8"))
        except (ValueError, RecursionError, UnicodeDecodeError):
            raise ReceiveError("issuer_metadata", "malformed_metadata", "the metadata is not JSON") from None
        return read_issuer_metadata(metadata, issuer, development=self.development)

    def token_endpoint(self, metadata: IssuerMetadata, hint: str | None) -> str:
        """RFC 8414 §3: the authorization server's metadata, and its token endpoint."""
        server = choose_authorization_server(metadata, hint)
        body = self._get(well_known_url(server, "oauth-authorization-server"), "authorization_server")
        try:
            as_metadata = json.loads(body.decode("utf-8"))
        except (ValueError, RecursionError, UnicodeDecodeError):
            raise ReceiveError("authorization_server", "malformed_metadata", "the metadata is not JSON") from None
        return token_endpoint_from(as_metadata, server, development=self.development)

    def issuer_jwks(self, iss: str) -> dict[str, Any]:
        """SD-JWT VC §4: the issuer's keys from `/.well-known/jwt-vc-issuer` of `iss` (inline or by
        `jwks_uri`), to verify what it issued."""
        step = "verification"
        try:
            url = jwt_vc_issuer_metadata_url(iss, allow_http=self.development)
            keys = keys_from_jwt_vc_issuer_metadata(
                json.loads(self._get(url, step, "issuer_keys_unavailable").decode("utf-8")), iss
            )
            if keys.jwks is not None:
                return keys.jwks
            assert keys.jwks_uri is not None
            jwks = json.loads(self._get(keys.jwks_uri, step, "issuer_keys_unavailable").decode("utf-8"))
        except (IssuerMetadataError, ValueError, RecursionError, UnicodeDecodeError) as exc:
            raise ReceiveError(step, "issuer_keys_unavailable", str(exc)) from None
        if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
            raise ReceiveError(step, "issuer_keys_unavailable", "jwks_uri did not return a JWK Set")
        return jwks

    # -- POSTs ----------------------------------------------------------------------------------

    def _post(self, url: str, step: str, max_bytes: int, **body: Any) -> BoundedResponse:
        try:
            return post_bounded(self.http, url, development=self.development, max_bytes=max_bytes, **body)
        except UnsafeURL as exc:
            raise ReceiveError(step, "unsafe_url", str(exc)) from None
        except FetchFailed as exc:
            raise ReceiveError(step, "issuer_unreachable", str(exc)) from None

    @staticmethod
    def _refusal(step: str, response: BoundedResponse) -> ReceiveError:
        """An error response in the spec's terms: a JSON `{error, error_description}` body (RFC 6749
        §5.2, OpenID4VCI §8.3.1.2), or for a refused token the `WWW-Authenticate` header (RFC 6750 §3)."""
        error: Any = None
        description: Any = None
        try:
            body = json.loads(response.body.decode("utf-8"))
        except (ValueError, RecursionError, UnicodeDecodeError):
            body = None
        if isinstance(body, dict):
            error, description = body.get("error"), body.get("error_description")
        challenge = response.headers.get("www-authenticate", "")
        if error is None and (found := _BEARER_ERROR.search(challenge)):
            error = found.group(1)
            described = _BEARER_DESCRIPTION.search(challenge)
            description = described.group(1) if described else None
        return ReceiveError.from_issuer(step, error, description, response.status_code)

    def token(self, endpoint: str, pre_authorized_code: str, tx_code: str | None) -> AccessGrant:
        """§6.1: redeem the pre-authorized code (with the transaction code only when one was asked for)."""
        step = "token"
        form = {"grant_type": PRE_AUTHORIZED_GRANT, "pre-authorized_code": pre_authorized_code}
        if tx_code is not None:
            form["tx_code"] = tx_code
        response = self._post(endpoint, step, MAX_TOKEN_RESPONSE_BYTES, data=form)
        if response.status_code != 200:
            raise self._refusal(step, response)
        body = _json(response.body, step)
        if not isinstance(body, dict):
            raise ReceiveError(step, "malformed_response", "the token response is not an object")
        token, token_type = body.get("access_token"), body.get("token_type")
        if not isinstance(token, str) or not token or len(token) > 4096:
            raise ReceiveError(step, "malformed_response", "no access_token")
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise ReceiveError(step, "unsupported_token_type", f"token_type {token_type!r}")
        return AccessGrant(token, _credential_identifiers(body.get("authorization_details")))

    def nonce(self, endpoint: str) -> str:
        """§7: a fresh `c_nonce` for the next key proof."""
        step = "nonce"
        response = self._post(endpoint, step, MAX_NONCE_RESPONSE_BYTES)
        if not 200 <= response.status_code < 300:
            raise self._refusal(step, response)
        body = _json(response.body, step)
        nonce = body.get("c_nonce") if isinstance(body, dict) else None
        if not isinstance(nonce, str) or not nonce or len(nonce) > 1024:
            raise ReceiveError(step, "malformed_response", "no c_nonce")
        return nonce

    def credential(self, endpoint: str, access_token: str, request: dict[str, Any]) -> list[str]:
        """§8: one Credential Request; the credentials of an immediate (200) response."""
        step = "credential"
        response = self._post(
            endpoint,
            step,
            MAX_CREDENTIAL_RESPONSE_BYTES,
            json=request,
            headers={"Authorization": f"Bearer {access_token}"},
        )
        if response.status_code == 202:
            raise ReceiveError(step, "deferred_not_supported", "the issuer answered with a transaction_id")
        if response.status_code != 200:
            raise self._refusal(step, response)
        body = _json(response.body, step)
        credentials = body.get("credentials") if isinstance(body, dict) else None
        if not isinstance(credentials, list) or not credentials or len(credentials) > MAX_CREDENTIALS_PER_RESPONSE:
            raise ReceiveError(step, "malformed_response", "credentials must be a non-empty array")
        out = []
        for item in credentials:
            value = item.get("credential") if isinstance(item, dict) else None
            if not isinstance(value, str) or not value:
                raise ReceiveError(step, "malformed_response", "an SD-JWT VC is a string credential")
            out.append(value)
        return out


def _credential_identifiers(details: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """`credential_identifiers` per configuration from a token response's `authorization_details`
    (§6.2); entries of other types and unknown fields are ignored, as the spec says."""
    if not isinstance(details, list):
        return ()
    found: dict[str, tuple[str, ...]] = {}
    for detail in details:
        if not isinstance(detail, dict) or detail.get("type") != "openid_credential":
            continue
        config, ids = detail.get("credential_configuration_id"), detail.get("credential_identifiers")
        if not isinstance(config, str) or not isinstance(ids, list):
            raise ReceiveError("token", "malformed_response", "authorization_details without credential_identifiers")
        if not ids or len(ids) > MAX_CREDENTIALS_PER_RESPONSE or not all(isinstance(i, str) and i for i in ids):
            raise ReceiveError("token", "malformed_response", "credential_identifiers must be non-empty strings")
        found[config] = tuple(ids)
    return tuple(found.items())
