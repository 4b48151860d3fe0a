"""The demo data of development mode, against a live `seoul-wallet serve`: the five demo citizens'
offers arrive in their inboxes (made and delivered by the agencies over HTTP, by two workers at
once), each story holds when the citizen receives them (services for me), a second start seeds
nothing new, and var/demo-clients.json is 0600 with clients that get tokens. And the start banner
names the URLs and the accounts."""

from __future__ import annotations

import json
import os
import queue
import stat
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from rich.console import Console
from sqlalchemy import func
from sqlmodel import Session, select

from auth.clients import register_client
from issuers.models import Offer
from seoul_wallet.cli import print_banner
from seoul_wallet.demo_data import demo_pin
from tests.live_servers import free_port
from wallet.models import WalletInboxItem

CITIZENS = {  # platform id -> how many offers the agencies deliver
    "citizen-minji-0001": 6,
    "citizen-junho-0002": 6,
    "citizen-seoyeon-0003": 6,
    "citizen-dohyun-0004": 6,
    "citizen-jiwoo-0005": 2,
}
# The stories: who qualifies for what once every offer is received (services for me).
STORIES = {
    "citizen-minji-0001": ("seoul_youth_allowance", "eligible"),
    "citizen-junho-0002": ("seoul_youth_allowance", "not_eligible"),
    "citizen-seoyeon-0003": ("seoul_youth_allowance", "not_eligible"),
    "citizen-dohyun-0004": ("seoul_youth_allowance", "not_eligible"),
    "citizen-jiwoo-0005": ("seoul_learn", "eligible"),
}


def offered(platform) -> Counter:
    with Session(platform.engine) as session:
        rows = session.exec(
            select(WalletInboxItem.citizen_id).where(WalletInboxItem.kind == "credential_offered")
        ).all()
    return Counter(rows)


def counts(platform) -> tuple[int, int]:
    with Session(platform.engine) as session:
        items = session.exec(select(func.count()).select_from(WalletInboxItem)).one()
        offers = session.exec(select(func.count()).select_from(Offer)).one()
    return int(items), int(offers)


def wait_for_offers(platform, timeout: float = 60) -> Counter:
    deadline = time.monotonic() + timeout
    while (found := offered(platform)) != Counter(CITIZENS):
        assert time.monotonic() < deadline, f"the demo offers did not arrive: {dict(found)}"
        time.sleep(0.2)
    return found


def citizen_token(http: httpx.Client, base: str, platform, citizen: str) -> dict[str, str]:
    """Her platform token (scope wallet), through the live server's token endpoint, as bearer_for does."""
    creds = register_client(platform.engine, f"citizen:{citizen}", ["wallet"])
    answer = http.post(
        f"{base}/oauth/token", data={"grant_type": "client_credentials"}, auth=(creds.client_id, creds.client_secret)
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def start_again(env: dict[str, str]) -> tuple[subprocess.Popen, queue.Queue]:
    """A second `serve` (two workers) over the same database, data dir and master key, logging at
    INFO so its seeding says when it is done; its stderr lines arrive in the queue."""
    port = free_port()
    again = {**env, "SEOUL_WALLET_PUBLIC_URL": f"http://127.0.0.1:{port}", "SEOUL_WALLET_LOG_LEVEL": "INFO"}
    command = [str(Path(sys.executable).with_name("seoul-wallet")), "serve", "--port", str(port), "--workers", "2"]
    process = subprocess.Popen(command, env=again, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stderr], daemon=True).start()
    return process, lines


@pytest.mark.parametrize("live_server", [2], indirect=True)
def test_the_demo_citizens_offers_arrive_and_tell_their_stories(live_server, request, platform) -> None:
    base, env = live_server, request.node.live_server_env
    # Two workers seeded at once: still exactly one item per offer, each citizen seeded once.
    assert wait_for_offers(platform) == Counter(CITIZENS)
    with Session(platform.engine) as session:
        assert session.exec(select(func.count()).select_from(Offer)).one() == sum(CITIZENS.values())

    demo = json.loads((Path(env["SEOUL_WALLET_DATA_DIR"]) / "demo-clients.json").read_text())
    pin = demo["pin"]["tx_code"]
    assert pin == demo_pin(platform.master_key) and demo["pin"]["citizen"] == "citizen-minji-0001"
    with httpx.Client(timeout=30) as http:
        for citizen, (service, standing) in STORIES.items():
            headers = citizen_token(http, base, platform, citizen)
            inbox = http.get(f"{base}/wallet/api/inbox", headers=headers).json()["items"]
            items = [i for i in inbox if i["kind"] == "credential_offered"]
            assert len(items) == CITIZENS[citizen]
            for item in items:
                payload = item["payload"]
                assert payload["issuer"].startswith(f"{base}/issuers/") and payload["credential_names"]
                needs_pin = payload["tx_code_required"]
                assert needs_pin == (citizen == "citizen-minji-0001" and payload["agency"] == "mois")
                body = {"offer": payload["offer"], "tx_code": pin if needs_pin else None}
                received = http.post(f"{base}/wallet/api/credentials", json=body, headers=headers)
                assert received.status_code == 201, received.text
            services = http.get(f"{base}/wallet/api/services", headers=headers).json()["services"]
            (assessed,) = [s for s in services if s["service_id"] == service]
            assert assessed["standing"] == standing, (citizen, assessed)

    # A second start (two workers again) seeds nothing new: everyone has credentials by now.
    before = counts(platform)
    process, lines = start_again(env)
    try:
        deadline = time.monotonic() + 60
        done = 0
        while done < 2:  # each worker's seeding reports once
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            if '"demo data: credential offers delivered"' in line:
                assert json.loads(line)["citizens"] == [], line
                done += 1
    finally:
        process.terminate()
        process.wait(timeout=15)
    assert counts(platform) == before  # nothing offered, nothing delivered


def test_a_second_start_before_anyone_received_seeds_nothing_new(live_server, request, platform) -> None:
    wait_for_offers(platform)
    before = counts(platform)
    process, lines = start_again(request.node.live_server_env)
    try:
        deadline = time.monotonic() + 60
        done = 0
        while done < 2:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            if '"demo data: credential offers delivered"' in line:
                assert json.loads(line)["citizens"] == [], line
                done += 1
    finally:
        process.terminate()
        process.wait(timeout=15)
    assert counts(platform) == before and offered(platform) == Counter(CITIZENS)


def test_the_demo_clients_file_is_private_and_its_clients_get_tokens(live_server, request, platform) -> None:
    path = Path(request.node.live_server_env["SEOUL_WALLET_DATA_DIR"]) / "demo-clients.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    demo = json.loads(path.read_text())
    assert demo["token_endpoint"] == f"{live_server}/oauth/token"
    subjects = {c["subject"] for c in demo["clients"]}
    assert {"agency:mois", "agency:ssis", "verifier:seoul-youth", "verifier:seoul-learn"} <= subjects
    assert {c["platform_id"] for c in demo["citizens"]} == set(CITIZENS)
    with httpx.Client(timeout=30) as http:
        for client in demo["clients"]:
            assert client["client_id"] and client["client_secret"] and client["name"]
            wanted = ["credentials:offer", "credentials:revoke"]
            if client["subject"].startswith("verifier:"):
                wanted = ["presentations:request", "consent:verifier-read"]
            assert client["scopes"] == wanted
            answer = http.post(
                demo["token_endpoint"],
                data={"grant_type": "client_credentials", "scope": " ".join(client["scopes"])},
                auth=(client["client_id"], client["client_secret"]),
            )
            assert answer.status_code == 200, (client["subject"], answer.text)
            assert set(answer.json()["scope"].split()) == set(client["scopes"])


def test_the_banner_lists_the_urls_the_accounts_and_the_clients_file(settings) -> None:
    console = Console(record=True, width=200)
    path = settings.data_dir / "demo-clients.json"
    print_banner(settings, clients_file=path, pin="123456", bind=("127.0.0.1", 8000), console=console)
    text = console.export_text()
    base = settings.public_url
    for url in ("/", "/wallet", "/consoles/agency", "/consoles/service", "/docs", "/consent/log/checkpoint"):
        assert f"{base}{url}\n" in text or f"{base}{url} " in text, url
    for platform_id, name in (("citizen-minji-0001", "김민지"), ("citizen-junho-0002", "이준호")):
        assert platform_id in text and name in text
    assert "citizen-seoyeon-0003" in text and "citizen-dohyun-0004" in text and "citizen-jiwoo-0005" in text
    assert "seoul-demo" in text and "123456" in text and str(path) in text
    assert "Development mode" in text and "SEOUL_WALLET_PUBLIC_URL is" not in text
    # A public URL that is not where the server listens is pointed out: the demo delivers through it.
    console = Console(record=True, width=200)
    print_banner(settings, clients_file=path, pin="123456", bind=("127.0.0.1", 9000), console=console)
    assert "SEOUL_WALLET_PUBLIC_URL is" in console.export_text()
