"""Real `seoul-wallet serve` processes, for the tests that need a socket: the platform a server runs
over, the environment it runs with, starting it, waiting until it is ready, stopping it. One copy for
the `live_server` fixture (tests/conftest.py) and the browser, fuzzing, attack and crash suites."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import httpx
from sqlalchemy import text
from sqlalchemy.engine import Engine

from keys.jwk import b64url_encode
from seoul_wallet.app import Platform, build_platform
from seoul_wallet.bootstrap import prepare
from seoul_wallet.models import metadata
from seoul_wallet.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Generous: parallel test workers share two cores, and a 2-worker server on PostgreSQL starts slowly.
READY_TIMEOUT = 90.0


def empty_all_tables(engine: Engine) -> None:
    with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(text(f'DELETE FROM "{table.name}"'))


def prepared_platform(database_url: str, engine: Engine, data_dir: Path, public_url: str, **settings: Any) -> Platform:
    """A platform over the emptied test database, with a master key of its own, prepared (keys, demo
    parties) as the server started over it will find it. Development mode; `settings` add or override."""
    configured = Settings(
        data_dir=data_dir,
        database_url=database_url,
        master_key=b64url_encode(secrets.token_bytes(32)),
        public_url=public_url,
        development=True,
        **settings,
    )
    empty_all_tables(engine)
    platform = build_platform(configured, engine)
    prepare(platform)
    return platform


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_environment(settings: Settings, base_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a server over `settings`' database and master key, whose public URL is its
    own address; `extra` adds or overrides variables (e.g. SEOUL_WALLET_CALLBACK_WORKER="false")."""
    return {
        **os.environ,
        "SEOUL_WALLET_DATABASE_URL": settings.resolved_database_url,
        "SEOUL_WALLET_MASTER_KEY": settings.master_key_value or "",
        "SEOUL_WALLET_PUBLIC_URL": base_url,
        "SEOUL_WALLET_DATA_DIR": str(data_dir),
        "SEOUL_WALLET_LOG_LEVEL": "WARNING",
        "SEOUL_WALLET_DEVELOPMENT": "true",
        # The same modules as the tests import (pytest's pythonpath is the project root).
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
        **extra,
    }


# The background work a test server does unasked, turned off: callback deliveries (and with them the
# completion of interrupted acceptances) and the wallet's status list rounds. For suites that drive
# every step themselves (browser, fuzzing); the crash tests rely on that recovery and keep the defaults.
QUIET_SETTINGS: dict[str, bool | float] = {"callback_worker": False, "wallet_status_refresh_seconds": 0}


def settings_environment(**settings: bool | float | str) -> dict[str, str]:
    """`settings` (Settings' field names) as the SEOUL_WALLET_* variables a server reads them from."""
    return {f"SEOUL_WALLET_{name.upper()}": _variable(value) for name, value in settings.items()}


def _variable(value: bool | float | str) -> str:
    # Lower case, as the variables are written everywhere else (str(False) is "False").
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def platform_environment(platform: Platform, data_dir: Path | None = None, **extra: str) -> dict[str, str]:
    """The environment of a server over `platform`: its database, master key and public URL, and its
    data directory unless `data_dir` gives the server one of its own; `extra` as in server_environment."""
    settings = platform.settings
    return server_environment(
        settings, settings.public_url, settings.data_dir if data_dir is None else data_dir, **extra
    )


def prepared_server(
    database_url: str, engine: Engine, data_dir: Path, public_url: str, **settings: bool | float | str
) -> tuple[Platform, dict[str, str]]:
    """`prepared_platform`, and the environment of a server over it with the same `settings` as
    variables, so the tests' platform and the server they start run alike (e.g. both QUIET_SETTINGS)."""
    platform = prepared_platform(database_url, engine, data_dir, public_url, **settings)
    return platform, platform_environment(platform, **settings_environment(**settings))


def serve_command(port: int, workers: int = 1) -> list[str]:
    executable = Path(sys.executable).with_name("seoul-wallet")
    return [str(executable), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]


def start_server(
    env: dict[str, str], port: int, workers: int = 1, stderr: int | IO[bytes] = subprocess.PIPE, **popen: Any
) -> subprocess.Popen:
    return subprocess.Popen(serve_command(port, workers), env=env, stdout=subprocess.DEVNULL, stderr=stderr, **popen)


def _stderr_of(process: subprocess.Popen) -> str:
    return process.stderr.read().decode(errors="replace")[-2000:] if process.stderr else ""


def wait_until_ready(
    process: subprocess.Popen,
    base_url: str,
    timeout: float = READY_TIMEOUT,
    output: Callable[[], str] | None = None,
) -> None:
    """Poll /readyz until it answers 200; RuntimeError with the server's last output if it exits
    or is not ready in `timeout` seconds (`output`: where that output is, when not a pipe)."""
    said = output or (lambda: _stderr_of(process))
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited: {said()}")
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server was not ready in {timeout:.0f} s")
        time.sleep(0.1)  # polling a condition (readiness), not a fixed wait


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
