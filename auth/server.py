"""The token endpoint (client credentials grant) and RFC 8414 metadata, from Authlib's server pieces."""

from __future__ import annotations

import base64
import json
from typing import Any, ClassVar
from urllib.parse import unquote

from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidScopeError
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from fastapi import APIRouter, Request, Response
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from auth.models import OAuthClient
from auth.oauth_requests import ParsedRequest, SafeClientAuthentication, params_of
from auth.rate_limits import TOKEN_ADDRESS, TOKEN_CLIENT, TooManyRequests, current_caller
from auth.tokens import AccessTokenService

TOKEN_PATH = "/oauth/token"
METADATA_PATH = "/.well-known/oauth-authorization-server"


class _ClientCredentials(ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post"]

    def validate_token_request(self) -> None:
        super().validate_token_request()
        # RFC 6749 §5.2: a scope the client does not hold is `invalid_scope`, not a token with
        # less (or nothing) in it that fails later for a reason nobody sees.
        requested = set((self.request.payload.scope or "").split())
        held = set(self.request.client.scope.split())
        if requested - held:
            raise InvalidScopeError(description=f"this client does not hold: {' '.join(sorted(requested - held))}")


def _named_client(authorization: str | None, params: dict[str, list[str]]) -> str | None:
    """The client id a token request names (HTTP Basic, RFC 6749 §2.3.1, or the form), before any
    check: what the per-client limit counts. None when it names none legibly."""
    scheme, _, credentials = (authorization or "").strip().partition(" ")
    if scheme.lower() == "basic":
        # Decoded as leniently as Authlib decodes it, so the id counted is the id it authenticates.
        try:
            decoded = base64.b64decode(credentials.strip()).decode("utf-8")
        except ValueError:  # binascii.Error, UnicodeDecodeError, and non-ASCII text in the header
            return None
        user, colon, _ = decoded.partition(":")
        return (unquote(user) if colon else decoded) or None
    named = params.get("client_id") or []
    return named[0] if len(named) == 1 and named[0] else None


def _too_many_requests(exc: TooManyRequests) -> Response:
    # RFC 6749 §5.2 has no error code for "not now": the status (429, RFC 6585 §4) and Retry-After
    # say it. The body keeps the endpoint's OAuth error format, and its code is the one OAuth
    # registers for "the server cannot handle the request now, try later" (`temporarily_unavailable`,
    # §4.1.2.1); `invalid_request` or `invalid_client` would tell the client to fix a request or a
    # secret that may be fine.
    body = {"error": "temporarily_unavailable", "error_description": str(exc)}
    headers = {"Retry-After": str(exc.retry_after), "Cache-Control": "no-store", "Pragma": "no-cache"}
    return Response(json.dumps(body), status_code=429, media_type="application/json", headers=headers)


class PlatformAuthorizationServer(SafeClientAuthentication):
    """Authlib's framework-agnostic server, adapted to already-parsed FastAPI requests."""

    def __init__(self, engine: Engine, tokens: AccessTokenService, scopes_supported: list[str]) -> None:
        super().__init__(scopes_supported=scopes_supported)
        self._engine = engine
        self.register_grant(_ClientCredentials)
        self.register_token_generator("default", tokens.generator)

    def query_client(self, client_id: str) -> OAuthClient | None:
        with Session(self._engine) as session:
            client = session.get(OAuthClient, client_id)
        return client if client is not None and not client.disabled else None

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        # JWT access tokens are self-contained and expire on their own; nothing to store.
        return None

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    def create_oauth2_request(self, request: ParsedRequest) -> ParsedRequest:
        return request

    def create_json_request(self, request: Any) -> Any:
        raise NotImplementedError("no JSON endpoints")

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> Response:
        content = body if isinstance(body, str) else json.dumps(body)
        response = Response(content=content, status_code=status, media_type="application/json")
        for name, value in headers:
            if name.lower() != "content-type":
                response.headers[name] = value
        return response


def authorization_server_router(engine: Engine, tokens: AccessTokenService, scopes_supported: list[str]) -> APIRouter:
    """POST /oauth/token and the RFC 8414 metadata document of the platform authorization server."""
    server = PlatformAuthorizationServer(engine, tokens, scopes_supported)
    token_endpoint = tokens.issuer + TOKEN_PATH
    router = APIRouter(tags=["authorization server"])

    metadata = AuthorizationServerMetadata(
        {
            "issuer": tokens.issuer,
            "token_endpoint": token_endpoint,
            "jwks_uri": tokens.issuer + "/.well-known/jwks.json",
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": scopes_supported,
            # RFC 8414 makes this member REQUIRED even for a server without an authorization
            # endpoint; an empty list says truthfully that no response type is supported.
            "response_types_supported": [],
        }
    )
    # Authlib's validate() rejects the empty response_types_supported; validate everything else.
    for member in ("issuer", "token_endpoint", "jwks_uri", "grant_types_supported", "scopes_supported"):
        getattr(metadata, f"validate_{member}")()
    metadata.validate_token_endpoint_auth_methods_supported()

    @router.get(METADATA_PATH, summary="Authorization server metadata (RFC 8414)")
    def server_metadata() -> dict[str, Any]:
        return dict(metadata)

    @router.post(
        TOKEN_PATH,
        summary="Token endpoint: client credentials grant, RFC 9068 JWT access tokens",
        responses={
            200: {"description": "An access token", "content": {"application/json": {}}},
            400: {"description": "OAuth 2.0 error (RFC 6749 §5.2)", "content": {"application/json": {}}},
            401: {"description": "Client authentication failed", "content": {"application/json": {}}},
            429: {
                "description": "Too many token requests for this client or from this address; see Retry-After",
                "content": {"application/json": {}},
            },
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": {
                            "type": "object",
                            "required": ["grant_type"],
                            "properties": {
                                "grant_type": {"type": "string", "enum": ["client_credentials"]},
                                "scope": {"type": "string"},
                                "client_id": {"type": "string"},
                                "client_secret": {"type": "string"},
                            },
                        }
                    }
                },
            }
        },
    )
    async def token(request: Request) -> Response:
        params = params_of(await request.form())
        caller = current_caller()
        # Counted before the secret is checked, every request: guessing a secret, or flooding the
        # endpoint (each attempt costs a hash and a signature), spends the same budget.
        if caller is not None:
            client_id = _named_client(request.headers.get("authorization"), params)
            refusal = await run_in_threadpool(caller.count, (TOKEN_ADDRESS, caller.address), (TOKEN_CLIENT, client_id))
            if refusal is not None:
                return _too_many_requests(refusal)
        oauth_request = ParsedRequest("POST", token_endpoint, request.headers, params)
        response = server.create_token_response(oauth_request)
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
        return response

    return router
