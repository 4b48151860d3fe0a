"""The verifier's HTTP client to its ledger (verifiers/consent_http.py) on the wire: what it sends,
and how each answer a ledger can give, or fail to give, reaches the verifier.

The ledger here is a raw TCP server in a thread that records the request and answers canned bytes:
a real socket and the gateway's real keep-alive pool, with no app behind it, so each answer is
exactly the one under test (the app's own answers are tested in test_ledger_call.py)."""

from __future__ import annotations

import concurrent.futures
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import anyio
import httpx
import pytest

from verifiers.consent_gateway import ConsentRefused, ConsentUnavailable, PresentationGrant
from verifiers.consent_http import GRANTS_PATH, HttpConsentGateway

GRANT = PresentationGrant(
    request_id="req-ledger-client",
    verifier="seoul-youth",
    verifier_name_ko="서울 청년수당",
    verifier_name_en="Seoul Youth Allowance",
    client_id="x509_san_dns:127.0.0.1",
    service_id="seoul_youth_allowance",
    service_name_ko="청년수당",
    service_name_en="Youth allowance",
    purpose="ServiceProvision",
    data_items=(("resident_registration", "birth_date"),),
    values_shared=False,
    retention_days=0,
    subject="citizen-7",
    holder_keys=("holder-key:" + "A" * 43,),
    evidence_sha256="a" * 64,
    notice_sha256="b" * 64,
    notice_version="1",
)


def _http(status: str, body: bytes, content_type: bytes = b"application/json") -> bytes:
    head = b"HTTP/1.1 %b\r\nContent-Type: %b\r\nContent-Length: %d\r\n\r\n" % (status.encode(), content_type, len(body))
    return head + body


@dataclass
class CannedLedger:
    """Answers every connection's first request with `answer` (then closes), recording what came."""

    answer: bytes = b""
    requests: list[bytes] = field(default_factory=list)
    port: int = 0

    def serve(self, listener: socket.socket) -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return  # closed: the test is over
            with connection:
                self.requests.append(_read_request(connection))
                if self.answer:
                    connection.sendall(self.answer)


def _read_request(connection: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0
    )
    while len(body) < length:
        body += connection.recv(65536)
    return head + b"\r\n\r\n" + body


@pytest.fixture
def ledger() -> Iterator[CannedLedger]:
    listener = socket.create_server(("127.0.0.1", 0))
    canned = CannedLedger(port=listener.getsockname()[1])
    thread = threading.Thread(target=canned.serve, args=(listener,), daemon=True)
    thread.start()
    try:
        yield canned
    finally:
        listener.close()
        thread.join(timeout=5)


def _record(ledger: CannedLedger, platform):
    gateway = HttpConsentGateway(httpx.Client(), f"http://127.0.0.1:{ledger.port}", platform.tokens)
    assert gateway.pooled

    async def call():
        try:
            return await gateway.record_presentation_grant(GRANT)
        finally:
            await gateway.aclose()

    # On a thread of its own: Playwright's sync API may hold an event loop in this worker's main thread.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(anyio.run, call).result()


def test_the_grant_is_one_json_post_with_the_verifiers_token(ledger, platform) -> None:
    ledger.answer = _http("201 Created", json.dumps({"record_id": "r-1", "receipt": "ey.receipt"}).encode())
    record = _record(ledger, platform)
    assert (record.record_id, record.receipt) == ("r-1", "ey.receipt")
    [sent] = ledger.requests
    head, _, body = sent.partition(b"\r\n\r\n")
    request_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    assert request_line == f"POST {GRANTS_PATH} HTTP/1.1"
    assert headers["host"] == f"127.0.0.1:{ledger.port}"
    assert headers["content-type"] == "application/json" and int(headers["content-length"]) == len(body)
    token = platform.tokens.validate(headers["authorization"].removeprefix("Bearer "), ["consent:record"])
    assert token.subject == "verifier:seoul-youth"
    sent_grant = json.loads(body.decode("utf-8"))
    assert sent_grant["verifier_name_ko"] == "서울 청년수당"  # UTF-8, as JSON is on the wire
    assert sent_grant["data_items"] == [["resident_registration", "birth_date"]]
    assert sent_grant["holder_keys"] == list(GRANT.holder_keys) and sent_grant["subject"] == "citizen-7"


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (b"", "closed without answering"),
        (b"SSH-2.0-OpenSSH_9.2\r\n", "not HTTP"),
        (_http("201 Created", b"<html>ok</html>", b"text/html"), "a created grant that is not JSON"),
        (_http("201 Created", b'{"record_id": "r-1"}'), "a created grant without its receipt"),
        (_http("503 Service Unavailable", b'{"title": "busy"}'), "busy"),
        (_http("500 Internal Server Error", b"\xff\xfe"), "broken"),
    ],
)
def test_a_ledger_that_gives_no_usable_answer_is_unavailable(ledger, platform, answer: bytes, why: str) -> None:
    ledger.answer = answer
    with pytest.raises(ConsentUnavailable):
        _record(ledger, platform)
    assert len(ledger.requests) == 1, why


def test_a_ledger_that_refuses_the_grant_says_why(ledger, platform) -> None:
    ledger.answer = _http("409 Conflict", b'{"reason": "consent_withdrawn", "detail": "withdrawn at 10:02"}')
    with pytest.raises(ConsentRefused) as refused:
        _record(ledger, platform)
    assert (refused.value.reason, str(refused.value)) == ("consent_withdrawn", "withdrawn at 10:02")


def test_a_proxy_the_environment_names_for_the_ledger_is_used(monkeypatch, platform) -> None:
    # The pool of its own would bypass the proxy: the gateway then sends through the platform's client.
    ledger_url = "http://ledger.example:8080"
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert not HttpConsentGateway(httpx.Client(), ledger_url, platform.tokens).pooled
    monkeypatch.setenv("NO_PROXY", "ledger.example")
    assert HttpConsentGateway(httpx.Client(), ledger_url, platform.tokens).pooled
    assert not HttpConsentGateway(httpx.Client(proxy="http://127.0.0.1:3128"), ledger_url, platform.tokens).pooled
