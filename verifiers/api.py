"""HTTP for the verifier party: OpenID4VP request objects and the direct_post response endpoint for
wallets; authenticated request creation and results for service backends; admin registration."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Callable
from typing import Annotated, Any, Literal

import httpx
import segno
from fastapi import APIRouter, Depends, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from auth.clients import register_client
from auth.rate_limits import REQUEST_CLIENT, current_caller
from auth.tokens import AccessToken
from keys.subjects import PAIRWISE_SUBJECT
from verifiers.apply import apply_for_service
from verifiers.callbacks import deliver_due, delivery_log
from verifiers.responses import PresentationResponses
from verifiers.service import REQUEST_OBJECT_TYP, VerifierError, VerifierService
from verifiers.texts import neutral_text

log = logging.getLogger("seoul_wallet.verifiers")

SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"


class LocalizedName(BaseModel):
    ko: str = Field(min_length=1, max_length=200)
    en: str = Field(min_length=1, max_length=200)


class VerifierIn(BaseModel):
    slug: str = Field(pattern=SLUG_PATTERN)
    name: LocalizedName
    services: list[str] = Field(min_length=1, max_length=50)
    dns_name: str | None = Field(default=None, max_length=253, pattern=r"^[A-Za-z0-9.-]+$")
    redirect_uri: str | None = Field(default=None, max_length=2000)


class VerifierOut(BaseModel):
    slug: str
    name: LocalizedName
    services: list[str]
    client_id: str
    response_uri: str
    redirect_uri: str | None


class VerifierRegistered(VerifierOut):
    oauth_client_id: str
    oauth_client_secret: str = Field(description="shown once; store it in the backend's secret store")


class TrustedIssuerIn(BaseModel):
    issuer: str = Field(min_length=8, max_length=300)
    vcts: list[str] = Field(min_length=1, max_length=100)
    name: str = Field(default="", max_length=200)


class TrustedIssuerOut(BaseModel):
    issuer: str
    name: str
    vcts: list[str]


class RequestIn(BaseModel):
    service_id: str = Field(min_length=1, max_length=100)
    callback_url: str | None = Field(default=None, max_length=2000)
    client_id_prefix: Literal["x509_san_dns", "redirect_uri"] = Field(
        default="x509_san_dns",
        description="redirect_uri: an unsigned request passed by value, in development mode only",
    )
    applicant: str | None = Field(
        default=None,
        pattern=PAIRWISE_SUBJECT.pattern,
        description=(
            "the pairwise subject of the citizen this check is for (the `sub` the platform's sign-in gave "
            "this service): only that citizen's answer is accepted; anyone else's is refused "
            "(wrong_applicant) and leaves the check open"
        ),
    )


class RequestCreated(BaseModel):
    request_id: str
    client_id: str
    request_uri: str | None = Field(description="absent when the request is passed by value (redirect_uri:)")
    link: str = Field(description="openid4vp:// link for a wallet, also as a QR code")
    qr_svg: str
    qr_png: str
    result: str
    expires_at: int


class ApplicationOut(BaseModel):
    request_id: str
    verifier: str = Field(description="the slug of the verifier operating the service")
    service_id: str
    client_id: str
    link: str = Field(description="openid4vp:// link the citizen's wallet opens (the check is bound to her)")
    expires_at: int


class RequestResult(BaseModel):
    request_id: str
    service_id: str
    status: str = Field(description="pending, answered, rejected or expired")
    created_at: int
    expires_at: int
    eligible: bool | None = None
    subject: str | None = Field(
        default=None, description="who the answer is about: the applicant's pairwise subject for this verifier"
    )
    decision: str | None = Field(default=None, description="the signed decision JWT (eligibility-decision+jwt)")
    consent_record_id: str | None = None
    failure: dict[str, Any] | None = None
    values: dict[str, Any] | None = Field(default=None, description="only the claims the policy declares it needs")


def _verifier_of(token: AccessToken) -> str:
    if not token.subject.startswith("verifier:"):
        raise VerifierError("not_a_verifier", "this token does not act for a verifier", status=403)
    return token.subject.removeprefix("verifier:")


def _out(service: VerifierService, verifier: Any) -> dict[str, Any]:
    return {
        "slug": verifier.slug,
        "name": {"ko": verifier.name_ko, "en": verifier.name_en},
        "services": json.loads(verifier.services),
        "client_id": service.client_id(verifier),
        "response_uri": service.response_uri(verifier),
        "redirect_uri": verifier.redirect_uri,
    }


def _qr(link: str, kind: str) -> bytes:
    buffer = io.BytesIO()
    segno.make(link, error="m").save(buffer, kind=kind, scale=4, border=2)
    return buffer.getvalue()


def _response_refusal(exc: VerifierError) -> JSONResponse:
    """The response endpoint's error (OAuth style, OpenID4VP 1.0 §8.2): 400, or 503 when our side
    could not finish (the wallet may retry the same response: it is decided once)."""
    unavailable = exc.status >= 500
    return JSONResponse(
        {"error": exc.error, "error_description": neutral_text(f"{exc.reason}: {exc.detail}")},
        status_code=exc.status if unavailable else 400,
        headers={"Cache-Control": "no-store", **({"Retry-After": "2"} if unavailable else {})},
    )


def create_router(service: VerifierService, bearer: Any) -> APIRouter:
    """The verifier party's routes. `bearer` is the platform's BearerAuth."""
    router = APIRouter()
    require_admin = Depends(bearer.require("verifiers:admin"))
    require_requester = Depends(bearer.require("presentations:request"))
    # A token the citizen's wallet mints for this one purpose (wallet/services_for_me.py).
    require_citizen = Depends(bearer.require("services:apply"))
    problem = {"content": {"application/problem+json": {}}}

    @router.get(
        "/verifiers/rp-ca.pem",
        tags=["verifiers"],
        summary="The relying-party CA certificate wallets trust for x509_san_dns client identifiers",
        response_class=Response,
        responses={200: {"content": {"application/x-pem-file": {}}}},
    )
    def rp_ca() -> Response:
        return Response(service.ca.ca_pem(), media_type="application/x-pem-file")

    @router.get("/verifiers/jwks.json", tags=["verifiers"], summary="Public keys that sign eligibility decisions")
    def decisions_jwks() -> dict[str, Any]:
        return service.public_jwk_of_decisions()

    @router.post(
        "/admin/verifiers",
        tags=["admin API"],
        status_code=201,
        summary="Register a verifier: request-signing key, RP certificate, OAuth client (scope verifiers:admin)",
        response_model=VerifierRegistered,
        responses={409: problem, 422: problem},
    )
    def register(body: VerifierIn, _: AccessToken = require_admin) -> dict[str, Any]:
        verifier = service.register(
            body.slug, body.name.ko, body.name.en, body.services, body.dns_name, body.redirect_uri
        )
        client = register_client(
            service.engine, f"verifier:{verifier.slug}", ["presentations:request"], name=verifier.name_en
        )
        return {
            **_out(service, verifier),
            "oauth_client_id": client.client_id,
            "oauth_client_secret": client.client_secret,
        }

    @router.get("/admin/verifiers", tags=["admin API"], summary="Every verifier", response_model=list[VerifierOut])
    def list_verifiers(_: AccessToken = require_admin) -> list[dict[str, Any]]:
        return [_out(service, v) for v in service.list()]

    @router.get(
        "/admin/trusted-issuers",
        tags=["admin API"],
        summary="The trusted-issuer registry",
        response_model=list[TrustedIssuerOut],
    )
    def list_trusted(_: AccessToken = require_admin) -> list[dict[str, Any]]:
        return [{"issuer": i.issuer, "name": i.name, "vcts": list(i.vcts)} for i in service.registry.trusted().values()]

    @router.post(
        "/admin/trusted-issuers",
        tags=["admin API"],
        summary="Trust an issuer for credential types (vct values)",
        response_model=TrustedIssuerOut,
    )
    def trust(body: TrustedIssuerIn, _: AccessToken = require_admin) -> dict[str, Any]:
        if not body.issuer.startswith("https://") and not service.settings.development:
            raise VerifierError("unsafe_url", "issuer identifiers are https URLs", status=422)
        info = service.registry.trust(body.issuer, body.vcts, body.name)
        return {"issuer": info.issuer, "name": info.name, "vcts": list(info.vcts)}

    @router.delete(
        "/admin/trusted-issuers",
        tags=["admin API"],
        status_code=204,
        summary="Stop trusting an issuer: its credentials are refused from now on",
        response_class=Response,
        responses={404: problem},
    )
    def distrust(issuer: str, _: AccessToken = require_admin) -> Response:
        if not service.registry.distrust(issuer):
            raise VerifierError("issuer_not_trusted", f"{issuer} is not in the registry", status=404)
        return Response(status_code=204)

    @router.post(
        "/verifiers/requests",
        tags=["verifiers"],
        status_code=201,
        summary="Start an eligibility check: an OpenID4VP request for a service (scope presentations:request)",
        response_model=RequestCreated,
        responses={403: problem, 404: problem, 422: problem, 429: problem},
    )
    def create_request(body: RequestIn, token: AccessToken = require_requester) -> dict[str, Any]:
        # Each check is rows, a signed request object and a QR code: a runaway backend gets 429
        # (Problem Details with Retry-After, seoul_wallet/rate_limits.py) instead of the database.
        caller = current_caller()
        refusal = caller.count((REQUEST_CLIENT, token.client_id)) if caller is not None else None
        if refusal is not None:
            raise refusal
        created = service.create_request(
            _verifier_of(token), body.service_id, body.callback_url, body.client_id_prefix, body.applicant
        )
        base = f"{service.base_url}/verifiers/requests/{created.request_id}"
        return {
            "request_id": created.request_id,
            "client_id": created.client_id,
            "request_uri": created.request_uri,
            "link": created.link,
            "qr_svg": f"{base}/qr.svg",
            "qr_png": f"{base}/qr.png",
            "result": base,
            "expires_at": created.expires_at,
        }

    @router.post(
        "/verifiers/services/{service_id}/apply",
        tags=["verifiers"],
        status_code=201,
        summary="Apply for a service as a citizen (scope services:apply): a check bound to her, and its wallet link",
        response_model=ApplicationOut,
        responses={401: problem, 403: problem, 404: problem},
    )
    def apply(
        service_id: Annotated[str, PathParam(pattern=r"^[a-z0-9_]{1,100}$")],
        token: AccessToken = require_citizen,
    ) -> dict[str, Any]:
        slug, created = apply_for_service(service, service_id, token.subject)
        return {
            "request_id": created.request_id,
            "verifier": slug,
            "service_id": service_id,
            "client_id": created.client_id,
            "link": created.link,
            "expires_at": created.expires_at,
        }

    @router.get(
        "/verifiers/requests/{request_id}",
        tags=["verifiers"],
        summary="The result of a check: status and signed decision (only the verifier that made it)",
        response_model=RequestResult,
        response_model_exclude_none=True,
        responses={403: problem, 404: problem},
    )
    def get_result(
        request_id: str, response_code: str | None = None, token: AccessToken = require_requester
    ) -> dict[str, Any]:
        return service.result(_verifier_of(token), request_id, response_code)

    @router.get(
        "/verifiers/requests/{request_id}/callbacks",
        tags=["verifiers"],
        summary="The callback delivery log of a check",
        responses={404: problem},
    )
    def get_callbacks(request_id: str, token: AccessToken = require_requester) -> list[dict[str, Any]]:
        service.own_request(_verifier_of(token), request_id)  # 404 unless it is this verifier's request
        return delivery_log(service, request_id)

    def _qr_route(kind: str, media_type: str) -> Callable[..., Response]:
        def qr(request_id: str, token: AccessToken = require_requester) -> Response:
            slug = _verifier_of(token)
            _, link = service.link(service.own_request(slug, request_id), service.get(slug))
            return Response(_qr(link, kind), media_type=media_type)

        return qr

    for kind, media_type in (("svg", "image/svg+xml"), ("png", "image/png")):
        router.add_api_route(
            f"/verifiers/requests/{{request_id}}/qr.{kind}",
            _qr_route(kind, media_type),
            methods=["GET"],
            tags=["verifiers"],
            summary=f"QR code ({kind.upper()}) of the openid4vp:// link",
            response_class=Response,
            responses={200: {"content": {media_type: {}}}, 404: problem},
        )

    @router.get(
        "/verifiers/{slug}/requests/{request_id}/object",
        tags=["OpenID4VP"],
        summary="The signed request object (request_uri), application/oauth-authz-req+jwt",
        response_class=Response,
        responses={200: {"content": {"application/oauth-authz-req+jwt": {}}}, 404: problem, 410: problem},
    )
    def request_object(slug: str, request_id: str) -> Response:
        return Response(
            service.request_object(slug, request_id),
            media_type=f"application/{REQUEST_OBJECT_TYP}",
            headers={"Cache-Control": "no-store"},
        )

    responses = PresentationResponses(service)

    @router.post(
        "/verifiers/{slug}/response",
        tags=["OpenID4VP"],
        summary="Response endpoint (response_mode direct_post): vp_token and state, or an error response",
        responses={
            200: {"description": "Accepted; the backend gets the decision", "content": {"application/json": {}}},
            400: {"description": "OAuth error response", "content": {"application/json": {}}},
            503: {
                "description": "The consent ledger did not answer (temporarily_unavailable): retry the same "
                "response, it is decided once",
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
                            "required": ["state"],
                            "properties": {
                                "vp_token": {"type": "string"},
                                "state": {"type": "string"},
                                "error": {"type": "string", "description": "an error response (§8.5) instead"},
                                "error_description": {"type": "string"},
                            },
                        }
                    }
                },
            }
        },
    )
    async def response_endpoint(slug: str, request: Request) -> JSONResponse:
        # Async, with the checks in the response path's own threads and the ledger call awaited:
        # verifiers/responses.py says why (a burst of presentations starved the shared pool).
        form = await request.form()
        vp_token, state, error = form.get("vp_token"), form.get("state"), form.get("error")
        state_text = state if isinstance(state, str) else None
        try:
            if isinstance(error, str) and vp_token is None:
                await responses.handle_error_response(slug, state_text, error)
                return JSONResponse({}, headers={"Cache-Control": "no-store"})
            outcome = await responses.handle_response(slug, vp_token if isinstance(vp_token, str) else None, state_text)
        except VerifierError as exc:
            return _response_refusal(exc)
        body = {"redirect_uri": outcome.redirect_uri} if outcome.redirect_uri else {}
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    return router


async def run_callback_worker(service: VerifierService, http: httpx.Client, interval: float = 1.0) -> None:
    """Deliver due callbacks and drop vp_tokens past their retention, until cancelled (started by
    the app's lifespan)."""
    while True:
        try:
            await run_in_threadpool(deliver_due, service, http)
            await run_in_threadpool(service.purge_retained_vp_tokens)
        except Exception:  # a bad row must not stop the worker; it is logged and retried
            log.exception("verifier worker error")
        await asyncio.sleep(interval)
