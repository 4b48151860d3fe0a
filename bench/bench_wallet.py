"""Wallet benchmarks: receiving a credential (OpenID4VCI) and presenting the youth allowance
(OpenID4VP) over HTTP, as `seoul-wallet wallet receive|present` do.

Reproduce: `.venv/bin/python bench/bench_wallet.py [--rounds 40]` (SQLite under a temp dir).

A real `seoul-wallet serve` (1 worker, development mode) runs the issuers, verifiers and ledger; this
process is the wallet (wallet/receive.py, wallet/present.py over the same database and master key,
reaching the server over HTTP with keep-alive). Receive: one resident-registration offer per round
(offer metadata, issuer metadata, token, nonce, proof, credential, issuer keys, status list, store).
Present: a fresh youth-allowance check per round answered with the citizen's six credentials (request
object, x509 chain, DCQL over the vault, consent recorded and linked, six KB-JWTs, direct_post, the
verifier's full check). Services for me: every catalog service evaluated in the wallet over the six
credentials (opened from the vault each time). Receipt check: the last consent's receipt checked over
the ledger's public endpoints. Medians and p95 of one run, and the present time per credential.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CITIZEN = "citizen-bench-0001"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _p95(values: list[float]) -> float:
    return sorted(values)[max(0, int(len(values) * 0.95) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()

    from auth.clients import register_client
    from keys.jwk import b64url_encode
    from seoul_wallet.app import build_platform
    from seoul_wallet.bootstrap import prepare
    from seoul_wallet.settings import Settings
    from seoul_wallet.wallet_party import wallet_services
    from tests.verifiers.conftest import AGENCY_OF, youth_claims

    data_dir = Path(tempfile.mkdtemp(prefix="bench-wallet-"))
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    master = b64url_encode(secrets.token_bytes(32))
    env = {
        **os.environ,
        "SEOUL_WALLET_DATABASE_URL": f"sqlite:///{data_dir / 'bench.db'}",
        "SEOUL_WALLET_MASTER_KEY": master,
        "SEOUL_WALLET_DATA_DIR": str(data_dir),
        "SEOUL_WALLET_PUBLIC_URL": base,
        "SEOUL_WALLET_DEVELOPMENT": "true",
        "SEOUL_WALLET_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    os.environ.update({k: v for k, v in env.items() if k.startswith("SEOUL_WALLET_")})
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("seoul-wallet")), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the server did not start")
            time.sleep(0.2)
        platform = build_platform(Settings())
        platform.http = httpx.Client(timeout=30)
        prepare(platform)
        services = wallet_services(platform)
        services.vault.ensure_account(CITIZEN)
        http = platform.http

        def bearer(subject: str, scopes: list[str]) -> dict[str, str]:
            creds = register_client(platform.engine, subject, scopes)
            token = http.post(
                f"{base}/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(creds.client_id, creds.client_secret),
            )
            return {"Authorization": f"Bearer {token.json()['access_token']}"}

        agencies = {agency: bearer(f"agency:{agency}", ["credentials:offer"]) for agency in set(AGENCY_OF.values())}

        def offer(type_id: str, claims: dict) -> str:
            agency = AGENCY_OF[type_id]
            body = {"subject": CITIZEN, "credential_type": type_id, "claims": claims}
            return http.post(f"{base}/issuers/{agency}/offers", json=body, headers=agencies[agency]).json()[
                "offer_link"
            ]

        for type_id, claims in youth_claims().items():  # the six the checks need
            services.receiver.receive(CITIZEN, services.receiver.parse_offer(offer(type_id, claims)))
        resident = youth_claims()["resident_registration"]
        receive_times = []
        for _ in range(args.rounds):
            link = offer("resident_registration", resident)  # the agency's side, not timed
            started = time.perf_counter()
            services.receiver.receive(CITIZEN, services.receiver.parse_offer(link))
            receive_times.append(time.perf_counter() - started)
        # Keep one resident registration, so the view offers no choice and stays six credentials.
        for stored in services.vault.list(CITIZEN):
            if stored.configuration_id == "resident_registration":
                services.vault.delete(CITIZEN, stored.id)
        services.receiver.receive(CITIZEN, services.receiver.parse_offer(offer("resident_registration", resident)))

        backend = bearer("verifier:seoul-youth", ["presentations:request"])
        present_times = []
        for _ in range(args.rounds):
            created = http.post(
                f"{base}/verifiers/requests", json={"service_id": "seoul_youth_allowance"}, headers=backend
            )
            link = created.json()["link"]
            started = time.perf_counter()
            sharing = services.presenter.open_request(CITIZEN, link)
            outcome = services.presenter.approve(CITIZEN, sharing)
            present_times.append(time.perf_counter() - started)
            assert outcome.accepted, outcome
            result = http.get(f"{base}/verifiers/requests/{created.json()['request_id']}", headers=backend).json()
            assert result["eligible"] is True, result
        credentials = sum(len(r.candidates[:1]) for r in sharing.view.credentials)

        # Services for me: open the six credentials and evaluate every catalog service, in the
        # wallet (no HTTP). Then the receipt check of the last consent, over the ledger's endpoints.
        services_times, check_times = [], []
        for _ in range(args.rounds):
            started = time.perf_counter()
            view = services.services.view(CITIZEN)
            services_times.append(time.perf_counter() - started)
            assert any(a.service_id == "seoul_youth_allowance" and a.standing == "eligible" for a in view.assessments)
        for _ in range(args.rounds):
            started = time.perf_counter()
            checked = services.consents.check_receipt(CITIZEN, outcome.consent_record_id)
            check_times.append(time.perf_counter() - started)
            assert checked["valid"], checked
        service_count = len(view.assessments)
    finally:
        server.terminate()
        server.wait(timeout=20)

    def line(times: list[float], per: int = 1) -> str:
        return f"median {statistics.median(times) * 1000 / per:.1f} ms, p95 {_p95(times) * 1000 / per:.1f} ms"

    print(f"receive one credential: {line(receive_times)}")
    print(f"present the youth allowance ({credentials} credentials): {line(present_times)}")
    print(f"present, per credential: {line(present_times, credentials)}")
    print(
        f"services for me ({service_count} services, {credentials} credentials, in the wallet): {line(services_times)}"
    )
    print(f"receipt check against the ledger (4 HTTP reads): {line(check_times)}")
    print(f"rounds: {args.rounds} each")


if __name__ == "__main__":
    main()
