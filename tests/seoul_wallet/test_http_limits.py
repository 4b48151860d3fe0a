"""The live server bounds every request head (issue 14 defect 12): its size, its number of fields, and
how long a client may take to send it; the server keeps serving, and kept-alive connections and
slow but honest clients still work. Over raw sockets against a real `seoul-wallet serve`, because
the limits live in its HTTP protocol (seoul_wallet/http_limits.py), below the ASGI app."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from tests.live_servers import free_port, server_environment, start_server, stop_server, wait_until_ready

# Seconds, for these tests' server (the default is 10). The idle step below must stay under uvicorn's
# 5 s keep-alive. (A loaded CI machine's late event loop used to close a fresh connection as silent,
# seen four times: the server now reads what waits first, tested at the end of this file.)
HEAD_TIMEOUT = 2.5
# Bounds on waits, never expectations: a loaded machine may be slow, never a server early.
WAIT = 20.0
REQUEST = b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[tuple[str, int]]:
    """A live server with a short head timeout (it copies this environment when it starts)."""
    monkeypatch.setenv("SEOUL_WALLET_HEADER_TIMEOUT_SECONDS", str(HEAD_TIMEOUT))
    base = urlsplit(request.getfixturevalue("live_server"))
    yield base.hostname or "127.0.0.1", base.port or 80


def _connect(server: tuple[str, int]) -> socket.socket:
    connection = socket.create_connection(server, timeout=WAIT)
    connection.settimeout(WAIT)
    return connection


def _read_until_closed(connection: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a reset counts as closing)."""
    received = b""
    try:
        while chunk := connection.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received


def _read_response(connection: socket.socket) -> tuple[int, bytes]:
    """One response on a connection that stays open: (status, body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        assert chunk, f"the server closed the connection: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = next(int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += connection.recv(65536)
    return int(lines[0].split()[1]), body


def _status_and_problem(answer: bytes) -> tuple[int, dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"content-type: application/problem+json" in head.lower(), head
    return int(head.split()[1]), json.loads(body)


def _still_serves(server: tuple[str, int]) -> None:
    assert httpx.get(f"http://{server[0]}:{server[1]}/healthz", timeout=WAIT).status_code == 200


def test_a_head_too_large_or_with_too_many_fields_is_refused_and_honest_clients_are_served(server) -> None:
    # A 1 MiB header (the server's bound is 32 KiB): refused once the bound is passed, not buffered.
    with _connect(server) as connection:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Big: ")
        try:
            for _ in range(16):
                connection.sendall(b"a" * 65536)
            connection.sendall(b"\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server closed before the client finished: refused too
        answer = _read_until_closed(connection)
    if answer:  # the answer, unless a reset destroyed it: never the 200 the whole head would get
        status, problem = _status_and_problem(answer)
        assert status == 431 and problem["status"] == 431 and "32768 bytes" in problem["detail"]
    # More fields than the bound (100), each small.
    fields = b"".join(b"X-Field-%d: %d\r\n" % (n, n) for n in range(150))
    with _connect(server) as connection:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n" + fields + b"\r\n")
        status, problem = _status_and_problem(_read_until_closed(connection))
    assert status == 431 and "100 header fields" in problem["detail"]
    # Within the bounds, a large head (cookies, a long token) is served as before.
    with _connect(server) as connection:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\nCookie: c=" + b"a" * 20_000 + b"\r\n\r\n")
        assert _read_response(connection)[0] == 200
    _still_serves(server)
    # Honest clients, after all that: a kept-alive connection, a head in pieces, pipelining.
    with _connect(server) as connection:
        connection.sendall(REQUEST)
        assert _read_response(connection) == (200, b'{"status":"ok"}')
        # Idle between requests for longer than the head timeout (but not uvicorn's 5 s keep-alive):
        # the head's clock starts with its first byte, so the next request is served.
        time.sleep(HEAD_TIMEOUT + 0.5)
        # A head in pieces, each well within the timeout, like a client on a slow network.
        for piece in (REQUEST[:10], REQUEST[10:25], REQUEST[25:]):
            connection.sendall(piece)
            time.sleep(0.1)
        assert _read_response(connection)[0] == 200
    # Pipelined requests on one connection are answered in order. A connection of its own: on a
    # loaded machine (CI runs test files in parallel) this client can be descheduled for longer than
    # uvicorn's 5 s keep-alive between two steps, and the server then rightly closes the idle one
    # above (seen twice in CI, with the tree before issue 15 as after it).
    assert _pipelined_statuses(server, 3) == [200, 200, 200]


def _pipelined_statuses(server: tuple[str, int], count: int) -> list[int]:
    """The statuses of `count` requests sent in one write on a new connection.

    The server rightly closes a connection that sent nothing within the head timeout. Should this
    client be descheduled that long between connecting and sending (a loaded CI machine), the
    attempt is repeated; a silent close after a prompt send is the server's fault and fails."""
    for _ in range(3):
        started = time.monotonic()
        with _connect(server) as connection:
            connection.sendall(REQUEST * count)
            sent_after = time.monotonic() - started
            first = connection.recv(1, socket.MSG_PEEK)
            if first or sent_after < HEAD_TIMEOUT:
                return _read_responses(connection, count)
    raise AssertionError("this client never managed to send within the head timeout")


def _read_responses(connection: socket.socket, count: int) -> list[int]:
    """The statuses of the next `count` responses. Pipelined answers may arrive in one read, so
    what follows a response's body is kept for the next (`_read_response` drops it)."""
    data, statuses = b"", []
    while len(statuses) < count:
        while b"\r\n\r\n" not in data:
            chunk = connection.recv(65536)
            assert chunk, f"the server closed the connection after {statuses}: {data!r}"
            data += chunk
        head, _, data = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        length = next(int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length:"))
        while len(data) < length:
            chunk = connection.recv(65536)
            assert chunk, f"the server closed the connection inside a body after {statuses}"
            data += chunk
        data = data[length:]
        statuses.append(int(lines[0].split()[1]))
    return statuses


def test_a_client_that_never_finishes_its_head_is_disconnected_within_the_timeout(server) -> None:
    half, trickling, silent = _connect(server), _connect(server), _connect(server)
    started = time.monotonic()
    half.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n")
    trickling.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Slow: ")
    # A slowloris keeps the connection busy with a byte now and then: the deadline is the head's,
    # not an idle timeout that each byte would restart.
    trickling.settimeout(0.3)
    answer = b""
    while time.monotonic() - started < WAIT:
        try:
            trickling.sendall(b"a")
            answer = trickling.recv(65536)
            break
        except TimeoutError:
            continue
        except (BrokenPipeError, ConnectionResetError):
            break
    trickled_for = time.monotonic() - started
    trickling.settimeout(WAIT)
    answer += _read_until_closed(trickling)
    assert HEAD_TIMEOUT * 0.9 <= trickled_for < WAIT
    assert _status_and_problem(answer)[0] == 408
    # Half a head gets 408 too; a connection that never said anything is closed without a word.
    status, problem = _status_and_problem(_read_until_closed(half))
    assert status == 408 and problem["title"] == "Request Timeout"
    assert _read_until_closed(silent) == b""
    assert time.monotonic() - started < WAIT
    for connection in (half, trickling, silent):
        connection.close()
    _still_serves(server)


def test_a_head_sent_in_time_is_served_when_the_servers_event_loop_was_late(platform, tmp_path, monkeypatch) -> None:
    """The server's loop stalls (here: SIGSTOP; in CI: a loaded machine) while a client sends its
    head in time. When the loop runs again, the head timer is due and the bytes wait unread; uvloop
    runs due timers first, and the server used to close the connection as one that sent nothing."""
    monkeypatch.setenv("SEOUL_WALLET_HEADER_TIMEOUT_SECONDS", str(HEAD_TIMEOUT))
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    process = start_server(server_environment(platform.settings, base_url, tmp_path), port, workers=1)
    try:
        wait_until_ready(process, base_url)
        with _connect(("127.0.0.1", port)) as connection:
            time.sleep(0.5)  # the server accepts it and starts its head timer
            os.kill(process.pid, signal.SIGSTOP)  # one worker: the server's own process runs the loop
            try:
                connection.sendall(REQUEST)  # in time: the kernel takes it
                time.sleep(HEAD_TIMEOUT + 1.0)  # the timer is due when the loop runs again
            finally:
                os.kill(process.pid, signal.SIGCONT)
            assert _read_response(connection) == (200, b'{"status":"ok"}')
    finally:
        stop_server(process)
