"""The server under load: `seoul-wallet serve --workers N` on 127.0.0.1 over a fresh database
(SQLite in a temp dir, or a PostgreSQL database created for the run and dropped after it), and
what /proc says about its workers (peak resident memory, CPU time).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine, make_url

from keys.jwk import b64url_encode
from seoul_wallet.app import build_platform
from seoul_wallet.bootstrap import prepare
from seoul_wallet.settings import Settings
from tests.live_servers import free_port, server_environment, start_server, stop_server, wait_until_ready

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
# Every simulated citizen and backend connects from 127.0.0.1, so the per-address budgets of the
# token endpoint would be the whole city's; and one backend answering a peak asks for more checks
# than the default per-client budget of POST /verifiers/requests. The limits are still counted
# (each count is a database write): only their values are the load test's.
LOAD_LIMITS = {
    "SEOUL_WALLET_RATE_LIMIT_TOKEN_ADDRESS": "1000000/minute",
    "SEOUL_WALLET_RATE_LIMIT_TOKEN_CLIENT": "1000000/minute",
    "SEOUL_WALLET_RATE_LIMIT_REQUEST_CLIENT": "1000000/minute",
}


@dataclass(slots=True)
class Target:
    """A live server: where it listens, its process (for /proc) and its database."""

    base_url: str
    host: str
    port: int
    server_pid: int | None
    engine: Engine


def _children(pid: int) -> list[int]:
    try:
        tasks = Path(f"/proc/{pid}/task").iterdir()
        found: list[int] = []
        for task in tasks:
            text = (task / "children").read_text().split()
            found.extend(int(p) for p in text)
        return found
    except OSError:
        return []


def worker_pids(server_pid: int | None) -> list[int]:
    """The uvicorn workers: the spawned children of the server (not multiprocessing's resource
    tracker); with one worker, uvicorn serves in the server process itself."""
    if server_pid is None:
        return []
    workers = []
    for child in _children(server_pid):
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"resource_tracker" not in command:
            workers.append(child)
    return workers or [server_pid]


def vm_hwm_mb(pid: int) -> float | None:
    """Peak resident set size (VmHWM) of a process, in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (its own threads, not its children)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A fresh database of the run's own on the server `admin_url` names; dropped afterwards."""
    import psycopg

    base = make_url(admin_url)
    name = f"seoul_load_{secrets.token_hex(4)}"
    admin = {"host": base.host, "port": base.port or 5432, "user": base.username, "dbname": base.database or "postgres"}
    if base.password:
        admin["password"] = base.password
    with psycopg.connect(**admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(**admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def launched(database: str, workers: int, pg_url: str = DEFAULT_PG_URL) -> Iterator[Target]:
    """`seoul-wallet serve --workers N` over a fresh database, ready; stopped (and its database
    dropped) on exit."""
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="seoul-load-")))
        if database == "postgres":
            url = stack.enter_context(postgres_database(pg_url))
        else:
            url = f"sqlite:///{scratch / 'load.db'}"
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        settings = Settings(
            data_dir=scratch,
            database_url=url,
            master_key=b64url_encode(secrets.token_bytes(32)),
            public_url=base_url,
            development=True,
        )
        platform = build_platform(settings)
        stack.callback(platform.engine.dispose)
        prepare(platform)  # migrates; the server's own start finds everything in place
        log = stack.enter_context((scratch / "server.log").open("wb"))
        env = server_environment(settings, base_url, scratch, **LOAD_LIMITS)
        process = start_server(env, port, workers, stderr=log)
        stack.callback(stop_server, process)
        wait_until_ready(process, base_url, output=lambda: (scratch / "server.log").read_text(errors="replace")[-2000:])
        yield Target(base_url, "127.0.0.1", port, process.pid, platform.engine)


def attached(base_url: str, database_url: str, server_pid: int | None) -> Target:
    """A server someone else started (the short form under pytest), reached through its URL and
    its database (where the load test registers its OAuth clients)."""
    from seoul_wallet.database import create_database_engine

    host_port = base_url.split("://", 1)[1].rstrip("/")
    host, _, port = host_port.partition(":")
    return Target(base_url, host, int(port or 80), server_pid, create_database_engine(database_url))
