"""Bounds on the request head for the live server: its size, its number of header fields, and how
long the server waits for it.

uvicorn's httptools protocol (the fastest it has) buffers a header line for as long as the client
keeps sending it, and neither it nor h11 times out a connection whose head never ends: eight
connections streaming unterminated 64 MiB headers grew one worker by ~570 MB and stayed open for as
long as the clients liked (bench/bench_http_server.py). h11's `h11_max_incomplete_event_size` bounds
the size only, and h11 parses at well under half httptools' rate (same benchmark, bare ASGI app). So
`serve` runs this subclass of uvicorn's httptools protocol, which adds what is missing and changes
nothing else:

- a head (request line and header fields) above `max_bytes` gets 431 (RFC 6585 §5) and the
  connection is closed, as does one with more than `max_count` header fields;
- a head not complete `timeout` seconds after the connection opened (or after its first byte, for
  the next request on a kept-alive connection) gets 408 (RFC 9110 §15.5.9) and is closed; a new
  connection that sent nothing is closed silently, like uvicorn's keep-alive timeout does.

Both answers are Problem Details and say `Connection: close`: after a refused head the framing of
anything the client sends next is unknown. The connection is then half-closed and what the client
still sends is dropped for LINGER_SECONDS before it is closed (RFC 9112 §9.6), so the answer is read
rather than lost to a reset. A connection holds at most `max_bytes` plus one read (256 KiB) of head.
"""

from __future__ import annotations

import asyncio
import fcntl
import functools
import json
import logging
import struct
import termios
from http import HTTPStatus
from typing import Any, NamedTuple

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

log = logging.getLogger("seoul_wallet.http")
# What `serve` hands uvicorn as its HTTP protocol (a string, so each worker process imports it).
PROTOCOL = "seoul_wallet.http_limits:BoundedHttpToolsProtocol"
# How long a refused connection drains what its client still sends before it is closed.
LINGER_SECONDS = 2.0


class HeadLimits(NamedTuple):
    max_bytes: int
    max_count: int
    timeout: float


@functools.cache
def configured_limits() -> HeadLimits:
    """The limits from the settings, read once per worker process (each reads the same environment)."""
    from seoul_wallet.settings import Settings

    settings = Settings()
    return HeadLimits(settings.max_header_bytes, settings.max_header_count, settings.header_timeout_seconds)


class _HeadRefused(Exception):
    """Raised from a parser callback to stop parsing; uvicorn turns it into send_400_response."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = configured_limits()
        # True from the connection's start, and again after each request message, until the next
        # head is complete: the bytes and time counted against the limits are the head's only.
        self.reading_head = True
        self.head_bytes = 0
        self.head_fields = 0
        self.head_timer: asyncio.TimerHandle | None = None
        self.message_ended_in_chunk = False
        self.refusal: tuple[int, str] | None = None
        self.lingering = False
        self.linger_timer: asyncio.TimerHandle | None = None

    # Connection lifecycle

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        if self.linger_timer is not None:
            self.linger_timer.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.lingering:
            return  # the connection is refused and closing: what the client still sends is dropped
        if self.reading_head and self.head_timer is None:
            self._arm_head_timer()  # the first byte of the next request on a kept-alive connection
        self.message_ended_in_chunk = False
        super().data_received(data)
        if self.transport.is_closing() or not self.reading_head:
            return
        # The head is still incomplete after this chunk. When a request ended inside the chunk, how
        # much of it belongs to the next head is unknown: that chunk is not counted, so a head is
        # refused at most one read (256 KiB) late but never early.
        if not self.message_ended_in_chunk:
            self.head_bytes += len(data)
        if self.head_bytes > self.limits.max_bytes:
            self._refuse(431, f"the request head exceeds {self.limits.max_bytes} bytes")

    # Parser callbacks (httptools calls them from inside feed_data)

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.reading_head:  # not the trailers of a chunked body: they come after the head
            self.head_fields += 1
        if self.head_fields > self.limits.max_count:
            self.refusal = (431, f"more than {self.limits.max_count} header fields")
            raise _HeadRefused  # httptools wraps it in HttpParserCallbackError: see send_400_response
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self.reading_head = False
        self._disarm_head_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self.reading_head = True
        self.head_bytes = 0
        self.head_fields = 0
        self.message_ended_in_chunk = True

    def send_400_response(self, msg: str) -> None:
        # uvicorn answers every parser error with 400; a refusal raised from a callback is ours.
        if self.refusal is not None:
            self._refuse(*self.refusal)
            return
        super().send_400_response(msg)

    # The limits

    def _arm_head_timer(self) -> None:
        self._disarm_head_timer()
        self.head_timer = self.loop.call_later(self.limits.timeout, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _head_timed_out(self) -> None:
        self.head_timer = None
        if self.transport.is_closing() or not self.reading_head:
            return
        if self._bytes_not_read_yet():
            # The event loop is late, not the client: after a stall (a loaded machine) uvloop runs
            # due timers before it reads the sockets, so what the client sent in time is still in
            # the kernel's buffer. It is read in this same loop iteration; the clock starts again.
            # A client that trickles its head gains nothing: its bytes are read as they come.
            self._arm_head_timer()
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # The server is still answering the previous request: it is not waiting for this client.
            self._arm_head_timer()
            return
        if self.head_bytes == 0 and self.cycle is None:
            self.transport.close()  # a new connection that never sent a byte: nothing to answer
            return
        self._refuse(408, f"the request head did not arrive within {self.limits.timeout:g} s")

    def _bytes_not_read_yet(self) -> bool:
        """Whether the connection's socket holds bytes this protocol has not received yet."""
        sock = self.transport.get_extra_info("socket")
        try:
            waiting = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
        except (AttributeError, OSError, ValueError):
            return False  # no socket to ask (closed meanwhile): decide as before
        return struct.unpack("i", waiting)[0] > 0

    def _refuse(self, status: int, detail: str) -> None:
        self._disarm_head_timer()
        log.warning("request head refused", extra={"status": status, "reason": detail, "client": self.client})
        if self.cycle is not None and not self.cycle.response_complete:
            # The answer to an earlier (pipelined) request is still being written: a refusal now
            # would land inside it, so closing is the only clean refusal.
            self.transport.close()
            return
        # type about:blank: the title is the status phrase (RFC 9457 §4.2.1).
        phrase = HTTPStatus(status).phrase
        body = json.dumps({"type": "about:blank", "title": phrase, "status": status, "detail": detail}).encode()
        head = [f"HTTP/1.1 {status} {phrase}\r\n".encode()]
        head += [name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers]
        head += [
            b"content-type: application/problem+json\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"x-content-type-options: nosniff\r\n",
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        self._close_after_answer()

    def _close_after_answer(self) -> None:
        """Half-close, then drop what the client still sends for a moment before closing (RFC 9112
        §9.6): closing a socket with unread input makes the kernel reset the connection, and the reset
        can destroy the answer before the client reads it (the client is likely still sending its head)."""
        if not self.transport.can_write_eof():  # TLS cannot half-close
            self.transport.close()
            return
        self.transport.write_eof()
        self.lingering = True
        self.linger_timer = self.loop.call_later(LINGER_SECONDS, self.transport.close)
