"""What a wallet reads from an issuer's metadata, pure: Credential Issuer Metadata (OpenID4VCI 1.0
§12.2), the authorization server's metadata (RFC 8414), and the display metadata kept beside each
credential so the wallet can show it in the citizen's language.

Identifiers are compared exactly (§12.2.3: "simple string comparison with no normalization"), and
every endpoint must pass the outbound URL checks (https outside development) before it is used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from outbound.urls import UnsafeURL, check_client_url
from wallet.receive_errors import ReceiveError

SD_JWT_VC_FORMAT = "dc+sd-jwt"
PROOF_ALGORITHM = "ES256"  # the holder keys this wallet makes (vault.new_holder_key)
MAX_DISPLAY_ENTRIES = 16
MAX_CLAIMS = 200
MAX_TEXT = 300
_LOCALE = re.compile(r"[A-Za-z0-9]{1,8}(-[A-Za-z0-9]{1,8}){0,7}")  # a BCP 47 language tag, loosely
_COLOR = re.compile(r"#[0-9A-Fa-f]{3}([0-9A-Fa-f]{3})?")
NO_LOCALE = "und"  # BCP 47 "undetermined", for display entries that name no locale


def well_known_url(identifier: str, suffix: str) -> str:
    """RFC 8615 as OpenID4VCI §12.2.2 and RFC 8414 §3.1 use it: `/.well-known/<suffix>` inserted
    between the host and the path of the identifier (its trailing `/` removed)."""
    parts = urlsplit(identifier)
    return urlunsplit((parts.scheme, parts.netloc, f"/.well-known/{suffix}{parts.path.rstrip('/')}", "", ""))


def _bad(step: str, detail: str) -> ReceiveError:
    return ReceiveError(step, "malformed_metadata", detail)


def _endpoint(metadata: dict[str, Any], name: str, step: str, *, development: bool, required: bool) -> str | None:
    value = metadata.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise _bad(step, f"{name} must be a URL")
    try:
        check_client_url(value, development=development, resolve=False)
    except UnsafeURL as exc:
        raise ReceiveError(step, "unsafe_url", f"{name}: {exc}") from None
    return value


# -- display -----------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return value.strip()[:MAX_TEXT] or None


def _entries(display: Any) -> list[tuple[str, dict[str, Any]]]:
    """Display objects by locale, the first one per locale (§12.2.4: only one per language);
    malformed entries are skipped, since display metadata only helps the citizen read."""
    if not isinstance(display, list):
        return []
    seen: dict[str, dict[str, Any]] = {}
    for entry in display[:MAX_DISPLAY_ENTRIES]:
        if not isinstance(entry, dict):
            continue
        locale = entry.get("locale", NO_LOCALE)
        if isinstance(locale, str) and _LOCALE.fullmatch(locale) and locale not in seen:
            seen[locale] = entry
    return list(seen.items())


def names_by_locale(display: Any, member: str = "name") -> dict[str, str]:
    """`{locale: text}` of one member (`name`, `description`) of a display array."""
    names = {locale: _text(entry.get(member)) for locale, entry in _entries(display)}
    return {locale: name for locale, name in names.items() if name}


def _color(display: Any, member: str) -> str | None:
    for _, entry in _entries(display):
        value = entry.get(member)
        if isinstance(value, str) and _COLOR.fullmatch(value):
            return value
    return None


def _claim_path(value: Any) -> list[str | int | None] | None:
    if not isinstance(value, list) or not value or len(value) > 16:
        return None
    if not all(v is None or (isinstance(v, str) and len(v) <= MAX_TEXT) or (type(v) is int and v >= 0) for v in value):
        return None
    return list(value)


def credential_display(issuer_display: Any, configuration: dict[str, Any]) -> dict[str, Any]:
    """The display metadata kept beside a credential: the issuer's name, the credential's name and
    description per locale (and colours), and each claim's name per locale."""
    metadata = configuration.get("credential_metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    display = metadata.get("display")
    credential: dict[str, Any] = {"name": names_by_locale(display)}
    description = names_by_locale(display, "description")
    if description:
        credential["description"] = description
    for member in ("background_color", "text_color"):
        color = _color(display, member)
        if color:
            credential[member] = color
    claims = []
    raw_claims = metadata.get("claims")
    for claim in raw_claims[:MAX_CLAIMS] if isinstance(raw_claims, list) else []:
        path = _claim_path(claim.get("path")) if isinstance(claim, dict) else None
        if path is None:
            continue
        claims.append({"path": path, "name": names_by_locale(claim.get("display"))})
    return {"issuer": {"name": names_by_locale(issuer_display)}, "credential": credential, "claims": claims}


# -- Credential Issuer Metadata ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CredentialConfiguration:
    id: str
    vct: str
    display: dict[str, Any]


@dataclass(frozen=True)
class IssuerMetadata:
    credential_issuer: str
    credential_endpoint: str
    nonce_endpoint: str | None
    authorization_servers: tuple[str, ...] | None
    display: Any  # the issuer's `display` array, as sent
    configurations: dict[str, Any]  # `credential_configurations_supported`, as sent

    def configuration(self, configuration_id: str) -> CredentialConfiguration:
        """An offered configuration this wallet can receive: SD-JWT VC bound to a JWK, proved with
        an ES256 `jwt` proof."""
        step = "issuer_metadata"
        config = self.configurations.get(configuration_id)
        if config is None:
            raise ReceiveError(step, "unknown_configuration", f"{configuration_id!r} is not in the metadata")
        if not isinstance(config, dict):
            raise _bad(step, f"configuration {configuration_id!r} is not an object")
        if config.get("format") != SD_JWT_VC_FORMAT:
            raise ReceiveError(step, "unsupported_configuration", f"format {config.get('format')!r}")
        vct = config.get("vct")
        if not isinstance(vct, str) or not vct:
            raise _bad(step, f"configuration {configuration_id!r} has no vct")
        # The wallet presents with key binding (OpenID4VP), so it only takes credentials bound to a key.
        methods = config.get("cryptographic_binding_methods_supported")
        if not isinstance(methods, list) or "jwk" not in methods:
            raise ReceiveError(step, "unsupported_configuration", "the credential is not bound to a JWK")
        proof_types = config.get("proof_types_supported")
        jwt_proof = proof_types.get("jwt") if isinstance(proof_types, dict) else None
        algorithms = jwt_proof.get("proof_signing_alg_values_supported") if isinstance(jwt_proof, dict) else None
        if not isinstance(algorithms, list) or PROOF_ALGORITHM not in algorithms:
            raise ReceiveError(step, "unsupported_configuration", "no jwt proof with ES256")
        return CredentialConfiguration(configuration_id, vct, credential_display(self.display, config))


def read_issuer_metadata(metadata: Any, expected_issuer: str, *, development: bool) -> IssuerMetadata:
    """Check Credential Issuer Metadata fetched for `expected_issuer` (§12.2.4)."""
    step = "issuer_metadata"
    if not isinstance(metadata, dict):
        raise _bad(step, "the metadata is not a JSON object")
    if metadata.get("credential_issuer") != expected_issuer:
        # §12.2.3: if not identical, "the data contained in the response MUST NOT be used".
        raise ReceiveError(step, "metadata_issuer_mismatch", "credential_issuer is not the offer's issuer")
    credential_endpoint = _endpoint(metadata, "credential_endpoint", step, development=development, required=True)
    assert credential_endpoint is not None
    nonce_endpoint = _endpoint(metadata, "nonce_endpoint", step, development=development, required=False)
    servers = metadata.get("authorization_servers")
    if servers is not None and (
        not isinstance(servers, list) or not servers or not all(isinstance(s, str) and s for s in servers)
    ):
        raise _bad(step, "authorization_servers must be a non-empty array of strings")
    configurations = metadata.get("credential_configurations_supported")
    if not isinstance(configurations, dict):
        raise _bad(step, "credential_configurations_supported must be an object")
    return IssuerMetadata(
        credential_issuer=expected_issuer,
        credential_endpoint=credential_endpoint,
        nonce_endpoint=nonce_endpoint,
        authorization_servers=tuple(servers) if servers is not None else None,
        display=metadata.get("display"),
        configurations=configurations,
    )


def choose_authorization_server(metadata: IssuerMetadata, hint: str | None) -> str:
    """The authorization server to redeem the offer at (§12.2.4 `authorization_servers`, §4.1.1
    `authorization_server`): the issuer itself when it names none; the offer's hint, which must be
    one of those named; otherwise the first one named."""
    servers = metadata.authorization_servers
    if servers is None:
        if hint is not None:  # §4.1.1: "MUST NOT be used otherwise"
            raise ReceiveError("authorization_server", "authorization_server_mismatch", "hint without servers")
        return metadata.credential_issuer
    if hint is not None:
        if hint not in servers:
            raise ReceiveError("authorization_server", "authorization_server_mismatch", "hint not in metadata")
        return hint
    return servers[0]


def token_endpoint_from(metadata: Any, expected_issuer: str, *, development: bool) -> str:
    """The token endpoint from RFC 8414 metadata whose `issuer` must equal `expected_issuer` (§3.3)."""
    step = "authorization_server"
    if not isinstance(metadata, dict):
        raise _bad(step, "the authorization server metadata is not a JSON object")
    if metadata.get("issuer") != expected_issuer:
        raise ReceiveError(step, "authorization_server_mismatch", "issuer is not the authorization server")
    endpoint = _endpoint(metadata, "token_endpoint", step, development=development, required=True)
    assert endpoint is not None
    return endpoint
