"""Demo data for development mode: the demo agencies' and verifiers' OAuth clients, and five demo
citizens whose credential offers wait in their wallet inbox. Never outside development mode.

The clients' ids are fixed and their secrets derived from the master key, so every start (and every
worker) agrees on them without storing a secret anywhere but `var/demo-clients.json` (0600, for the
person trying the demo; it also names the citizens and the PIN of minji's PIN-protected offer).

The citizens' offers are made the way a real agency would make them: over HTTP, after the server
listens, with the agency's own client: `POST /issuers/{slug}/offers`, then
`POST /wallet/offers/deliveries` into the citizen's inbox. That is why seeding is a one-shot
background task of the served app (registered by `create_served_app`), calling the server's own
public URL through `platform.http`. It is idempotent and safe with several workers: the workers take
turns under a file lock, and a citizen who already has a `credential_offered` item or any
credential is skipped; a retried delivery is one item anyway (the inbox's dedupe key).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI
from sqlmodel import Session, select

import catalog
from auth.oidc_clients import DEMO_ACCOUNTS, DEMO_PASSWORD, development_client_secret, seed_development_relying_party
from consoles.clients import AGENCY_SCOPES, demo_client_credentials, demo_parties, register_demo_clients
from keys.master import derive_key
from wallet.models import WalletInboxItem

if TYPE_CHECKING:  # seoul_wallet.app imports this module (through the landing page)
    from seoul_wallet.app import Platform
    from wallet.api import WalletServices

log = logging.getLogger("seoul_wallet.demo")

CLIENTS_FILE = "demo-clients.json"
DEMO_SIGN_IN_CLIENT = "seoul-wallet-demo"
DEMO_SIGN_IN_REDIRECT = "http://127.0.0.1/demo/callback"
DEMO_SIGN_IN_SCOPES = ("openid", "wallet", "consent:read", "consent:withdraw")
OFFER_LIFETIME = 90 * 86400  # the longest an issuer allows: the demo keeps working for a season
PIN_TYPE = "resident_registration"  # the one offer of minji's that asks for a code
SEOUL = ZoneInfo("Asia/Seoul")
READY_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class DemoCitizen:
    platform_id: str
    name: str
    story: dict[str, str]  # {ko, en}: what the demo shows with her or him


def demo_pin(master_key: bytes) -> str:
    """The 6-digit code of minji's PIN-protected offer: stable for a master key, so the banner can
    print it before the offer exists."""
    digits = int.from_bytes(derive_key(master_key, "seoul-wallet: demo offer PIN v1")[:8], "big") % 10**6
    return f"{digits:06d}"


_STORIES = {
    "citizen-minji-0001": (
        "서울 청년수당 대상: 만 27세, 서울 거주, 졸업 후 미취업, 소득 기준 중위 120%",
        "Eligible for the Seoul Youth Allowance: 27, lives in Seoul, graduated, not in work, income 120% of median",
    ),
    "citizen-junho-0002": (
        "만 35세: 청년수당 나이 기준(만 19~34세)보다 한 살 많음",
        "35: a year above the youth allowance's age limit (19 to 34)",
    ),
    "citizen-seoyeon-0003": (
        "가구 소득이 기준 중위소득의 151%: 청년수당 소득 기준(150% 이하) 초과",
        "Household income 151% of the median: above the youth allowance's limit (150%)",
    ),
    "citizen-dohyun-0004": ("부산 거주: 서울에 주민등록이 없음", "Lives in Busan: not registered in Seoul"),
    "citizen-jiwoo-0005": (
        "만 16세 한부모가족 학생: 서울런 대상(주민등록, 복지 수급 자격 증명서)",
        "16, from a single-parent family: eligible for Seoul Learn (resident registration, welfare status)",
    ),
}


def demo_citizens() -> list[DemoCitizen]:
    """The development provider's demo accounts, each with a story."""
    return [DemoCitizen(pid, name, dict(zip(("ko", "en"), _STORIES[pid], strict=True))) for pid, name in DEMO_ACCOUNTS]


def _born(today: dt.date, years: int, days_earlier: int = 0) -> str:
    """A birth date that makes someone `years` full years old today (days_earlier after the birthday)."""
    try:
        birthday = today.replace(year=today.year - years)
    except ValueError:  # 29 February: born on 1 March of that year
        birthday = dt.date(today.year - years, 3, 1)
    return (birthday - dt.timedelta(days=days_earlier)).isoformat()


def _resident(today: dt.date, birth_date: str, sido: str = "11", sigungu: str = "11110") -> dict[str, Any]:
    return {
        "birth_date": birth_date,
        "nationality_status": "citizen",
        "resident_sido": sido,
        "resident_sigungu": sigungu,
        "as_of": today.isoformat(),
    }


def _youth(today: dt.date, birth_date: str, sido: str = "11", income_pct: int = 120) -> dict[str, dict[str, Any]]:
    """The youth allowance's six credentials (as tests/verifiers/conftest.py youth_claims())."""
    last_month = (today.replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
    return {
        "resident_registration": _resident(today, birth_date, sido, f"{sido}110"),
        "education_status": {"enrollment_status": "graduated", "school_level": "university_undergrad"},
        "employment_insurance": {"currently_insured": False},
        "household_income": {
            "income_basis": "nhis_premium",
            "household_scope": "own",
            "household_size": 1,
            "income_pct_median": income_pct,
            "median_year": today.year,
            "assessed_month": last_month,
        },
        "welfare_status": {"nbls_benefits": [], "near_poverty": False, "single_parent_family": False},
        "program_participation": {"active_programs": [], "past_programs": []},
    }


def demo_credentials(platform_id: str, today: dt.date) -> dict[str, dict[str, Any]]:
    """Each demo citizen's credentials (type id -> claims), dated from `today` in Seoul."""
    if platform_id == "citizen-minji-0001":
        return _youth(today, _born(today, 27, days_earlier=100))
    if platform_id == "citizen-junho-0002":
        return _youth(today, _born(today, 35))  # 35 from today until the eve of his 36th birthday
    if platform_id == "citizen-seoyeon-0003":
        return _youth(today, _born(today, 31, days_earlier=40), income_pct=151)
    if platform_id == "citizen-dohyun-0004":
        return _youth(today, _born(today, 29, days_earlier=200), sido="26")  # Busan
    # Seoul Learn: age 6 to 24 and registered in Seoul (resident registration), and one of its
    # alternatives, here a single-parent family (welfare status): exactly the two credentials.
    return {
        "resident_registration": _resident(today, _born(today, 16, days_earlier=50), sigungu="11440"),
        "welfare_status": {"nbls_benefits": [], "near_poverty": False, "single_parent_family": True},
    }


# -- the clients and their file -------------------------------------------------------------------


def clients_file(platform: Platform) -> Path:
    return platform.settings.data_dir / CLIENTS_FILE


def write_private_file(path: Path, text: str) -> None:
    """Written whole to a 0600 temporary file, then renamed into place (as keys/master.py writes the
    master key): a reader never sees half a file, and an older copy with a wider mode is replaced."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def prepare_demo(platform: Platform) -> Path:
    """Register the demo clients (idempotent) and write the file naming them; development only."""
    settings = platform.settings
    if not settings.development:
        raise RuntimeError("the demo clients exist only in development mode")
    # The consoles' demo clients (consoles/clients.py: the one place their ids and secrets are derived).
    register_demo_clients(platform.engine, platform.master_key)
    clients = []
    for subject, name, scopes in demo_parties():
        credentials = demo_client_credentials(platform.master_key, subject)
        names = {"subject": subject, "name": name, "scopes": list(scopes)}
        clients.append({**names, "client_id": credentials.client_id, "client_secret": credentials.client_secret})
    # The client `seoul-wallet demo` signs the demo citizen in with, as a native app would (code flow,
    # PKCE, a loopback redirect nothing listens on: RFC 8252): only `openid wallet`.
    seed_development_relying_party(
        platform.engine,
        platform.master_key,
        client_id=DEMO_SIGN_IN_CLIENT,
        name="seoul-wallet demo (CLI)",
        redirect_uris=[DEMO_SIGN_IN_REDIRECT],
        scopes=DEMO_SIGN_IN_SCOPES,
    )
    document = {
        "about": "Development only: the demo parties' OAuth clients (client credentials grant) and demo citizens.",
        "token_endpoint": f"{settings.public_url}/oauth/token",
        "clients": clients,
        "sign_in": {
            "issuer": f"{settings.public_url}/idp",
            "client_id": DEMO_SIGN_IN_CLIENT,
            "client_secret": development_client_secret(platform.master_key, DEMO_SIGN_IN_CLIENT),
            "redirect_uri": DEMO_SIGN_IN_REDIRECT,
            "scopes": list(DEMO_SIGN_IN_SCOPES),
        },
        "citizens": [
            {"platform_id": c.platform_id, "name": c.name, "password": DEMO_PASSWORD, "story": c.story}
            for c in demo_citizens()
        ],
        "pin": {"citizen": "citizen-minji-0001", "credential_type": PIN_TYPE, "tx_code": demo_pin(platform.master_key)},
    }
    path = clients_file(platform)
    write_private_file(path, json.dumps(document, ensure_ascii=False, indent=2) + "\n")
    return path


# -- seeding the citizens over HTTP ---------------------------------------------------------------


@contextlib.contextmanager
def _turn(path: Path, stop: threading.Event) -> Iterator[bool]:
    """One worker at a time (an exclusive lock on a file in the data dir); False if stopped waiting."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT, 0o600), "r+") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if stop.wait(0.2):
                    yield False
                    return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def already_seeded(wallet: WalletServices, platform_id: str) -> bool:
    """She has an offer delivered or a credential: never seed her again."""
    if wallet.vault.list(platform_id):
        return True
    with Session(wallet.inbox.engine) as session:
        offered = session.exec(
            select(WalletInboxItem.id).where(
                WalletInboxItem.citizen_id == platform_id, WalletInboxItem.kind == "credential_offered"
            )
        ).first()
    return offered is not None


def _served(http: httpx.Client, base: str, stop: threading.Event) -> bool:
    deadline = time.monotonic() + READY_TIMEOUT
    while not stop.is_set() and time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if http.get(f"{base}/readyz", timeout=2).status_code == 200:
                return True
        stop.wait(0.25)
    return False


class _Agencies:
    """The demo agencies' back offices, over HTTP with their demo clients: offer, then deliver."""

    def __init__(self, platform: Platform) -> None:
        self.base, self.http, self.master_key = platform.settings.public_url, platform.http, platform.master_key
        self.agency_of = {t: a.slug for a in catalog.demo_parties().agencies for t in a.issues}
        self.tokens: dict[str, dict[str, str]] = {}

    def _call(self, path: str, expected: tuple[int, ...], **request: Any) -> dict[str, Any]:
        response = self.http.post(f"{self.base}{path}", **request)
        if response.status_code not in expected:
            raise RuntimeError(f"{path} answered {response.status_code}: {response.text[:300]}")
        return response.json()

    def headers(self, agency: str) -> dict[str, str]:
        if agency not in self.tokens:
            credentials = demo_client_credentials(self.master_key, f"agency:{agency}")
            auth = (credentials.client_id, credentials.client_secret)
            data = {"grant_type": "client_credentials", "scope": " ".join(AGENCY_SCOPES)}
            token = self._call("/oauth/token", (200,), data=data, auth=auth)["access_token"]
            self.tokens[agency] = {"Authorization": f"Bearer {token}"}
        return self.tokens[agency]

    def offer(self, subject: str, type_id: str, claims: dict[str, Any], pin: str | None) -> None:
        agency = self.agency_of[type_id]
        body: dict[str, Any] = {"subject": subject, "credential_type": type_id, "claims": claims}
        body.update({"expires_in": OFFER_LIFETIME, **({"tx_code": {"value": pin}} if pin else {})})
        link = self._call(f"/issuers/{agency}/offers", (201,), json=body, headers=self.headers(agency))["offer_link"]
        note = "데모: 인증번호는 서버 시작 화면에 있습니다 (demo: the PIN is in the start banner)" if pin else None
        delivery = {"subject": subject, "offer": link, "tx_code_sent": pin is not None, "note": note}
        self._call("/wallet/offers/deliveries", (200, 201), json=delivery, headers=self.headers(agency))


def seed_citizens(platform: Platform, wallet: WalletServices, stop: threading.Event) -> list[str] | None:
    """Offer each demo citizen her credentials and deliver them to her inbox, over HTTP; returns
    whom it seeded (none when all were seeded before), None when the server did not answer."""
    prepare_demo(platform)
    if not _served(platform.http, platform.settings.public_url, stop):
        log.warning("demo data: the public URL did not answer; set SEOUL_WALLET_PUBLIC_URL to this server")
        return None
    agencies, seeded = _Agencies(platform), []
    today = dt.datetime.now(SEOUL).date()
    with _turn(platform.settings.data_dir / ".demo-seeding.lock", stop) as mine:
        for citizen in demo_citizens() if mine else ():
            if stop.is_set() or already_seeded(wallet, citizen.platform_id):
                continue
            for type_id, claims in demo_credentials(citizen.platform_id, today).items():
                if stop.is_set():  # the server is shutting down: the rest would only fail
                    break
                minji_pin = citizen.platform_id == "citizen-minji-0001" and type_id == PIN_TYPE
                agencies.offer(
                    citizen.platform_id, type_id, claims, demo_pin(platform.master_key) if minji_pin else None
                )
            seeded.append(citizen.platform_id)
    return seeded


async def run_demo_seeding(platform: Platform, wallet: WalletServices) -> None:
    """The one-shot background task: seeding runs in a thread (its HTTP calls reach this very
    server, whose event loop must stay free to answer them); cancelling it tells the thread to stop."""
    stop = threading.Event()
    try:
        seeded = await asyncio.to_thread(seed_citizens, platform, wallet, stop)
    except asyncio.CancelledError:
        stop.set()
        raise
    except Exception:  # the demo must never take the server down
        log.exception("demo data: seeding failed")
        return
    if seeded is not None:  # logged when nothing was new too: a restart says so (the tests wait for it)
        log.info("demo data: credential offers delivered", extra={"citizens": seeded})


def install_demo_seeding(app: FastAPI) -> None:
    """Register the seeding with the app's background workers, in development mode only."""
    platform: Platform = app.state.platform
    if platform.settings.development:
        wallet: WalletServices = app.state.wallet
        app.state.background_workers.append(lambda: run_demo_seeding(platform, wallet))
