"""What every answer of the contract fuzzing must be, beyond its schema (tests/fuzz): an error in
Problem Details or the protocol's own format, a JWT in compact form, a token asked for exactly
where the contract says; and the findings of other people's code, reported and awaiting a fix."""

from __future__ import annotations

import fnmatch
import json
import re
from typing import Any

from seoul_wallet.openapi_errors import PROTOCOL_ERROR_PATHS

# Findings in code this net does not own, reported with their reproduction (issue 14): each is
# expected to occur, and a run where it no longer does fails too, so the entry leaves with its fix.
# (role, operation pattern, status) -> what and where.
KNOWN_FINDINGS: dict[tuple[str, str, int], str] = {}
JWT_MEDIA_TYPES = frozenset({"application/jwt", "application/statuslist+jwt", "application/oauth-authz-req+jwt"})
BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
USERINFO = "/idp/userinfo"  # OpenID Connect Core §5.3.3: the provider's own token, RFC 6750 errors


def media_type_of(response: Any) -> str:
    value = response.headers.get("content-type") or ""
    value = value[0] if isinstance(value, list) else value  # schemathesis keeps each header's values
    return value.split(";", 1)[0].strip().lower()


def known_as(finding: Any) -> tuple[str, str, int] | None:
    """The KNOWN_FINDINGS entry a finding is, if any."""
    for key in KNOWN_FINDINGS:
        role, pattern, status = key
        if finding.role == role and finding.status == status and fnmatch.fnmatchcase(finding.operation, pattern):
            return key
    return None


def error_format_problem(path: str, declared: dict[str, Any], response: Any) -> str | None:
    """Why an error answer is neither Problem Details nor the protocol's error format (None if it is one)."""
    status = response.status_code
    if status < 400:
        return None
    media_type = media_type_of(response)
    if media_type == "text/html" and "text/html" in declared.get(str(status), {}).get("content", {}):
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        body = None
    if media_type == "application/problem+json":
        if isinstance(body, dict) and isinstance(body.get("title"), str) and body.get("status") == status:
            return None
        return "Problem Details without a title, or with a status other than the answer's"
    if media_type == "application/json" and (PROTOCOL_ERROR_PATHS.match(path) or path == USERINFO):
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            return None
        return "a protocol endpoint's error without an `error` member"
    return f"an error answered as {media_type or 'no media type'}: neither Problem Details nor the protocol's error"


def compact_jws_problem(response: Any) -> str | None:
    """Why a JWT answer is not a compact JWS (RFC 7515 §7.1: three base64url parts), or None."""
    parts = response.content.decode("ascii", errors="replace").strip().split(".")
    if len(parts) == 3 and all(part and BASE64URL.fullmatch(part) for part in parts):
        return None
    return "a JWT media type whose body is not a compact JWS"


def authentication_problem(operation: Any, response: Any) -> str | None:
    """What an answer to a request without a token says against the contract's `security`."""
    secured = bool(operation.definition.raw.get("security"))
    if secured and response.status_code < 400:
        return "served without a token, though the contract names the scopes it needs"
    # The protocol endpoints authenticate by their own rules (a client at a token endpoint, the
    # issuer's own access token, the provider's): the platform's scheme does not describe them.
    protocol = PROTOCOL_ERROR_PATHS.match(operation.path) or operation.path == USERINFO
    if not secured and not protocol and response.status_code == 401:
        return "wants a token the contract does not name (no `security`)"
    return None
