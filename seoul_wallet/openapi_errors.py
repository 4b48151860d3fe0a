"""The errors the whole app answers, written into its OpenAPI document (issue 14, net 2).

Some answers do not come from a route but from what wraps every route: the bearer-token check
(401 without a valid token, 403 without the scope), the text guard (400 for a NUL or a lone
surrogate in the address or the body), the body-size limit (413), the validation handler (422 as
RFC 9457 Problem Details, not FastAPI's default `HTTPValidationError`), a path that names nothing
(404). A route cannot know them, so they are described here, once, next to each other, and the
contract (openapi.yaml) says what a client really receives; schemathesis checks each answer against
it (tests/fuzz). A route's own declaration of the same status keeps its description; the media
type is added to it when missing.

Bearer-protected operations also get `security` with the scopes they need (the dependency that
`auth.dependencies.BearerAuth.require` returns carries them as `required_scopes`; a route that wraps
it in a dependency of its own must pass them on), under one OAuth 2.0 scheme: the platform's token
endpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI, routing
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from seoul_wallet.problems import PROBLEM_JSON
from seoul_wallet.text_guard import _PROTOCOL_PATHS as PROTOCOL_ERROR_PATHS

SECURITY_SCHEME = "platformOAuth"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
VALIDATION_PROBLEM_REF = {"$ref": "#/components/schemas/ValidationProblem"}
OAUTH_ERROR_REF = {"$ref": "#/components/schemas/OAuthError"}
_FASTAPI_VALIDATION_REF = "#/components/schemas/HTTPValidationError"
_BODY_METHODS = frozenset({"post", "put", "patch"})

SCHEMAS: dict[str, dict[str, Any]] = {
    "Problem": {
        "title": "Problem",
        "description": "RFC 9457 Problem Details; extension members may follow",
        "type": "object",
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string"},
            "instance": {"type": "string"},
        },
        "required": ["title", "status"],
    },
    "ValidationProblem": {
        "title": "ValidationProblem",
        "description": "The request does not fit the operation (Problem Details; `errors` names each field)",
        "allOf": [
            {"$ref": "#/components/schemas/Problem"},
            {
                "type": "object",
                "properties": {
                    "errors": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "field": {"type": "string"},
                                "message": {"type": "string"},
                                "type": {"type": "string"},
                            },
                            "required": ["field", "message"],
                        },
                    }
                },
            },
        ],
    },
    "OAuthError": {
        "title": "OAuthError",
        "description": "An OAuth 2.0 error response (RFC 6749 §5.2), also used by OpenID4VCI and OpenID4VP",
        "type": "object",
        "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
        "required": ["error"],
    },
}


def required_scopes(route: Any) -> tuple[str, ...] | None:
    """The scopes a route's bearer-token dependency demands (() for any valid token), or None if
    the route takes no bearer token."""
    found: list[str] | None = None
    for dependant in _walk(route.dependant):
        scopes = getattr(dependant.call, "required_scopes", None)
        if scopes is not None:
            found = [*(found or []), *scopes]
    return None if found is None else tuple(dict.fromkeys(found))


def _walk(dependant: Dependant) -> Iterator[Dependant]:
    for child in dependant.dependencies:
        yield child
        yield from _walk(child)


def _content(response: dict[str, Any], media_type: str, schema: dict[str, Any]) -> None:
    """Add `media_type` to a response, with `schema` unless it already has one of its own."""
    entry = response.setdefault("content", {}).setdefault(media_type, {})
    if not entry.get("schema"):
        entry["schema"] = dict(schema)


def _error(responses: dict[str, Any], status: int, description: str, media_type: str, schema: dict) -> None:
    response = responses.setdefault(str(status), {"description": description})
    _content(response, media_type, schema)


def describe_errors(document: dict[str, Any], routes: dict[tuple[str, str], Any], token_url: str) -> None:
    """Rewrite `document` (an OpenAPI 3.1 dict) in place: the errors every operation can answer."""
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.update(SCHEMAS)
    all_scopes: dict[str, str] = {}
    for path, operations in document.get("paths", {}).items():
        protocol = bool(PROTOCOL_ERROR_PATHS.match(path))
        error_type, error_schema = ("application/json", OAUTH_ERROR_REF) if protocol else (PROBLEM_JSON, PROBLEM_REF)
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            parameters = operation.get("parameters", [])
            has_body = "requestBody" in operation or method in _BODY_METHODS
            # Problem Details everywhere a route declared the media type but not its shape.
            for response in responses.values():
                problem = response.get("content", {}).get(PROBLEM_JSON)
                if problem is not None and not problem.get("schema"):
                    problem["schema"] = dict(PROBLEM_REF)
            validation = responses.get("422")
            if validation is not None:
                # The validation handler's answer (seoul_wallet/problems.py), not FastAPI's default.
                content = validation.setdefault("content", {})
                default = content.get("application/json", {}).get("schema", {}).get("$ref")
                if default == _FASTAPI_VALIDATION_REF:
                    del content["application/json"]
                _content(validation, PROBLEM_JSON, VALIDATION_PROBLEM_REF)
            if parameters or has_body:
                # The text guard reads the address and the body before any route does.
                _error(responses, 400, "Invalid text (a NUL or an unpaired surrogate)", error_type, error_schema)
            if has_body:
                _error(responses, 413, "Request body too large", PROBLEM_JSON, PROBLEM_REF)
            if any(parameter.get("in") == "path" for parameter in parameters):
                _error(responses, 404, "Nothing here has this identifier", PROBLEM_JSON, PROBLEM_REF)
            route = routes.get((path, method))
            scopes = required_scopes(route) if route is not None else None
            if scopes is None:
                continue
            operation["security"] = [{SECURITY_SCHEME: list(scopes)}]
            all_scopes.update({scope: f"the {scope} scope" for scope in scopes})
            _error(responses, 401, "A valid bearer access token is required", PROBLEM_JSON, PROBLEM_REF)
            _error(responses, 403, "The token lacks a scope, or does not act for this party", PROBLEM_JSON, PROBLEM_REF)
    if all_scopes:
        components.setdefault("securitySchemes", {})[SECURITY_SCHEME] = {
            "type": "oauth2",
            "description": "JWT access tokens (RFC 9068) of the platform: agencies, verifiers and the operator "
            "get theirs with client credentials at the token endpoint; a citizen's app gets one with the same "
            "scopes from the platform's OpenID provider (/idp)",
            "flows": {"clientCredentials": {"tokenUrl": token_url, "scopes": dict(sorted(all_scopes.items()))}},
        }


def _api_routes(app: FastAPI) -> dict[tuple[str, str], Any]:
    """(path, method) -> the route as the OpenAPI document sees it (its dependant included)."""
    # Recent FastAPI includes routers lazily: its route contexts carry the effective path and dependant.
    contexts = getattr(routing, "iter_route_contexts", None)
    candidates = contexts(app.routes) if contexts is not None else app.routes
    found: dict[tuple[str, str], Any] = {}
    for route in candidates:
        if isinstance(getattr(route, "original_route", route), APIRoute):
            for method in route.methods:
                found[route.path_format, method.lower()] = route
    return found


def install_error_contract(app: FastAPI, token_url: str) -> None:
    """Make `app.openapi()` describe the app-wide errors (FastAPI caches the document; each new
    one it builds is completed once)."""
    generate: Callable[[], dict[str, Any]] = app.openapi
    completed: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        document = generate()
        if not completed or completed[0] is not document:
            describe_errors(document, _api_routes(app), token_url)
            completed[:] = [document]
        return document

    app.openapi = openapi  # type: ignore[method-assign]
