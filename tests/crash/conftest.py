"""A real `seoul-wallet serve` that the crash tests SIGKILL and start again over the same database,
data directory, master key and port (so every URL it handed out stays valid).

One server and one platform for the package: a start costs seconds, so the scenarios share them, each
asserting about its own batches, requests and records (and the whole consent log)."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from seoul_wallet.app import Platform
from tests.live_servers import (
    READY_TIMEOUT,
    empty_all_tables,
    free_port,
    platform_environment,
    prepared_platform,
    serve_command,
    wait_until_ready,
)

# Crash points per scenario; CI keeps the default, a longer run sets SEOUL_WALLET_CRASH_POINTS=20.
CRASH_POINTS = int(os.environ.get("SEOUL_WALLET_CRASH_POINTS", "2"))
# Seeded: a failure names its seed, and the same seed kills at the same moments again.
CRASH_SEED = int(os.environ.get("SEOUL_WALLET_CRASH_SEED", "20261203"))
# Every kill point tried in this session, by scenario (reported at the end of the run).
CRASHES: dict[str, list[float]] = {}
# How many of them caught the scenario's work half done (the rest hit it before or after).
LANDED: dict[str, int] = {}
# Seconds from each restart until the scenario's work was whole again (retries and recovery).
RECOVERY: dict[str, list[float]] = {}


class CrashServer:
    """`seoul-wallet serve` in its own process group, so SIGKILL takes every process of it at once
    (as a power cut would), and a restart is the same command over the same state."""

    def __init__(self, env: dict[str, str], port: int, log_dir: Path, workers: int = 1) -> None:
        self.env, self.port, self.log_dir, self.workers = env, port, log_dir, workers
        self.base_url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def start(self, timeout: float = READY_TIMEOUT) -> None:
        self.starts += 1
        log = (self.log_dir / f"server-{self.starts}.log").open("wb")  # a file: a full pipe would stall it
        self.process = subprocess.Popen(
            serve_command(self.port, self.workers),
            env=self.env,
            cwd=self.log_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        wait_until_ready(self.process, self.base_url, timeout, output=self.log_tail)

    def kill(self) -> None:
        """SIGKILL the server's whole process group: no shutdown, no rollback, no flush."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):  # it died already (a failed start)
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        except ProcessLookupError:
            self.process.wait(timeout=30)
        self.process = None

    def log_tail(self) -> str:
        return (self.log_dir / f"server-{self.starts}.log").read_text(errors="replace")[-3000:]


class CrashPoints:
    """Seeded random kill points, recorded per scenario: each scenario reads a value in [low, high]
    as its moment (seconds in, or how far into its work)."""

    def __init__(self, scenario: str, low: float, high: float) -> None:
        self.random = random.Random(f"{CRASH_SEED}:{scenario}")
        self.low, self.high = low, high
        self.tried = CRASHES.setdefault(scenario, [])

    def __iter__(self) -> Iterator[float]:
        for _ in range(CRASH_POINTS):
            point = round(self.random.uniform(self.low, self.high), 3)
            self.tried.append(point)
            yield point


@pytest.fixture(scope="package")
def crash_platform(migrated_engine: Engine, database_url: str, tmp_path_factory: pytest.TempPathFactory):
    """The platform the server runs: its keys and demo parties, over the test database."""
    port = free_port()
    data_dir = tmp_path_factory.mktemp("crash")
    platform = prepared_platform(database_url, migrated_engine, data_dir, f"http://127.0.0.1:{port}")
    platform.crash_port = port  # type: ignore[attr-defined]
    yield platform
    empty_all_tables(migrated_engine)


@pytest.fixture(scope="package")
def crash_server(crash_platform: Platform) -> Iterator[CrashServer]:
    data_dir = Path(crash_platform.settings.data_dir)
    env = platform_environment(crash_platform)  # the defaults: the restarts rely on the background recovery
    server = CrashServer(env, crash_platform.crash_port, data_dir)  # type: ignore[attr-defined]
    server.start()
    try:
        yield server
    finally:
        server.stop()


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    if CRASHES:
        tried = ", ".join(
            f"{name}: {len(points)} ({LANDED.get(name, 0)} with work half done)" for name, points in CRASHES.items()
        )
        terminalreporter.write_line(f"crash points tried (seed {CRASH_SEED}): {tried}")
    for name, seconds in RECOVERY.items():
        terminalreporter.write_line(f"recovery after a crash, {name}: {', '.join(f'{s:.1f} s' for s in seconds)}")
