"""The issuers' HTTP surface: OpenID4VCI endpoints per agency, the agency API and the admin API.

`create_router` receives everything it needs (engine, key ring, master key, public URL, the bearer
dependency factory), so this package never imports the composition root.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from typing import Annotated, Any

import segno
from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from issuers.agencies import AgencyError, AgencyInfo
from issuers.bulk import BatchProgress, BatchStateError, Bulk, PartBusy, parse_idempotency_key
from issuers.bulk_rows import count_lines, iter_text_lines
from issuers.context import IssuerContext, build_context
from issuers.credential_types import ClaimError, CredentialType
from issuers.models import Offer
from issuers.offers import CreatedOffer, OfferError, Offers, TxCodeRequest, offer_link_by_reference
from issuers.oid4vci import OID4VCIError, OID4VCIIssuer
from issuers.schemas import (
    AgencyCreate,
    AgencyCreated,
    AgencyOut,
    BatchChunkResult,
    BatchCreate,
    BatchErrorOut,
    BatchOut,
    KeyRotated,
    OfferCreate,
    OfferCreated,
    OfferState,
)
from issuers.status_lists import STATUS_NAMES, STATUS_TOKEN_LIFETIME, STATUS_TTL
from keys.keyring import KeyRing

PROBLEM_JSON = "application/problem+json"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_OAUTH_ERROR = {
    "description": "Error in the spec's terms: {error, error_description}",
    "content": {"application/json": {}},
}


def _problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def _field_problem(field: str | None, message: str, status: int = 422) -> JSONResponse:
    if status != 422:
        return _problem(status, "Request refused", f"{field}: {message}" if field else message)
    return _problem(
        422,
        "Request validation failed",
        f"{field}: {message}" if field else message,
        type="/problems/validation",
        errors=[{"field": field or "", "message": message}],
    )


def _oid4vci_error(exc: OID4VCIError) -> JSONResponse:
    return JSONResponse(
        {"error": exc.error, "error_description": exc.description},
        status_code=exc.status,
        headers={**NO_STORE, **exc.headers},
    )


def _offer_out(request_base: str, created: CreatedOffer) -> OfferCreated:
    return OfferCreated(
        offer_id=created.offer_id,
        credential_offer=created.credential_offer,
        credential_offer_uri=created.credential_offer_uri,
        offer_link=created.link,
        offer_link_by_reference=created.link_by_reference,
        qr_png=f"{request_base}/offers/{created.offer_id}/qr.png",
        qr_svg=f"{request_base}/offers/{created.offer_id}/qr.svg",
        expires_at=created.expires_at,
        tx_code=created.tx_code,
    )


def _batch_out(progress: BatchProgress) -> BatchOut:
    return BatchOut(**{k: getattr(progress, k) for k in BatchOut.model_fields})


def create_router(
    engine: Engine,
    keyring: KeyRing,
    master_key: bytes,
    public_url: str,
    require: Callable[..., Callable[..., Any]],
    types: dict[str, CredentialType] | None = None,
) -> APIRouter:
    """All issuer routes. `require(*scopes)` is the platform's bearer dependency factory."""
    context: IssuerContext = build_context(engine, keyring, master_key, public_url, types)
    offers = Offers(context)
    oid4vci = OID4VCIIssuer(context)
    bulk = Bulk(offers)
    router = APIRouter()
    router.state = context  # type: ignore[attr-defined]  # lets tests and tools reach the wiring

    require_admin = Depends(require("agencies:admin"))
    require_offer = Depends(require("credentials:offer"))
    require_revoke = Depends(require("credentials:revoke"))

    def public_agency(slug: str) -> AgencyInfo:
        agency = context.agencies.get(slug)
        if agency is None:
            raise HTTPException(404, "no such credential issuer")
        return agency

    async def public_agency_async(slug: str) -> AgencyInfo:
        # For the async protocol endpoints: a cache hit costs nothing, and a miss (which reads the
        # database) runs in the thread pool, never on the event loop.
        agency = context.agencies.cached(slug)
        return agency if agency is not None else await run_in_threadpool(public_agency, slug)

    def own_agency(slug: str, token: Any) -> AgencyInfo:
        """The agency of the URL, which must be the one the access token acts for."""
        agency = public_agency(slug)
        if token.subject != agency.owner:
            raise HTTPException(403, "the access token does not act for this agency")
        return agency

    # -- metadata (wallet-facing) ---------------------------------------------------------------

    @router.get(
        "/.well-known/openid-credential-issuer/issuers/{slug}",
        tags=["OpenID4VCI"],
        summary="Credential Issuer Metadata (OpenID4VCI 1.0 §12.2)",
    )
    def credential_issuer_metadata(slug: str) -> JSONResponse:
        return JSONResponse(oid4vci.credential_issuer_metadata(public_agency(slug)))

    @router.get(
        "/.well-known/oauth-authorization-server/issuers/{slug}",
        tags=["OpenID4VCI"],
        summary="Authorization server metadata of the issuer (RFC 8414), for the pre-authorized code flow",
    )
    def authorization_server_metadata(slug: str) -> JSONResponse:
        return JSONResponse(oid4vci.authorization_server_metadata(public_agency(slug)))

    @router.get(
        "/.well-known/jwt-vc-issuer/issuers/{slug}",
        tags=["OpenID4VCI"],
        summary="JWT VC Issuer Metadata (SD-JWT VC §4): the issuer's public keys",
    )
    def jwt_vc_issuer_metadata(slug: str) -> JSONResponse:
        return JSONResponse(
            oid4vci.jwt_vc_issuer_metadata(public_agency(slug)), headers={"Cache-Control": "max-age=300"}
        )

    @router.get(
        "/issuers/{slug}/credential-offers/{reference}",
        tags=["OpenID4VCI"],
        summary="A credential offer by reference (credential_offer_uri)",
    )
    def credential_offer(slug: str, reference: str) -> JSONResponse:
        offer = offers.by_reference(public_agency(slug).slug, reference)
        if offer is None:
            raise HTTPException(404, "no such credential offer, or it is no longer redeemable")
        return JSONResponse(offer, headers=NO_STORE)

    # -- OpenID4VCI protocol endpoints --------------------------------------------------------------

    @router.post(
        "/issuers/{slug}/token",
        tags=["OpenID4VCI"],
        summary="Token endpoint: pre-authorized code grant",
        responses={400: _OAUTH_ERROR},
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": {
                            "type": "object",
                            "required": ["grant_type", "pre-authorized_code"],
                            "properties": {
                                "grant_type": {
                                    "type": "string",
                                    "enum": ["urn:ietf:params:oauth:grant-type:pre-authorized_code"],
                                },
                                "pre-authorized_code": {"type": "string"},
                                "tx_code": {"type": "string"},
                            },
                        }
                    }
                },
            }
        },
    )
    async def token(slug: str, request: Request) -> JSONResponse:
        agency = await public_agency_async(slug)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            return _oid4vci_error(OID4VCIError("invalid_request", "the body must be application/x-www-form-urlencoded"))
        try:
            form = await request.form()
        except Exception:  # a body the form parser rejects is the client's error, never a 500
            return _oid4vci_error(OID4VCIError("invalid_request", "the form body cannot be parsed"))
        fields: dict[str, list[str]] = {}
        for key, value in form.multi_items():
            if isinstance(value, str):
                fields.setdefault(key, []).append(value)
        try:
            body = await run_in_threadpool(oid4vci.token, agency, fields)
        except OID4VCIError as exc:
            return _oid4vci_error(exc)
        return JSONResponse(body, headers=NO_STORE)

    @router.post(
        "/issuers/{slug}/nonce",
        tags=["OpenID4VCI"],
        summary="Nonce endpoint: a fresh c_nonce for key proofs",
    )
    async def nonce(slug: str) -> JSONResponse:
        # async: a MAC, and the agency from the cache, so it usually skips the thread pool hop
        return JSONResponse(oid4vci.nonce(await public_agency_async(slug)), headers=NO_STORE)

    @router.post(
        "/issuers/{slug}/credential",
        tags=["OpenID4VCI"],
        summary="Credential endpoint: an SD-JWT VC bound to the key of the jwt proof",
        responses={400: _OAUTH_ERROR, 401: _OAUTH_ERROR},
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["credential_configuration_id", "proofs"],
                            "properties": {
                                "credential_configuration_id": {"type": "string"},
                                "proofs": {
                                    "type": "object",
                                    "properties": {"jwt": {"type": "array", "items": {"type": "string"}}},
                                },
                            },
                        }
                    }
                },
            }
        },
    )
    async def credential(slug: str, request: Request) -> JSONResponse:
        agency = await public_agency_async(slug)
        raw = await request.body()
        try:
            body: Any = json.loads(raw)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser allows
            body = None
        try:
            result = await run_in_threadpool(oid4vci.credential, agency, request.headers.get("authorization"), body)
        except OID4VCIError as exc:
            return _oid4vci_error(exc)
        return JSONResponse(result, headers=NO_STORE)

    @router.get(
        "/issuers/{slug}/status-lists/{list_id}",
        tags=["status lists"],
        summary="Status List Token (IETF Token Status List), application/statuslist+jwt",
        responses={200: {"content": {"application/statuslist+jwt": {}}}, 304: {"description": "Not modified"}},
    )
    def status_list(slug: str, list_id: str, request: Request) -> Response:
        agency = public_agency(slug)
        with Session(engine) as session:
            found = context.status_lists.token(session, agency.slug, list_id) if len(list_id) <= 32 else None
        if found is None:
            raise HTTPException(404, "no such status list")
        token_text, _version = found
        etag = '"' + hashlib.sha256(token_text.encode()).hexdigest()[:32] + '"'
        headers = {"Cache-Control": f"public, max-age={STATUS_TTL}", "ETag": etag}
        if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
            return Response(status_code=304, headers=headers)
        return Response(token_text, media_type="application/statuslist+jwt", headers=headers)

    # -- agency API --------------------------------------------------------------------------------

    @router.post(
        "/issuers/{slug}/offers",
        tags=["agency API"],
        summary="Create a credential offer for a citizen (scope credentials:offer)",
        status_code=201,
        response_model=OfferCreated,
    )
    def create_offer(slug: str, body: OfferCreate, token: Any = require_offer) -> Any:
        agency = own_agency(slug, token)
        tx = TxCodeRequest(length=body.tx_code.length, value=body.tx_code.value) if body.tx_code else None
        try:
            created = offers.create(
                agency, body.credential_type, body.subject, body.claims, tx_code=tx, expires_in=body.expires_in
            )
        except OfferError as exc:
            return _field_problem(exc.field, exc.message, exc.status)
        except ClaimError as exc:
            return _field_problem(exc.field, exc.message)
        return JSONResponse(
            _offer_out(context.issuer_id(slug), created).model_dump(), status_code=201, headers=NO_STORE
        )

    def _offer_state(row: Offer) -> OfferState:
        return OfferState(
            offer_id=row.id,
            credential_type=row.credential_type,
            subject=row.subject,
            state=row.state,
            created_at=row.created_at,
            expires_at=row.expires_at,
            issued_at=row.issued_at,
            credential_expires_at=row.credential_expires_at,
            status=STATUS_NAMES.get(row.status) if row.status is not None else None,
            status_list_uri=context.status_lists.uri(row.agency, row.status_list_id) if row.status_list_id else None,
            status_index=row.status_index,
        )

    @router.get(
        "/issuers/{slug}/offers/{offer_id}",
        tags=["agency API"],
        summary="An offer and, once redeemed, its credential's status",
        response_model=OfferState,
    )
    def get_offer(slug: str, offer_id: str, token: Any = require_offer) -> OfferState:
        agency = own_agency(slug, token)
        row = offers.get(agency.slug, offer_id)
        if row is None:
            raise HTTPException(404, "no such offer")
        return _offer_state(row)

    def _qr(slug: str, offer_id: str, token: Any) -> segno.QRCode:
        agency = own_agency(slug, token)
        row = offers.get(agency.slug, offer_id)
        if row is None or row.state != "offered":
            raise HTTPException(404, "no such redeemable offer")
        return segno.make(offer_link_by_reference(offers.offer_uri(agency.slug, row.id)), error="m")

    @router.get(
        "/issuers/{slug}/offers/{offer_id}/qr.png",
        tags=["agency API"],
        summary="QR code (PNG) of the offer link by reference",
        responses={200: {"content": {"image/png": {}}}},
        response_class=Response,
    )
    def offer_qr_png(slug: str, offer_id: str, token: Any = require_offer) -> Response:
        out = io.BytesIO()
        _qr(slug, offer_id, token).save(out, kind="png", scale=6, border=4)
        return Response(out.getvalue(), media_type="image/png", headers=NO_STORE)

    @router.get(
        "/issuers/{slug}/offers/{offer_id}/qr.svg",
        tags=["agency API"],
        summary="QR code (SVG) of the offer link by reference",
        responses={200: {"content": {"image/svg+xml": {}}}},
        response_class=Response,
    )
    def offer_qr_svg(slug: str, offer_id: str, token: Any = require_offer) -> Response:
        out = io.BytesIO()
        _qr(slug, offer_id, token).save(out, kind="svg", scale=6, border=4, xmldecl=False)
        return Response(out.getvalue(), media_type="image/svg+xml", headers=NO_STORE)

    def _status_route(action: str) -> None:
        @router.post(
            f"/issuers/{{slug}}/credentials/{{offer_id}}/{action}",
            tags=["agency API"],
            summary=f"{action.capitalize()} a credential (scope credentials:revoke)",
            response_model=OfferState,
            name=f"{action}_credential",
            responses={
                409: {
                    "description": "Not possible in the offer's state (not redeemed, revoked, changed meanwhile)",
                    "content": {"application/problem+json": {}},
                }
            },
        )
        def change(slug: str, offer_id: str, token: Any = require_revoke) -> Any:
            agency = own_agency(slug, token)
            try:
                row = offers.change_status(agency.slug, offer_id, action)
            except OfferError as exc:
                return _field_problem(exc.field, exc.message, exc.status)
            return _offer_state(row)

    for action in ("revoke", "suspend", "reinstate"):
        _status_route(action)

    # -- bulk ------------------------------------------------------------------------------------------

    idempotency_key_header = Header(
        default=None,
        alias="Idempotency-Key",
        description=(
            "draft-ietf-httpapi-idempotency-key-header: an RFC 8941 String (a bare token is read as the same "
            "key). The same key and body again return the first outcome; another body with it is a 422"
        ),
    )

    def _batch_refused(exc: BatchStateError) -> JSONResponse:
        response = _problem(exc.status, "Batch refused", exc.message)
        if isinstance(exc, PartBusy):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @router.post(
        "/issuers/{slug}/batches",
        tags=["agency API"],
        summary="Open a bulk issuance batch (with Idempotency-Key: the batch that key names)",
        status_code=201,
        response_model=BatchOut,
        responses={
            400: {"description": "A malformed Idempotency-Key", "content": {PROBLEM_JSON: {}}},
            422: {"description": "The key names a batch of another type or format", "content": {PROBLEM_JSON: {}}},
        },
    )
    def open_batch(
        slug: str, body: BatchCreate, token: Any = require_offer, idempotency_key: str | None = idempotency_key_header
    ) -> Any:
        agency = own_agency(slug, token)
        try:
            key = parse_idempotency_key(idempotency_key) if idempotency_key is not None else None
            progress = bulk.open(agency, body.credential_type, body.format, key=key)
        except OfferError as exc:
            return _field_problem(exc.field, exc.message, exc.status)
        except BatchStateError as exc:
            return _batch_refused(exc)
        return JSONResponse(_batch_out(progress).model_dump(), status_code=201)

    @router.post(
        "/issuers/{slug}/batches/{batch_id}/rows",
        tags=["agency API"],
        summary=(
            "Append rows (whole lines of JSON Lines or CSV) to a batch; returns each row's offer or error. "
            "Idempotent: the same body again (same bytes, or same Idempotency-Key) gets its lines' outcome"
        ),
        response_model=BatchChunkResult,
        responses={
            400: {"description": "A malformed Idempotency-Key", "content": {PROBLEM_JSON: {}}},
            404: {"description": "No such batch", "content": {PROBLEM_JSON: {}}},
            409: {
                "description": "The batch is closed, or this body is still being processed (Retry-After)",
                "content": {PROBLEM_JSON: {}},
            },
            422: {"description": "The Idempotency-Key was used with another body", "content": {PROBLEM_JSON: {}}},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/jsonl": {"schema": {"type": "string"}},
                    "text/csv": {"schema": {"type": "string"}},
                },
            }
        },
    )
    async def append_rows(
        slug: str,
        batch_id: str,
        request: Request,
        token: Any = require_offer,
        idempotency_key: str | None = idempotency_key_header,
    ) -> Any:
        agency = await run_in_threadpool(own_agency, slug, token)  # may read the database
        data = await request.body()  # bounded by the platform's body limit; send a big file in parts
        fingerprint = Bulk.fingerprint(data)

        def work() -> Any:
            # Without a key, the body's own bytes name it: sent again, it is the same part.
            key = parse_idempotency_key(idempotency_key) if idempotency_key is not None else f"sha256:{fingerprint}"
            claim = bulk.claim_part(agency, batch_id, key, fingerprint, count_lines(data))
            results = [r for chunk in bulk.run_part(agency, claim, iter_text_lines(data)) for r in chunk]
            progress = bulk.get(agency.slug, batch_id)
            assert progress is not None
            return BatchChunkResult(batch=_batch_out(progress), first_line=claim.first_line, results=results)

        try:
            return await run_in_threadpool(work)
        except BatchStateError as exc:
            return _batch_refused(exc)

    @router.get(
        "/issuers/{slug}/batches/{batch_id}",
        tags=["agency API"],
        summary="Progress of a batch",
        response_model=BatchOut,
    )
    def batch_progress(slug: str, batch_id: str, token: Any = require_offer) -> BatchOut:
        agency = own_agency(slug, token)
        progress = bulk.get(agency.slug, batch_id)
        if progress is None:
            raise HTTPException(404, "no such batch")
        return _batch_out(progress)

    @router.get(
        "/issuers/{slug}/batches/{batch_id}/errors",
        tags=["agency API"],
        summary="Malformed rows of a batch, by line number",
        response_model=list[BatchErrorOut],
    )
    def batch_errors(
        slug: str,
        batch_id: str,
        # Bounded to what a line number column holds: a larger one was an overflow (500) in the database.
        after_line: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
        token: Any = require_offer,
    ) -> list[BatchErrorOut]:
        agency = own_agency(slug, token)
        if bulk.get(agency.slug, batch_id) is None:
            raise HTTPException(404, "no such batch")
        rows = bulk.errors(agency.slug, batch_id, after_line, limit)
        return [BatchErrorOut(line=r.line, field=r.field, message=r.message) for r in rows]

    @router.post(
        "/issuers/{slug}/batches/{batch_id}/close",
        tags=["agency API"],
        summary="Close a batch: no more rows",
        response_model=BatchOut,
    )
    def close_batch(slug: str, batch_id: str, token: Any = require_offer) -> Any:
        agency = own_agency(slug, token)
        try:
            return _batch_out(bulk.close(agency.slug, batch_id))
        except BatchStateError as exc:
            return _batch_refused(exc)

    # -- admin API ---------------------------------------------------------------------------------------

    def _agency_out(info: AgencyInfo) -> dict[str, Any]:
        return {
            "slug": info.slug,
            "name": info.name,
            "credential_issuer": context.issuer_id(info.slug),
            "credential_types": list(info.credential_types),
        }

    @router.post(
        "/admin/agencies",
        tags=["admin API"],
        summary="Register an agency: signing key and OAuth client (scope agencies:admin)",
        status_code=201,
        response_model=AgencyCreated,
    )
    def add_agency(body: AgencyCreate, token: Any = require_admin) -> Any:
        try:
            info, client = context.agencies.add(body.slug, body.name.ko, body.name.en, body.credential_types)
        except AgencyError as exc:
            return _field_problem(exc.field, exc.message, exc.status)
        assert client is not None
        out = {
            **_agency_out(info),
            "client_id": client.client_id,
            "client_secret": client.client_secret,
            "scope": client.scope,
        }
        return JSONResponse(out, status_code=201, headers=NO_STORE)

    @router.get("/admin/agencies", tags=["admin API"], summary="Every agency", response_model=list[AgencyOut])
    def list_agencies(token: Any = require_admin) -> list[dict[str, Any]]:
        return [_agency_out(info) for info in context.agencies.list()]

    @router.post(
        "/admin/agencies/{slug}/rotate-key",
        tags=["admin API"],
        summary="Rotate an agency's signing key; the old key stays published while its credentials live",
        response_model=KeyRotated,
    )
    def rotate_key(slug: str, token: Any = require_admin) -> KeyRotated:
        agency = public_agency(slug)
        retire_after = context.agencies.max_validity_seconds(agency) + STATUS_TOKEN_LIFETIME
        info = keyring.rotate(agency.owner, retire_after=retire_after)
        return KeyRotated(kid=info.kid, retire_after_seconds=retire_after)

    return router
