"""Two `seoul-wallet serve` processes over one database, as two machines behind a load balancer:
one worker each, different ports, the same master key and the same public URL (the first
server's address stands for the balancer's, so a request made for one is valid at the other; both
servers' own outbound calls, to the ledger or a status list, go there). And a way to send two
requests at the same instant, one to each."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import Engine

from seoul_wallet.app import Platform
from tests.live_servers import (
    free_port,
    platform_environment,
    prepared_platform,
    start_server,
    stop_server,
    wait_until_ready,
)


@dataclass(frozen=True)
class TwoServers:
    a: str  # base URLs of the two servers
    b: str
    platform: Platform  # over the same database and master key, for setting things up directly
    public: str  # the public URL of both: the first server's address (of the first pair started)

    @property
    def engine(self) -> Engine:
        return self.platform.engine

    @property
    def both(self) -> tuple[str, str]:
        return self.a, self.b

    def at(self, server: str, url: str) -> str:
        """`url` (made for the public URL) as sent to `server` instead."""
        assert url.startswith(self.public), url
        return server + url[len(self.public) :]


@contextmanager
def _serve(platform: Platform, ports: tuple[int, int], data_dir: Path, env: dict[str, str]) -> Iterator[TwoServers]:
    a, b = (f"http://127.0.0.1:{port}" for port in ports)
    public = platform.settings.public_url  # both pairs' servers stand behind the first pair's address
    # `data_dir`, not the platform's: a second pair (two_more) gets a directory of its own.
    environment = platform_environment(platform, data_dir, **env)
    with ExitStack() as stack:
        processes = []
        for port in ports:  # both start at once: the machine has two cores
            process = start_server(environment, port, 1)
            stack.callback(stop_server, process)
            processes.append(process)
        for process, base in zip(processes, (a, b), strict=True):
            wait_until_ready(process, base)
        yield TwoServers(a, b, platform, public)


@contextmanager
def two_servers(database_url: str, engine: Engine, data_dir: Path, **extra_env: str) -> Iterator[TwoServers]:
    """Two single-worker servers over the emptied test database, started at once and ready."""
    ports = free_port(), free_port()
    public = f"http://127.0.0.1:{ports[0]}"
    platform = prepared_platform(database_url, engine, data_dir, public)
    with _serve(platform, ports, data_dir, extra_env) as pair:
        yield pair


@contextmanager
def two_more(first: TwoServers, data_dir: Path, **extra_env: str) -> Iterator[TwoServers]:
    """Two more servers over the platform `first` runs over (nothing emptied or prepared again:
    `first` keeps working), with other settings (`extra_env`), behind the same public URL."""
    with _serve(first.platform, (free_port(), free_port()), data_dir, extra_env) as pair:
        yield pair


class Racer:
    """One HTTP client per server, each with its connection open, so that `race` releases the
    requests at the same instant (a barrier) rather than one connection set-up apart."""

    def __init__(self, servers: TwoServers, timeout: float = 60.0) -> None:
        self.servers = servers
        self.clients = {base: httpx.Client(timeout=timeout) for base in servers.both}

    def close(self) -> None:
        for client in self.clients.values():
            client.close()

    def race(self, *calls: tuple[str, Callable[[httpx.Client], httpx.Response]]) -> list[httpx.Response]:
        """Run each `(server, call)` on its own thread, all released together; the responses in
        the order given. A server may appear more than once (its client is then shared)."""
        for base in {base for base, _ in calls}:
            self.clients[base].get(f"{base}/healthz")  # (re)opens the kept-alive connection
        barrier = threading.Barrier(len(calls))
        results: list[Any] = [None] * len(calls)

        def run(index: int, base: str, call: Callable[[httpx.Client], httpx.Response]) -> None:
            barrier.wait()
            try:
                results[index] = call(self.clients[base])
            except Exception as exc:  # reported by the assertion below, with the others' answers
                results[index] = exc

        threads = [threading.Thread(target=run, args=(i, base, call)) for i, (base, call) in enumerate(calls)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        failed = [r for r in results if isinstance(r, Exception)]
        assert not failed, f"a request failed: {failed!r}"
        return results


def reason_of(response: httpx.Response) -> str:
    """The OAuth-style error of a refusal, with the verifier's reason when it gives one
    (`error_description` is "<reason>: <detail>" at the response endpoint)."""
    body = response.json()
    description = str(body.get("error_description", ""))
    reason = description.split(":", 1)[0] if ":" in description else ""
    return f"{body.get('error')}/{reason}" if reason else str(body.get("error"))
