"""The wallet's JSON API for services for me: the list, evaluated in the wallet over the citizen's
own credentials, and applying for one (wallet/services_for_me.py)."""

# No `from __future__ import annotations`: FastAPI must see the dependency (a local) as an object.
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from eligibility.assessment import Assessment
from wallet.api import PROBLEM, WalletServices, jsonable, problem_response, sharing_problem
from wallet.present_errors import SharingRefused
from wallet.services_for_me import ApplyFailed

ServiceId = Annotated[str, Path(pattern=r"^[a-z0-9_]{1,100}$", description="a catalog service id")]


class ReasonOut(BaseModel):
    credential: str
    claim: str
    op: str
    excluded: bool = Field(description="an exclusion that applies, rather than a requirement not met")
    text: dict[str, str] = Field(description="the reason in plain words, by language (ko, en)")


class MissingOut(BaseModel):
    type_id: str
    name: dict[str, str]
    issuer: dict[str, str]
    agency: str | None = Field(description="the issuing agency's slug on this platform")
    how_to_get: dict[str, str]
    held_but: str | None = Field(
        default=None, description="revoked, suspended or expired: the citizen holds one that cannot count"
    )


class ServiceOut(BaseModel):
    service_id: str
    name: dict[str, str]
    operator: dict[str, str]
    benefit: dict[str, str]
    policy_version: str
    standing: str = Field(description="eligible, close or not_eligible")
    reasons: list[ReasonOut]
    missing: list[MissingOut]


class ServiceList(BaseModel):
    on: str = Field(description="the date the rules were evaluated on (Seoul), as the verifiers will")
    credentials_considered: int
    services: list[ServiceOut]


class ApplicationOut(BaseModel):
    request_id: str
    verifier: str
    service_id: str
    link: str = Field(description="the sharing request; approve or deny it with /wallet/api/sharing-requests/…")
    sharing_request: dict[str, Any] = Field(description="what the check asks, as POST /wallet/api/sharing-requests")


def service_out(assessment: Assessment, unusable: dict[str, str]) -> dict[str, Any]:
    return {
        "service_id": assessment.service_id,
        "name": assessment.name,
        "operator": assessment.operator,
        "benefit": assessment.benefit,
        "policy_version": assessment.policy_version,
        "standing": assessment.standing.value,
        "reasons": [
            {"credential": r.credential, "claim": r.claim, "op": r.op, "excluded": r.excluded, "text": r.text}
            for r in assessment.reasons
        ],
        "missing": [{**jsonable(m), "held_but": unusable.get(m.type_id)} for m in assessment.missing],
    }


def services_list(services: WalletServices, citizen: str) -> dict[str, Any]:
    view = services.services.view(citizen)
    return {
        "on": view.on.isoformat(),
        "credentials_considered": view.credentials_considered,
        "services": [service_out(a, view.unusable) for a in view.assessments],
    }


def create_router(services: WalletServices, citizen_id: Callable[..., str]) -> APIRouter:
    router = APIRouter(prefix="/wallet/api", tags=["wallet (citizen)"])
    Citizen = Annotated[str, Depends(citizen_id)]
    problem = {"content": {PROBLEM: {}}}

    @router.get(
        "/services",
        summary="Services for me: every service's rule evaluated in the wallet over my credentials (nothing sent)",
        response_model=ServiceList,
    )
    def list_services(me: Citizen) -> dict[str, Any]:
        return services_list(services, me)

    @router.post(
        "/services/{service_id}/apply",
        summary="Apply: the service's verifier opens a check bound to me; the wallet opens its sharing request",
        response_model=ApplicationOut,
        responses={400: problem, 404: problem, 409: problem, 502: problem},
    )
    async def apply(service_id: ServiceId, me: Citizen) -> Any:
        try:
            created = await run_in_threadpool(services.services.apply, service_id, me)
            sharing = await run_in_threadpool(services.presenter.open_request, me, created["link"])
        except ApplyFailed as exc:
            return problem_response(exc.status, exc.reason, exc.messages)
        except SharingRefused as exc:
            return sharing_problem(exc)
        return {
            "request_id": created.get("request_id"),
            "verifier": created.get("verifier"),
            "service_id": service_id,
            "link": created["link"],
            "sharing_request": jsonable(sharing.view),
        }

    return router
