"""The consent log's serial section: presentation grants per second one database can take.

Reproduce: `.venv/bin/python bench/bench_grants.py [--processes 2] [--threads 4] [--seconds 10]`

Every grant appends three leaves under the one log lock (consent/presentation_writes.py), so it is
the one write all workers and machines queue for: this is its ceiling, without HTTP, the checks or
the verifier around it. `record_presentation_grant` (what the ledger's grant route runs) is called
back to back by processes x threads over a fresh PostgreSQL database (each grant a new request
id), and the median grant latency is reported beside the rate. Prints; writes nothing.
"""

from __future__ import annotations

import argparse
import multiprocessing
import secrets
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _ledger(url: str, master_key: str, *, migrate: bool = False):
    from seoul_wallet.app import build_platform, consent_ledger
    from seoul_wallet.bootstrap import prepare
    from seoul_wallet.settings import Settings

    settings = Settings(database_url=url, master_key=master_key, public_url="http://127.0.0.1:8000", development=True)
    platform = build_platform(settings)
    if migrate:
        prepare(platform)
    return consent_ledger(platform)


def _worker(url: str, master_key: str, threads: int, start: float, seconds: float, out: multiprocessing.Queue) -> None:
    from consent.presentations import record_presentation_grant
    from tests.support.grants import grant_body

    ledger = _ledger(url, master_key)
    latencies: list[float] = []
    lock = threading.Lock()

    def run() -> None:
        while time.time() < start:
            time.sleep(0.001)
        while time.time() < start + seconds:
            began = time.perf_counter()
            # Each grant a new request, citizen and presentation: a repeat would be an idempotent
            # re-read, not the append this measures.
            body = grant_body(
                secrets.token_urlsafe(12), subject=f"citizen-{secrets.token_hex(6)}", evidence=secrets.token_hex(32)
            )
            record_presentation_grant(ledger, "verifier:seoul-youth", body)
            with lock:
                latencies.append(time.perf_counter() - began)

    pool = [threading.Thread(target=run) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    out.put(latencies)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    from keys.jwk import b64url_encode
    from tests.load.server import postgres_database

    master_key = b64url_encode(secrets.token_bytes(32))
    with postgres_database(PG_URL) as url:
        _ledger(url, master_key, migrate=True).signing_key()  # migrated, the ledger key made: not in the timing
        context = multiprocessing.get_context("spawn")
        out = context.Queue()
        start = time.time() + 5
        procs = [
            context.Process(target=_worker, args=(url, master_key, args.threads, start, args.seconds, out))
            for _ in range(args.processes)
        ]
        for proc in procs:
            proc.start()
        latencies = [x for _ in procs for x in out.get()]
        for proc in procs:
            proc.join()
    print(
        f"{args.processes} processes x {args.threads} threads, {args.seconds:g} s, PostgreSQL: "
        f"{len(latencies) / args.seconds:,.0f} grants/s, median grant {statistics.median(latencies) * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
