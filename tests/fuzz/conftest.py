"""The live server the contract fuzzing runs against, its seeded data, and one bearer token per role.

One real `seoul-wallet serve` per module (development mode, over an emptied, prepared test database),
seeded the way its users would seed it, over HTTP only: the youth-allowance journey of
`seoul-wallet demo` (six offers, received by 김민지's wallet, a check answered with her consent),
then a pending offer delivered to her inbox, a bulk batch, an open check. Their identifiers are what
the fuzzer puts in path parameters some of the time, so operations reach existing resources and not
only 404s.

Each role's token comes from a client registered as `seoul-wallet clients create` registers one
(`auth.clients.register_client`) and the real token endpoint; the citizen's is a wallet-scoped
token of a client acting for her (as tests/conftest.py's `bearer_for` gets one).

The counts of a run (operations and examples per role, statuses, findings) go to
var/fuzz-summary-<database>.json as each role's test ends, and are printed at the end of a run in
one process (under xdist, read the file): SECURITY.md records them.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy.engine import Engine

from auth.clients import register_client
from seoul_wallet.demo_steps import DEMO_PASSWORD, YOUTH_OFFERS, Journey
from tests.live_servers import (
    QUIET_SETTINGS,
    free_port,
    prepared_server,
    start_server,
    stop_server,
    wait_until_ready,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CITIZEN = "citizen-minji-0001"  # a demo account of the built-in provider (README, "Signing in")
AGENCY = "mois"
VERIFIER = "seoul-youth"
SERVICE = "seoul_youth_allowance"
# Who each role is, and what its client may ask for. The verifier's backend also records consents
# (consent:record, as its own ledger calls do), so the ledger's grant endpoint is fuzzed in depth.
ROLE_CLIENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "admin": ("platform:fuzz-admin", ("agencies:admin", "verifiers:admin")),
    "agency": (f"agency:{AGENCY}", ("credentials:offer", "credentials:revoke")),
    "verifier": (f"verifier:{VERIFIER}", ("presentations:request", "consent:verifier-read", "consent:record")),
    "citizen": (f"citizen:{CITIZEN}", ("wallet", "consent:read", "consent:withdraw")),
}
ROLES = ("anonymous", "verifier", "agency", "citizen", "admin")  # the run's order: destructive roles last
TOKEN_MARGIN = 120  # seconds: a token this close to its expiry is replaced (a long run outlives one)
SUMMARY_KEY = "fuzz_summary"


@dataclass
class RoleToken:
    client_id: str
    client_secret: str
    scopes: tuple[str, ...]
    access_token: str = ""
    expires_at: float = 0.0


@dataclass
class FuzzSite:
    """The server, its log, the roles' credentials and the identifiers of what was seeded."""

    base_url: str
    log_path: Path
    http: httpx.Client
    roles: dict[str, RoleToken] = field(default_factory=dict)
    seeds: dict[str, list[str]] = field(default_factory=dict)
    setup_seconds: dict[str, float] = field(default_factory=dict)

    def headers(self, role: str) -> dict[str, str]:
        """The role's Authorization header (none for the anonymous role), from the token endpoint."""
        credentials = self.roles.get(role)
        if credentials is None:
            return {}
        if credentials.expires_at - TOKEN_MARGIN < time.time():
            for _attempt in range(3):  # the token endpoint is rate-limited; the fuzzer calls it too
                answer = self.http.post(
                    "/oauth/token",
                    data={"grant_type": "client_credentials", "scope": " ".join(credentials.scopes)},
                    auth=(credentials.client_id, credentials.client_secret),
                )
                if answer.status_code != 429:
                    break
                time.sleep(min(float(answer.headers.get("retry-after", "1") or 1), 30.0))
            assert answer.status_code == 200, f"{role}'s token: {answer.status_code} {answer.text}"
            body = answer.json()
            assert set(body["scope"].split()) == set(credentials.scopes)
            credentials.access_token = body["access_token"]
            credentials.expires_at = time.time() + float(body["expires_in"])
        return {"Authorization": f"Bearer {credentials.access_token}"}

    def server_error(self) -> str:
        """The traceback of the server's last unhandled error (its JSON log line's `exception`)."""
        try:
            lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return ""
        for line in reversed(lines):
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and entry.get("exception"):
                return _short_traceback(str(entry["exception"]))
        return "\n".join(lines[-10:])


def _short_traceback(text: str) -> str:
    """The project's own frames of a traceback (the last five) and the exception's message."""
    lines = text.splitlines()
    frames = [i for i, line in enumerate(lines) if line.startswith('  File "')]
    if not frames:
        return "\n".join(lines[-10:])
    end = frames[-1] + 1
    while end < len(lines) and lines[end].startswith("    "):
        end += 1
    own = [f"{lines[i]}\n{lines[i + 1]}" for i in frames if "site-packages" not in lines[i] and i + 1 < len(lines)]
    return "\n".join([*own[-5:], *lines[end:]])


def _seed(site: FuzzSite, data_dir: Path) -> None:
    """What the fuzzer's path parameters point at, made over HTTP as the parties make it."""
    journey = Journey(
        url=site.base_url,
        clients_path=data_dir / "demo-clients.json",
        citizen=CITIZEN,
        password=DEMO_PASSWORD,
        http=site.http,
    )
    # The journey up to the decision: the consent stays granted (the fuzzer may withdraw it).
    for title, step in journey.steps()[:6]:
        try:
            step()
        except Exception as exc:
            raise RuntimeError(f"seeding, {title}: {exc}") from exc
    agency, verifier = site.headers("agency"), site.headers("verifier")
    type_id, (_, claims) = "resident_registration", YOUTH_OFFERS["resident_registration"]
    pending = site.http.post(
        f"/issuers/{AGENCY}/offers",
        json={"subject": CITIZEN, "credential_type": type_id, "claims": claims},
        headers=agency,
    )
    assert pending.status_code == 201, pending.text
    offer = pending.json()
    delivered = site.http.post(
        "/wallet/offers/deliveries", json={"subject": CITIZEN, "offer": offer["offer_link"]}, headers=agency
    )
    assert delivered.status_code == 201, delivered.text
    batch = site.http.post(f"/issuers/{AGENCY}/batches", json={"credential_type": type_id}, headers=agency)
    assert batch.status_code == 201, batch.text
    check = site.http.post("/verifiers/requests", json={"service_id": SERVICE}, headers=verifier)
    assert check.status_code == 201, check.text
    issued = next(o.offer_id for o in journey.offers if o.agency == AGENCY)
    status_list = site.http.get(f"/issuers/{AGENCY}/offers/{issued}", headers=agency).json()["status_list_uri"]
    site.seeds = {
        "offer_id": [offer["offer_id"], issued],
        "reference": [urlsplit(offer["credential_offer_uri"]).path.rsplit("/", 1)[-1]],
        "list_id": [urlsplit(status_list).path.rsplit("/", 1)[-1]],
        "batch_id": [batch.json()["batch_id"]],
        "request_id": [check.json()["request_id"], journey.application["request_id"]],
        "record_id": [journey.consent_id],
        "credential_id": sorted(journey.received.values()),
        "item_id": [delivered.json()["item_id"]],
        "service_id": [SERVICE],
        "verifier": [VERIFIER],
    }


@pytest.fixture(scope="module")
def fuzz_site(
    database_url: str, migrated_engine: Engine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FuzzSite]:
    started = time.monotonic()
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    data_dir = tmp_path_factory.mktemp("fuzz-server")
    platform, env = prepared_server(database_url, migrated_engine, data_dir, base_url, **QUIET_SETTINGS)
    log_path = data_dir / "server.log"
    with log_path.open("wb") as log:
        process = start_server(env, port, workers=1, stderr=log)
    http = httpx.Client(base_url=base_url, timeout=30, follow_redirects=False)
    try:
        wait_until_ready(process, base_url, output=lambda: log_path.read_text(errors="replace")[-2000:])
        site = FuzzSite(base_url, log_path, http)
        site.setup_seconds["server"] = round(time.monotonic() - started, 1)
        for role, (subject, scopes) in ROLE_CLIENTS.items():
            client = register_client(platform.engine, subject, list(scopes), name=f"fuzz {role}")
            site.roles[role] = RoleToken(client.client_id, client.client_secret, scopes)
            site.headers(role)  # every token now, before the fuzzing can exhaust a rate limit
        _seed(site, data_dir)
        site.setup_seconds["seeding"] = round(time.monotonic() - started - site.setup_seconds["server"], 1)
        yield site
    finally:
        http.close()
        stop_server(process)
        platform.engine.dispose()


# -- the run's counts ---------------------------------------------------------------------------------


def database_name() -> str:
    url = os.environ.get("SEOUL_WALLET_TEST_DATABASE_URL", "")
    return "postgresql" if url.startswith("postgresql") else "sqlite"


def summary_path() -> Path:
    return PROJECT_ROOT / "var" / f"fuzz-summary-{database_name()}.json"


def record_summary(summary: dict) -> None:
    """Add one role's counts to var/fuzz-summary-<database>.json (the roles of a run share a process:
    xdist runs a whole file on one worker)."""
    path = summary_path()
    path.parent.mkdir(exist_ok=True)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        document = {}
    if document.get("run") != os.getpid():
        document = {"run": os.getpid(), "database": database_name(), "roles": {}}
    document["roles"][summary["role"]] = summary
    document["total"] = {
        "examples": sum(r["examples"] for r in document["roles"].values()),
        "server_errors": sum(r["server_errors"] for r in document["roles"].values()),
        "violations": sum(r["violations"] for r in document["roles"].values()),
    }
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


_SUMMARIES: list[dict] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    for name, value in report.user_properties:
        if name == SUMMARY_KEY and report.when == "call":
            _SUMMARIES.append(value)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """The counts at the end of the run (in one process; under xdist see the JSON file)."""
    if not _SUMMARIES:
        return
    terminalreporter.section(f"contract fuzzing (schemathesis) on {database_name()}")
    for summary in sorted(_SUMMARIES, key=lambda s: ROLES.index(s["role"])):
        terminalreporter.write_line(
            f"{summary['role']:<9} {summary['operations']} operations ({summary['operations_in_depth']} in depth), "
            f"{summary['examples']} examples "
            f"({summary['positive']} valid, {summary['negative']} invalid) in {summary['seconds']:.1f} s; "
            f"statuses {summary['statuses']}; server errors {summary['server_errors']}, "
            f"contract violations {summary['violations']} (known, reported: {summary['known_findings']})"
        )
    terminalreporter.write_line(f"counts in {summary_path().relative_to(PROJECT_ROOT)}")
