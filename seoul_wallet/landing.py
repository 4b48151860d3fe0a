"""`/`: the landing page. What Seoul Wallet is, in Korean first with English, and where to go from
here: the citizen app, the agency and service consoles, the API documentation and contract, the
consent ledger and how to audit it from outside; in development mode also the demo accounts, the
PIN of the demo offer that asks for one, and where the demo OAuth clients' credentials are.

Server-rendered with a Jinja2 environment of its own (the wallet's pages have theirs, with the
citizen's language switch; this page carries both languages at once), the wallet's stylesheet, and
the wallet pages' security headers: no script at all, nothing framed, nothing cached.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from auth.oidc_clients import DEMO_PASSWORD
from seoul_wallet.demo_data import CLIENTS_FILE, PIN_TYPE, demo_citizens, demo_pin
from wallet.web.rendering import PAGE_HEADERS

if TYPE_CHECKING:  # seoul_wallet.app includes this router: a runtime import would be circular
    from seoul_wallet.app import Platform

TEMPLATES = Path(__file__).resolve().parent / "templates"


@dataclass(frozen=True, slots=True)
class Destination:
    path: str
    ko: str
    en: str
    about_ko: str
    about_en: str


# Every link of the page, in the order a newcomer needs them (tests/seoul_wallet/test_landing.py
# fetches each one).
DESTINATIONS = (
    Destination(
        "/wallet",
        "시민 지갑",
        "Citizen wallet",
        "증명서를 받고, 나를 위한 서비스를 찾고, 동의를 관리합니다.",
        "Receive credentials, find the services you qualify for, manage your consents.",
    ),
    Destination(
        "/consoles/agency",
        "기관 콘솔",
        "Agency console",
        "기관 담당자가 증명서를 발급하고, 대량 발급을 지켜보고, 취소하거나 정지합니다.",
        "Agency officers issue credentials, upload cohorts and revoke or suspend.",
    ),
    Destination(
        "/consoles/service",
        "서비스 콘솔",
        "Service console",
        "서비스 담당자가 신청자 자격 확인을 열고 결정과 그 조건을 봅니다.",
        "Service officers open eligibility checks and see the decisions with their conditions.",
    ),
    Destination(
        "/docs",
        "API 문서",
        "API documentation",
        "모든 기관·서비스·지갑 API를 바로 호출해 볼 수 있습니다.",
        "Every party's API, to try from the browser.",
    ),
    Destination(
        "/openapi.json",
        "OpenAPI 명세",
        "OpenAPI contract",
        "저장소의 openapi.yaml과 같은 계약입니다.",
        "The HTTP contract, the same as openapi.yaml in the repository.",
    ),
    Destination(
        "/consent/log/checkpoint",
        "동의 원장 체크포인트",
        "Consent ledger checkpoint",
        "모든 동의 이벤트를 담은 투명성 로그의 최신 서명 체크포인트입니다.",
        "The latest signed checkpoint of the transparency log of every consent event.",
    ),
    Destination(
        "/consent/log/keys",
        "원장 검증 키",
        "Ledger verifier keys",
        "체크포인트 서명을 검증하는 공개 키입니다.",
        "The public keys that verify the checkpoint's signature.",
    ),
)


def landing_router(platform: Platform) -> APIRouter:
    settings = platform.settings
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    development = settings.development
    # Computed once: nothing on the page depends on the request.
    context = {
        "public_url": settings.public_url,
        "destinations": DESTINATIONS,
        "development": development,
        "citizens": demo_citizens() if development else [],
        "password": DEMO_PASSWORD if development else None,
        "pin": demo_pin(platform.master_key) if development else None,
        "pin_type": PIN_TYPE,
        "clients_file": (settings.data_dir / CLIENTS_FILE) if development else None,
    }
    router = APIRouter()

    @router.get("/", include_in_schema=False, response_class=HTMLResponse)
    def landing(request: Request) -> HTMLResponse:
        html = environment.get_template("landing.html").render(**context)
        response = HTMLResponse(html)
        response.headers.update(PAGE_HEADERS)
        return response

    return router
