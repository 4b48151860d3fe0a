"""The built-in OpenID provider's HTTP endpoints under /idp (development and the demo).

Discovery 1.0, JWKS, the authorization endpoint with its sign-in page, the token endpoint, UserInfo
and RP-Initiated Logout 1.0. Protocol logic is Authlib's (auth/oidc_server.py); this module parses
requests, keeps the provider's own browser session, and renders pages. Errors about the client or
its redirect_uri are shown to the citizen, never redirected to an address nobody registered; every
other authorization error goes back to the registered redirect_uri as an OAuth error response.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import parse_qs, urlencode

from authlib.common.security import is_secure_transport
from authlib.oauth2.rfc6749.errors import InvalidRequestError, OAuth2Error
from authlib.oidc import rpinitiated
from authlib.oidc.discovery import OpenIDProviderMetadata
from fastapi import APIRouter, Request, Response
from joserfc.errors import JoseError
from starlette.concurrency import run_in_threadpool

from auth.oauth_requests import Params, ParsedRequest, params_of
from auth.oidc_clients import DEMO_ACCOUNTS, DEMO_PASSWORD, PROVIDER_SCOPES
from auth.oidc_grants import IDP_OWNER, SignedInCitizen
from auth.oidc_pages import ProviderPages, too_many_sign_ins
from auth.oidc_server import OpenIDProviderServer
from auth.rate_limits import SIGNIN_ACCOUNT, SIGNIN_ADDRESS, current_caller
from keys.api import jwks_router

PREFIX = "/idp"
SESSION_MAX_AGE = 8 * 3600
_AUTHORIZATION_FIELD = "authorization_request"
_LOGOUT_FIELD = "logout_request"
_FORM_JSON = {"application/json": {}}


class BrowserSession(Protocol):
    """The provider's own session cookie (seoul_wallet.browser.SignedSessionCookie)."""

    def read(self, request: Request) -> dict[str, Any] | None: ...
    def write(self, response: Response, data: dict[str, Any]) -> None: ...
    def clear(self, response: Response) -> None: ...


def _first(params: Params, name: str) -> str | None:
    values = params.get(name)
    return values[0] if values else None


def _hidden_params(raw: str | None) -> Params:
    # The authorization (or logout) request carried through a form, re-validated from scratch.
    try:
        return parse_qs(raw or "", keep_blank_values=True, max_num_fields=100)
    except ValueError:  # more fields than any request of ours has: treated as no request
        return {}


_SECONDS = re.compile(r"[0-9]{1,10}")


def _max_age(params: Params) -> int | None:
    """The `max_age` parameter in seconds, None if absent; ValueError if it is not a number of seconds."""
    raw = _first(params, "max_age")
    if raw is None:
        return None
    if not _SECONDS.fullmatch(raw):
        raise ValueError("max_age must be a number of seconds")
    return int(raw)


def _see_other(response: Response) -> Response:
    # After a form POST, 303 makes every browser follow with GET.
    if response.status_code == 302:
        response.status_code = 303
    return response


def provider_issuer(public_url: str) -> str:
    """The provider's issuer identifier: exactly `{public_url}/idp`, no trailing slash."""
    return public_url.rstrip("/") + PREFIX


def discovery_document(issuer: str) -> dict[str, Any]:
    """OpenID Provider Metadata (Discovery 1.0 §3, RP-Initiated Logout §2.1)."""
    metadata = OpenIDProviderMetadata(
        {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/authorize",
            "token_endpoint": f"{issuer}/token",
            "userinfo_endpoint": f"{issuer}/userinfo",
            "jwks_uri": f"{issuer}/jwks.json",
            "end_session_endpoint": f"{issuer}/logout",
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public", "pairwise"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": list(PROVIDER_SCOPES),
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "name"],
            "prompt_values_supported": ["none", "login"],
            "ui_locales_supported": ["ko", "en"],
            "claims_parameter_supported": False,
            "request_parameter_supported": False,
            "request_uri_parameter_supported": False,
        }
    )
    # Authlib's checks demand https (loopback http passes); a development provider on another http
    # host is served unchecked rather than refused.
    if is_secure_transport(issuer):
        # Discovery §3 wants RS256 listed; the platform signs with ES256 only (its algorithm allow-list,
        # the one every OpenID4VC wallet accepts), so that one member is left unchecked.
        for member in metadata.REGISTRY_KEYS:
            if member != "id_token_signing_alg_values_supported":
                getattr(metadata, f"validate_{member}")()
        rpinitiated.OpenIDProviderMetadata(metadata).validate_end_session_endpoint()
    return dict(metadata)


def openid_provider_router(
    server: OpenIDProviderServer,
    *,
    session: BrowserSession,
    csrf_token: Callable[[Request], str],
    development: bool,
) -> APIRouter:
    """Every /idp endpoint. `development` shows (and accepts) the development account picker."""
    issuer = server.issuer
    pages = ProviderPages(csrf_token, issuer)
    router = APIRouter(tags=["OpenID provider (development)"])
    router.include_router(
        jwks_router(server.keyring, IDP_OWNER, f"{PREFIX}/jwks.json", "The OpenID provider's ID-token signing keys")
    )
    metadata = discovery_document(issuer)

    def signed_in(request: Request, params: Params) -> SignedInCitizen | None:
        data = session.read(request)
        if data is None or server.account(data.get("sub")) is None or not isinstance(data.get("auth_time"), int):
            return None
        citizen = SignedInCitizen(data["sub"], data["auth_time"])
        try:
            max_age = _max_age(params)
        except ValueError:
            max_age = None  # refused once the request is known to come from a registered client
        # OpenID Connect Core §3.1.2.1: a sign-in older than max_age seconds must be repeated.
        if max_age is not None and time.time() - citizen.auth_time > max_age:
            return None
        return citizen

    def authorization_error(request: Request, error: OAuth2Error) -> Response:
        if error.redirect_uri:  # validated against the client's registration by Authlib
            return server.handle_error_response(None, error)
        return pages.error(request, error.status_code, error.error, error.get_error_description())

    def unreadable(request: Request) -> Response:
        # Authlib refuses to build an OAuth error whose description would carry non-ASCII input
        # (RFC 6749 §4.1.2.1); such a request cannot be answered to any client.
        return pages.error(request, 400, "invalid_request", "the request has characters OAuth parameters cannot hold")

    def sign_in_page(
        request: Request,
        grant: Any,
        params: Params,
        *,
        error: dict[str, str] | None = None,
        platform_id: str = "",
        status: int | None = None,
    ) -> Response:
        accounts = server.accounts([pid for pid, _ in DEMO_ACCOUNTS]) if development else []
        return pages.render(
            request,
            "idp_sign_in.html",
            status=status or (400 if error else 200),
            client_name=grant.client.name,
            authorization_request=urlencode(params, doseq=True),
            demo_accounts=accounts,
            demo_password=DEMO_PASSWORD,
            error=error,
            platform_id=platform_id,
        )

    def authorize(request: Request, params: Params) -> Response:
        oauth_request = ParsedRequest("GET", f"{issuer}/authorize", request.headers, params, in_body=False)
        citizen = signed_in(request, params)
        try:
            grant = server.get_consent_grant(oauth_request, end_user=citizen)
            try:
                _max_age(params)
            except ValueError as exc:
                raise InvalidRequestError(str(exc), redirect_uri=grant.redirect_uri) from None
        except OAuth2Error as error:
            error.state = _first(params, "state")
            return authorization_error(request, error)
        except ValueError:
            return unreadable(request)
        if citizen is None or grant.prompt == "login":
            return sign_in_page(request, grant, params)
        response = server.create_authorization_response(oauth_request, grant_user=citizen, grant=grant)
        response.headers["Cache-Control"] = "no-store"
        return response

    def login(request: Request, form: Params) -> Response:
        params = _hidden_params(_first(form, _AUTHORIZATION_FIELD))
        oauth_request = ParsedRequest("GET", f"{issuer}/authorize", request.headers, params, in_body=False)
        try:
            grant = server.get_consent_grant(oauth_request, end_user=None)
        except OAuth2Error as error:
            return authorization_error(request, error)
        except ValueError:
            return unreadable(request)
        picked = _first(form, "account")
        if picked is not None:
            if not development:
                return pages.error(request, 403, "access_denied", "the development account picker is off")
            account = server.account(picked)
        else:
            # Wrong passwords count per typed platform id and per address; once either limit is
            # spent, no password is checked (nor scrypt run) until its window ends.
            caller, typed = current_caller(), _first(form, "platform_id")
            attempt = ((SIGNIN_ACCOUNT, typed or None), (SIGNIN_ADDRESS, caller.address)) if caller else ()
            refusal = caller.check(*attempt) if caller else None
            if refusal is not None:
                page = sign_in_page(
                    request,
                    grant,
                    params,
                    error=too_many_sign_ins(refusal.retry_after),
                    platform_id=(typed or "")[:64],
                    status=429,
                )
                page.headers["Retry-After"] = str(refusal.retry_after)
                return page
            account = server.authenticate(typed, _first(form, "password") or "")
            if account is None and caller:
                caller.count(*attempt)
        if account is None:
            wrong = {
                "ko": "플랫폼 ID 또는 비밀번호가 맞지 않습니다.",
                "en": "The platform ID or the password is not right.",
            }
            return sign_in_page(
                request, grant, params, error=wrong, platform_id=(_first(form, "platform_id") or "")[:64]
            )
        citizen = SignedInCitizen(account.platform_id, int(time.time()))
        response = server.create_authorization_response(oauth_request, grant_user=citizen, grant=grant)
        session.write(response, {"sub": citizen.platform_id, "auth_time": citizen.auth_time})
        response.headers["Cache-Control"] = "no-store"
        return _see_other(response)

    def logout(request: Request, params: Params, *, confirmed: bool) -> Response:
        oauth_request = ParsedRequest(request.method, f"{issuer}/logout", request.headers, params)
        oauth_request.confirmed_by_citizen = confirmed
        try:
            end = server.validate_endpoint_request("end_session", oauth_request)
        except (OAuth2Error, JoseError, ValueError) as error:
            description = error.description if isinstance(error, OAuth2Error) else "the id_token_hint is not valid"
            return pages.error(request, 400, "invalid_request", description)
        client_id = _first(params, "client_id")
        if client_id is not None and end.client is None:
            return pages.error(request, 400, "invalid_request", "the client_id is not registered")
        wanted = _first(params, "post_logout_redirect_uri")
        # RP-Initiated Logout §3: no redirect to an address the client did not register; refused
        # openly, so the relying party's operator learns of the mistake.
        registered = end.client.client_metadata["post_logout_redirect_uris"] if end.client is not None else []
        if wanted is not None and wanted not in registered:
            return pages.error(request, 400, "invalid_request", "post_logout_redirect_uri is not registered")
        if end.needs_confirmation and not confirmed and session.read(request) is not None:
            name = end.client.name if end.client is not None else None
            return pages.render(
                request, "idp_confirm_logout.html", client_name=name, logout_request=urlencode(params, doseq=True)
            )
        response = server.create_endpoint_response("end_session", end) or pages.render(request, "idp_signed_out.html")
        session.clear(response)
        return _see_other(response) if confirmed else response

    async def params_of_request(request: Request) -> Params:
        return params_of(request.query_params if request.method == "GET" else await request.form())

    @router.get(f"{PREFIX}/.well-known/openid-configuration", summary="OpenID Provider Metadata (Discovery 1.0)")
    def openid_configuration() -> dict[str, Any]:
        return metadata

    @router.api_route(f"{PREFIX}/authorize", methods=["GET", "POST"], include_in_schema=False)
    async def authorization_endpoint(request: Request) -> Response:
        return await run_in_threadpool(authorize, request, await params_of_request(request))

    @router.post(f"{PREFIX}/login", include_in_schema=False)
    async def sign_in(request: Request) -> Response:
        return await run_in_threadpool(login, request, params_of(await request.form()))

    @router.post(
        f"{PREFIX}/token",
        summary="Token endpoint: authorization code grant with PKCE; returns an ID token and an access token",
        responses={
            200: {"description": "id_token, access_token, token_type, expires_in, scope", "content": _FORM_JSON},
            400: {"description": "OAuth 2.0 error (RFC 6749 §5.2)", "content": _FORM_JSON},
            401: {"description": "Client authentication failed", "content": _FORM_JSON},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": {
                            "type": "object",
                            "required": ["grant_type", "code", "redirect_uri", "code_verifier"],
                            "properties": {
                                "grant_type": {"type": "string", "enum": ["authorization_code"]},
                                "code": {"type": "string"},
                                "redirect_uri": {"type": "string"},
                                "code_verifier": {"type": "string"},
                                "client_id": {"type": "string"},
                                "client_secret": {"type": "string"},
                            },
                        }
                    }
                },
            }
        },
    )
    async def token_endpoint(request: Request) -> Response:
        oauth_request = ParsedRequest("POST", f"{issuer}/token", request.headers, params_of(await request.form()))
        response = await run_in_threadpool(server.create_token_response, oauth_request)
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
        return response

    userinfo_responses: dict[int | str, dict[str, Any]] = {
        200: {"description": "The citizen's claims: sub, and name with the profile scope", "content": _FORM_JSON},
        401: {"description": "Missing or invalid access token (RFC 6750)", "content": _FORM_JSON},
        403: {"description": "The access token lacks the openid scope", "content": _FORM_JSON},
    }

    async def userinfo(request: Request) -> Response:
        params = {} if request.method == "GET" else params_of(await request.form())
        oauth_request = ParsedRequest(request.method, f"{issuer}/userinfo", request.headers, params)
        response = await run_in_threadpool(server.userinfo_response, oauth_request)
        response.headers["Cache-Control"] = "no-store"
        return response

    for method in ("GET", "POST"):
        router.add_api_route(
            f"{PREFIX}/userinfo",
            userinfo,
            methods=[method],
            summary=f"UserInfo endpoint ({method}, bearer access token from this provider)",
            responses=userinfo_responses,
            operation_id=f"idp_userinfo_{method.lower()}",
        )

    @router.api_route(f"{PREFIX}/logout", methods=["GET", "POST"], include_in_schema=False)
    async def end_session_endpoint(request: Request) -> Response:
        return await run_in_threadpool(logout, request, await params_of_request(request), confirmed=False)

    @router.post(f"{PREFIX}/logout/confirm", include_in_schema=False)
    async def confirm_logout(request: Request) -> Response:
        params = _hidden_params(_first(params_of(await request.form()), _LOGOUT_FIELD))
        return await run_in_threadpool(logout, request, params, confirmed=True)

    return router
