"""Callbacks: the decision is pushed to the backend, signed, retried with backoff, and logged."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from typing import ClassVar

import httpx
import pytest
from sqlmodel import Session

from keys import jws
from tests.verifiers.conftest import youth_claims
from tests.verifiers.spec_vp_wallet import answer, fetch_request
from verifiers.callbacks import backoff, deliver_due
from verifiers.models import PresentationRequest


class _Receiver(http.server.BaseHTTPRequestHandler):
    """A backend's callback endpoint: fails the first `failures` calls, then accepts."""

    failures = 0
    bodies: ClassVar[list[tuple[str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).bodies.append((self.headers["Content-Type"], body))
        if type(self).failures > 0:
            type(self).failures -= 1
            self.send_response(503)
        else:
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        return None


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[_Receiver]]]:
    handler = type("Receiver", (_Receiver,), {"failures": 1, "bodies": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/callback", handler
    finally:
        server.shutdown()
        server.server_close()


def test_decision_is_pushed_signed_and_retried_with_backoff(
    client, youth_backend, credentials, app, platform, receiver
) -> None:
    url, handler = receiver
    wallet = credentials.wallet(youth_claims())
    created = client.post(
        "/verifiers/requests", json={"service_id": "seoul_youth_allowance", "callback_url": url}, headers=youth_backend
    ).json()
    request = fetch_request(created["link"], client, client.get("/verifiers/rp-ca.pem").content)
    assert answer(request, wallet, client).status_code == 200

    service = app.state.verifiers
    with httpx.Client() as http:  # a real HTTP client: the backend is a real server on loopback
        now = int(time.time())
        assert deliver_due(service, http, now=now) == 1  # first attempt: the backend answers 503
        assert deliver_due(service, http, now=now) == 0  # not due again until the backoff passes
        assert deliver_due(service, http, now=now + backoff(1)) == 1  # second attempt: accepted
    log = client.get(f"/verifiers/requests/{created['request_id']}/callbacks", headers=youth_backend).json()
    assert log[0]["status"] == "delivered"
    assert [a["status_code"] for a in log[0]["attempts"]] == [503, 204]
    content_type, body = handler.bodies[-1]
    assert content_type == "application/jwt"
    claims = jws.verify(body.decode(), platform.keyring.resolver("verifiers"), typ="eligibility-callback+jwt").payload
    assert claims["request_id"] == created["request_id"] and claims["eligible"] is True
    assert "values" not in claims


def test_backoff_grows_and_is_capped() -> None:
    assert [backoff(n) for n in (1, 2, 3)] == [2, 4, 8]
    assert backoff(30) == 3600


def test_unsafe_callback_url_at_send_time_fails_without_calling(client, youth_backend, app, platform, receiver) -> None:
    # Registered in development mode; the platform now runs in production mode: loopback is refused.
    url, handler = receiver
    created = client.post(
        "/verifiers/requests", json={"service_id": "seoul_youth_allowance", "callback_url": url}, headers=youth_backend
    ).json()
    request = fetch_request(created["link"], client, client.get("/verifiers/rp-ca.pem").content)
    # A response to an expired request ends it (a final refusal), which schedules the callback.
    with Session(platform.engine) as session:
        row = session.get(PresentationRequest, created["request_id"])
        row.expires_at = int(time.time()) - 1
        session.add(row)
        session.commit()
    client.post(request.claims["response_uri"], data={"vp_token": "{}", "state": request.claims["state"]})
    service = app.state.verifiers
    object.__setattr__(service.settings, "development", False)
    with httpx.Client() as http:
        assert deliver_due(service, http) == 1
    log = client.get(f"/verifiers/requests/{created['request_id']}/callbacks", headers=youth_backend).json()
    assert log[0]["status"] == "failed" and log[0]["attempts"][0]["error"].startswith("unsafe URL")
    assert handler.bodies == []
