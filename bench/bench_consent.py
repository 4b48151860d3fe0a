"""Consent ledger benchmarks: durable appends (one per transaction, batched), inclusion proof latency
over HTTP at a large tree, full audit time, bytes stored per event. SQLite (WAL, synchronous=FULL).

Run: .venv/bin/python bench/bench_consent.py [--leaves 1000000] [--dir var/bench-consent]
Each figure is the median of --repeat runs (the large-tree figures are measured once per run).
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from consent import log as tlog
from consent.audit import LocalSource, audit
from keys.jwk import b64url_encode
from seoul_wallet.app import build_platform, consent_ledger
from seoul_wallet.migrate import upgrade
from seoul_wallet.settings import Settings

COMMITMENT = "Q" * 43


def fresh_platform(directory: Path, master_key: str):
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    settings = Settings(
        data_dir=directory, database_url=None, master_key=master_key, public_url="http://127.0.0.1:8765"
    )
    platform = build_platform(settings)
    # Only what the ledger needs (not the demo seeding of `serve`): schema and the ledger key.
    upgrade(platform.engine)
    platform.keyring.ensure_key("ledger", "EdDSA")
    return platform


def appends_one_by_one(engine, count: int) -> float:
    started = time.perf_counter()
    for n in range(count):
        with engine.begin() as conn:
            appender = tlog.LogAppender.lock(conn)
            appender.append("used", COMMITMENT, n)
            appender.flush()
    return count / (time.perf_counter() - started)


def appends_batched(engine, batches: int, size: int) -> float:
    started = time.perf_counter()
    for _ in range(batches):
        with engine.begin() as conn:
            appender = tlog.LogAppender.lock(conn)
            now = int(time.time() * 1000)
            for _ in range(size):
                appender.append("used", COMMITMENT, now)
            appender.flush()
    return batches * size / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=Path("var/bench-consent"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    master_key = b64url_encode(secrets.token_bytes(32))

    single, batched = [], []
    for _ in range(args.repeat):
        platform = fresh_platform(args.dir / "small", master_key)
        single.append(appends_one_by_one(platform.engine, 2000))
        batched.append(appends_batched(platform.engine, 20, 5000))
        platform.engine.dispose()
    print(f"appends, one per transaction: {statistics.median(single):,.0f}/s (runs: {[round(x) for x in single]})")
    print(f"appends, batches of 5,000:   {statistics.median(batched):,.0f}/s (runs: {[round(x) for x in batched]})")

    big = args.dir / "big"
    platform = fresh_platform(big, master_key)
    started = time.perf_counter()
    appends_batched(platform.engine, args.leaves // 10_000, 10_000)
    print(f"built {args.leaves:,} leaves in {time.perf_counter() - started:.1f} s")
    ledger = consent_ledger(platform)
    ledger.checkpoint()
    with platform.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar()
        page_size = conn.exec_driver_sql("PRAGMA page_size").scalar()
    print(f"bytes stored per event (log tables, SQLite file): {pages * page_size / args.leaves:.0f}")

    started = time.perf_counter()
    report = audit(LocalSource(ledger))
    print(f"audit of {report.tree_size:,} leaves (local database): {time.perf_counter() - started:.1f} s")
    platform.engine.dispose()

    env = {**os.environ, "SEOUL_WALLET_DATA_DIR": str(big), "SEOUL_WALLET_MASTER_KEY": master_key}
    env.pop("DATABASE_URL", None)
    env.pop("SEOUL_WALLET_DATABASE_URL", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "seoul_wallet.app:create_app", "--factory", "--port", str(args.port)],
        env={**env, "SEOUL_WALLET_LOG_LEVEL": "WARNING"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{args.port}"
        with httpx.Client(base_url=base, timeout=10) as client:
            for _ in range(200):
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            size = report.tree_size
            for _ in range(200):  # warm up connections and caches
                client.get("/consent/log/proof/inclusion", params={"tree_size": size, "index": random.randrange(size)})
            runs = []
            for _ in range(args.repeat):
                latencies = []
                for _ in range(2000):
                    index = random.randrange(size)
                    started = time.perf_counter()
                    response = client.get("/consent/log/proof/inclusion", params={"tree_size": size, "index": index})
                    latencies.append((time.perf_counter() - started) * 1000)
                    assert response.status_code == 200
                latencies.sort()
                runs.append((latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]))
            p50 = statistics.median(r[0] for r in runs)
            p99 = statistics.median(r[1] for r in runs)
            print(f"inclusion proof over HTTP at {size:,} leaves: p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
