"""The live server's HTTP front: what an oversized or never-finished request head costs it, and how
many simple requests per second each HTTP protocol implementation serves.

Run: .venv/bin/python bench/bench_http_server.py [--flood-mib 64] [--connections 8] [--seconds 5]

Flood: `seoul-wallet serve` (one worker) as deployed; N connections each stream an unterminated
header line of --flood-mib MiB (generated chunk by chunk, never held whole) and then wait. Reported:
the server's resident memory before, at its peak and after; when each connection was dropped.
Slowloris: N connections send half a head, then a byte a second; when each was dropped.
Throughput: uvicorn, one worker, per protocol (`--http h11`, `--http httptools`, and the bounded
protocol `serve` uses), over the app as served and over a bare ASGI app (the protocol's own cost);
32 keep-alive clients GET /healthz for --seconds, best of --repeat rounds (the box is shared: the
best round is the least disturbed one). The clients run in this process: on a small machine they
share its cores with the server, so the bare figures are a floor.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CHUNK = b"a" * 65536
PROTOCOLS = {
    "h11": "h11",
    "httptools": "httptools",
    "bounded (serve)": "seoul_wallet.http_limits:BoundedHttpToolsProtocol",
}


MASTER_KEY = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()


async def bare_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An ASGI app that answers every request at once: what the protocol alone costs."""
    if scope["type"] == "http":
        headers = [(b"content-type", b"application/json"), (b"content-length", b"15")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b'{"status":"ok"}'})


# The app as served (every middleware, /healthz) and the bare one, to separate protocol and app costs.
APPS = {
    "seoul_wallet (create_served_app)": ["seoul_wallet.app:create_served_app", "--factory"],
    "bare ASGI app": ["bench.bench_http_server:bare_app"],
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def server_env(data_dir: Path, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "SEOUL_WALLET_DATA_DIR": str(data_dir),
        "SEOUL_WALLET_DATABASE_URL": f"sqlite:///{data_dir}/bench.db",
        "SEOUL_WALLET_MASTER_KEY": MASTER_KEY,
        "SEOUL_WALLET_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "SEOUL_WALLET_DEVELOPMENT": "true",
        "SEOUL_WALLET_LOG_LEVEL": "WARNING",
        "SEOUL_WALLET_CALLBACK_WORKER": "false",
        "SEOUL_WALLET_WALLET_STATUS_REFRESH_SECONDS": "0",
        "PYTHONPATH": str(ROOT),
    }


def start(command: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}: {command}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("server did not become ready")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def flood_one(port: int, mib: int, started: float, hold: float) -> tuple[int, float | None, str]:
    """Streams `mib` MiB of one header line that never ends, then waits up to `hold` seconds.
    Returns (bytes sent, seconds until the server dropped the connection or None, its first line)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sent = 0
    answer = b""
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: bench\r\nX-Flood: ")
        for _ in range(mib * 16):
            writer.write(CHUNK)
            await writer.drain()
            sent += len(CHUNK)
        answer = await asyncio.wait_for(reader.read(200), timeout=hold)
        # An empty read is the server closing the connection without an answer.
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    except TimeoutError:
        writer.close()
        return sent, None, "(still open)"
    dropped = time.monotonic() - started
    writer.close()
    return sent, dropped, answer.split(b"\r\n", 1)[0].decode("latin-1") or "(closed, no answer)"


async def trickle_one(port: int, started: float, hold: float) -> tuple[float | None, str]:
    """A slowloris: half a request head, then one more header byte a second, never the end."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: bench\r\nX-Slow: ")
    answer = b""
    try:
        while time.monotonic() - started < hold:
            writer.write(b"a")
            await writer.drain()
            try:
                answer = await asyncio.wait_for(reader.read(200), timeout=1)
                break  # an answer, or the server closing (an empty read)
            except TimeoutError:
                continue
        else:
            writer.close()
            return None, "(still open)"
    except ConnectionError:
        pass
    writer.close()
    return time.monotonic() - started, answer.split(b"\r\n", 1)[0].decode("latin-1") or "(closed, no answer)"


async def trickle(port: int, connections: int, hold: float) -> list[tuple[float | None, str]]:
    started = time.monotonic()
    return list(await asyncio.gather(*(trickle_one(port, started, hold) for _ in range(connections))))


async def flood(port: int, pid: int, connections: int, mib: int, hold: float) -> dict[str, object]:
    before = rss_mib(pid)
    peak = before
    started = time.monotonic()
    tasks = [asyncio.create_task(flood_one(port, mib, started, hold)) for _ in range(connections)]
    while not all(task.done() for task in tasks):
        peak = max(peak, rss_mib(pid))
        await asyncio.sleep(0.05)
    results = [task.result() for task in tasks]
    peak = max(peak, rss_mib(pid))
    return {"before": before, "peak": peak, "after": rss_mib(pid), "connections": results}


async def keep_alive_client(port: int, stop_at: float, counter: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n"
    while time.monotonic() < stop_at:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
        )
        await reader.readexactly(length)
        counter[0] += 1
    writer.close()


async def throughput(port: int, seconds: float, clients: int = 32) -> float:
    counter = [0]
    started = time.monotonic()
    await asyncio.gather(*(keep_alive_client(port, started + seconds, counter) for _ in range(clients)))
    return counter[0] / (time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flood-mib", type=int, default=64)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--hold", type=float, default=60, help="seconds a flooding client waits to be dropped")
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-flood", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-http-") as directory:
        data_dir = Path(directory)
        port = free_port()
        env = server_env(data_dir, port)
        serve = start([str(BIN / "seoul-wallet"), "serve", "--port", str(port)], env, port)
        try:
            if not args.skip_flood:
                result = asyncio.run(flood(port, serve.pid, args.connections, args.flood_mib, args.hold))
                print(f"flood: {args.connections} connections x {args.flood_mib} MiB unterminated header")
                print(
                    f"  server RSS: before {result['before']:.0f} MiB, peak {result['peak']:.0f} MiB, "
                    f"after {result['after']:.0f} MiB"
                )
                for sent, dropped, answer in result["connections"]:  # type: ignore[union-attr]
                    when = f"dropped after {dropped:.2f} s" if dropped is not None else f"open after {args.hold} s"
                    print(f"  sent {sent / 2**20:.2f} MiB, {when}: {answer}")
                print(f"slowloris: {args.connections} connections, half a head, then a byte a second")
                for dropped, answer in asyncio.run(trickle(port, args.connections, args.hold)):
                    when = f"dropped after {dropped:.2f} s" if dropped is not None else f"open after {args.hold} s"
                    print(f"  {when}: {answer}")
                healthy = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code
                print(f"  GET /healthz afterwards: {healthy}")
        finally:
            stop(serve)
        if args.skip_throughput:
            return
        print(f"throughput: GET /healthz, 32 keep-alive clients, {args.seconds} s, best of {args.repeat}")
        best: dict[tuple[str, str], float] = {}
        for _ in range(args.repeat):
            for app_name, app_args in APPS.items():
                for name, protocol in PROTOCOLS.items():
                    port = free_port()
                    command = [str(BIN / "uvicorn"), *app_args, "--port", str(port), "--http", protocol]
                    command += ["--no-access-log", "--log-level", "warning"]
                    server = start(command, server_env(data_dir, port), port)
                    try:
                        rate = asyncio.run(throughput(port, args.seconds))
                    finally:
                        stop(server)
                    best[app_name, name] = max(best.get((app_name, name), 0.0), rate)
        for (app_name, name), rate in best.items():
            print(f"  {app_name:32} {name:16} {rate:8.0f} requests/s")


if __name__ == "__main__":
    main()
