"""Issue 14, defect 8: the verifier's call to its own ledger can neither starve its server nor split
an outcome. With one worker, 60 simultaneous valid presentations are all decided and /healthz keeps
answering; a decision and its consent's `used` event are both recorded or neither, whatever fails
in between, and a retry never doubles either (verifiers/acceptance.py). Real HTTP (a live server,
or the ASGI app), real databases, real signatures; a crash is the state it leaves in the databases
(the steps before it run, the ones after it do not)."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import json
import socket
import threading
import time

import anyio
import httpx
import pytest
from sqlalchemy import text

from auth.clients import register_client
from consent.audit import LocalSource, audit
from consent.presentations import PresentationGrantIn, link_presentation, record_presentation_grant
from consent.schemas import ConsentRecordIn
from consent.service import ConsentLedger, origin_from_url
from seoul_wallet.app import build_platform, consent_ledger, verifier_service
from tests.conftest import bearer_for
from tests.issuers.spec_wallet import receive
from tests.support.grants import grant_body
from tests.verifiers.conftest import birth_date_for_age, youth_claims
from tests.verifiers.spec_vp_wallet import HeldCredential, fetch_request, present, select
from verifiers.acceptance import IDLE_BEFORE_RECOVERY, LEASE
from verifiers.consent_http import HttpConsentGateway
from verifiers.responses import PresentationResponses

VERIFIER = "seoul-transport"  # K-Pass youth: one credential (resident registration) per presentation
SERVICE = "k_pass_youth"
BURST = 60


def _run_async(function, *args):
    """`anyio.run` on a thread of its own: in a pytest worker that also ran the browser tests,
    Playwright's sync API keeps an event loop running in the main thread for the whole session."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(anyio.run, function, *args).result()


def _resident(age: int = 25) -> dict:
    return {**youth_claims()["resident_registration"], "birth_date": birth_date_for_age(age)}


def _vp_token(request, wallet: list[HeldCredential]) -> str:
    """A fresh presentation (its own KB-JWT over the request's nonce) of the wallet's credentials."""
    chosen = select(request.claims["dcql_query"], wallet)
    return json.dumps(
        {
            query_id: [present(held, names, aud=request.client_id, nonce=request.claims["nonce"])]
            for query_id, (held, names) in chosen.items()
        }
    )


def _form(request, vp_token: str) -> dict[str, str]:
    return {"vp_token": vp_token, "state": request.claims["state"]}


def _used_events(engine, verifier: str = f"verifier:{VERIFIER}") -> int:
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT count(*) FROM consent_events e JOIN consent_records r ON r.id = e.record_id "
                "WHERE e.type = 'used' AND r.verifier_id = :verifier"
            ),
            {"verifier": verifier},
        ).scalar()


def _request_row(engine, request_id: str):
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT status, decision, consent_record_id FROM presentation_requests WHERE id = :id"),
            {"id": request_id},
        ).one()


def _acceptances(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM presentation_acceptances")).scalar()


def _audit_passes(platform, server_url: str | None = None) -> None:
    """The public audit of the log passes. With `server_url`: as the live server at that address
    signed it (its checkpoints name its own origin, not the test platform's)."""
    ledger = consent_ledger(platform)
    if server_url is not None:
        ledger = ConsentLedger(
            platform.engine,
            platform.keyring,
            origin=origin_from_url(server_url),
            base_url=server_url,
            status_index_key=ledger.status_index_key,
        )
    report = audit(LocalSource(ledger))
    assert report.tree_size > 0


# -- (a) a burst over a live server with one worker -------------------------------------------------


def _issue_over_http(base: str, http: httpx.Client, platform, subject: str) -> HeldCredential:
    creds = register_client(platform.engine, "agency:mois", ["credentials:offer"])
    token = http.post(
        f"{base}/oauth/token", data={"grant_type": "client_credentials"}, auth=(creds.client_id, creds.client_secret)
    )
    assert token.status_code == 200, token.text
    offer = http.post(
        f"{base}/issuers/mois/offers",
        json={"subject": subject, "credential_type": "resident_registration", "claims": _resident()},
        headers={"Authorization": f"Bearer {token.json()['access_token']}"},
    )
    assert offer.status_code == 201, offer.text
    issuance = receive(offer.json()["offer_link"], http)
    return HeldCredential(issuance.credential, issuance.holder.private)


def test_sixty_simultaneous_presentations_on_one_worker_are_all_decided(live_server, platform) -> None:
    with httpx.Client(timeout=30) as http:
        held = _issue_over_http(live_server, http, platform, "citizen-burst")
        anchor = http.get(f"{live_server}/verifiers/rp-ca.pem").content
        # The checks are opened as the operator's CLI opens them (in-process, over the same
        # database and keys), so the burst is what the server sees, not its request rate limit.
        checks = verifier_service(
            build_platform(platform.settings.model_copy(update={"public_url": live_server}), platform.engine)
        )
        opened = [checks.create_request(VERIFIER, SERVICE) for _ in range(BURST)]
        requests = [fetch_request(created.link, http, anchor) for created in opened]
        forms = [_form(request, _vp_token(request, [held])) for request in requests]

    start = threading.Barrier(BURST + 1)

    def post(request, form) -> httpx.Response:
        start.wait()
        return httpx.post(request.claims["response_uri"], data=form, timeout=60)

    health: list[float] = []
    with concurrent.futures.ThreadPoolExecutor(BURST) as pool:
        answers = [pool.submit(post, request, form) for request, form in zip(requests, forms, strict=True)]
        start.wait()
        with httpx.Client(timeout=60) as probe:
            while True:  # at least one probe while the burst is in flight
                began = time.monotonic()
                assert probe.get(f"{live_server}/healthz").status_code == 200
                health.append(time.monotonic() - began)
                if all(answer.done() for answer in answers):
                    break
                time.sleep(0.2)
        statuses = [answer.result().status_code for answer in answers]

    assert statuses == [200] * BURST, {s: statuses.count(s) for s in set(statuses)}
    # Before: ~10 s, the ledger call's timeout, for a thread. Now it is GIL and CPU sharing only;
    # the bound is generous for a loaded 2-core machine.
    assert max(health) < 8, f"/healthz took {max(health):.1f} s during the burst"
    for created in opened:
        status, decision, record_id = _request_row(platform.engine, created.request_id)
        assert status == "answered" and decision and record_id
    assert _used_events(platform.engine) == BURST  # one use each, none doubled
    assert _acceptances(platform.engine) == 0
    _audit_passes(platform, live_server)


# -- in-process: a ledger that fails, and crashes at each step ---------------------------------------


@pytest.fixture
def transport_backend(client, platform) -> dict[str, str]:
    return bearer_for(client, platform, f"verifier:{VERIFIER}", ["presentations:request"])


@pytest.fixture
def kpass(client, credentials, transport_backend):
    """One citizen's resident registration credential and an open K-Pass check: (request id, request, wallet)."""
    wallet = [credentials.issue("resident_registration", _resident())]
    created = client.post("/verifiers/requests", json={"service_id": SERVICE}, headers=transport_backend)
    assert created.status_code == 201, created.text
    request = fetch_request(created.json()["link"], client, client.get("/verifiers/rp-ca.pem").content)
    return created.json()["request_id"], request, wallet


def _result(client, headers, request_id: str) -> dict:
    return client.get(f"/verifiers/requests/{request_id}", headers=headers).json()


def _after_the_lease() -> int:
    """A time when a crashed attempt's acceptance is the background recovery's to take."""
    return int(time.time()) + LEASE + IDLE_BEFORE_RECOVERY


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens there once it is closed


def test_an_unreachable_ledger_leaves_neither_and_the_retry_is_decided_once(
    client, app, platform, kpass, transport_backend
) -> None:
    request_id, request, wallet = kpass
    service = app.state.verifiers
    ledger_gateway = service.consent
    # The ledger's address refuses connections: a real network failure mid-way through the answer.
    service.consent = HttpConsentGateway(httpx.Client(), f"http://127.0.0.1:{_closed_port()}", platform.tokens)
    assert service.consent.pooled  # a network client: the awaited keep-alive path
    form = _form(request, _vp_token(request, wallet))
    try:
        failed = client.post(request.claims["response_uri"], data=form)
    finally:
        service.consent = ledger_gateway
    assert failed.status_code == 503, failed.text
    assert failed.json()["error"] == "temporarily_unavailable" and failed.headers["Retry-After"]
    # Neither: no consent used, no decision, and the backend still sees the check open.
    assert _used_events(platform.engine) == 0
    result = _result(client, transport_backend, request_id)
    assert result["status"] == "pending" and "decision" not in result

    # Another presentation meanwhile (a fresh KB-JWT) is not the answer being recorded: refused, nothing changes.
    other = client.post(request.claims["response_uri"], data=_form(request, _vp_token(request, wallet)))
    assert other.status_code == 400 and "being recorded" in other.json()["error_description"]
    assert _used_events(platform.engine) == 0

    # The background recovery leaves it to the wallet's retry for a while, which then gets its 200.
    assert _run_async(PresentationResponses(service).recover) == 0
    retried = client.post(request.claims["response_uri"], data=form)  # the wallet retries the same response
    assert retried.status_code == 200, retried.text
    again = client.post(request.claims["response_uri"], data=form)
    assert again.status_code == 400 and again.json()["error_description"].startswith("request_already_answered")
    result = _result(client, transport_backend, request_id)
    assert result["status"] == "answered" and result["eligible"] is True and result["decision"]
    assert _used_events(platform.engine) == 1 and _acceptances(platform.engine) == 0
    _audit_passes(platform)


def test_a_lost_ledger_answer_is_decided_with_that_one_use(client, platform, kpass, transport_backend) -> None:
    request_id, request, wallet = kpass
    _, record_id = _wallet_consent(platform, request_id)
    # The verifier's grant call reached the ledger, which logged the use of her one-time consent;
    # the answer never came back (a timeout), so the wallet got a 503 and posts the response again.
    recorder = bearer_for(client, platform, f"verifier:{VERIFIER}", ["consent:record"])
    lost = client.post("/consent/presentation-grants", json=_grant_body(request_id).model_dump(), headers=recorder)
    assert lost.status_code == 200 and _used_events(platform.engine) == 1
    retried = client.post(request.claims["response_uri"], data=_form(request, _vp_token(request, wallet)))
    assert retried.status_code == 200, retried.text  # before: refused, "consent_used_up", a use without decision
    result = _result(client, transport_backend, request_id)
    assert result["status"] == "answered" and result["consent_record_id"] == record_id
    assert _used_events(platform.engine) == 1
    _audit_passes(platform)


def test_a_crash_after_the_ledger_recorded_is_completed_once(client, app, platform, kpass, transport_backend) -> None:
    request_id, request, wallet = kpass
    responses = PresentationResponses(app.state.verifiers)
    vp_token = _vp_token(request, wallet)
    # The server dies right after the ledger's answer: steps 1 and 2 ran, the decision was never stored.
    acceptance = responses.begin(VERIFIER, vp_token, request.claims["state"])
    record = _run_async(app.state.verifiers.consent.record_presentation_grant, acceptance.grant)
    assert _used_events(platform.engine) == 1
    assert _result(client, transport_backend, request_id)["status"] == "pending"

    # Within the dead attempt's lease a retry is told to come back (503 with Retry-After, never a
    # refusal a wallet would take as final), and changes nothing.
    busy = client.post(request.claims["response_uri"], data=_form(request, vp_token))
    assert busy.status_code == 503 and "being recorded" in busy.json()["error_description"], busy.text
    assert busy.json()["error"] == "temporarily_unavailable" and int(busy.headers["retry-after"]) > 0
    # Recovery, once the lease has run out (as the restarted server's background round does).
    assert _run_async(responses.recover, _after_the_lease()) == 1
    result = _result(client, transport_backend, request_id)
    assert result["status"] == "answered" and result["consent_record_id"] == record.record_id
    decision = app.state.verifiers.verify_decision(result["decision"])
    assert decision["consent"] == {"record_id": record.record_id, "receipt": record.receipt}
    # Both, once: the repeated ledger call logged nothing, and a later retry decides nothing more.
    assert _used_events(platform.engine) == 1 and _acceptances(platform.engine) == 0
    late = client.post(request.claims["response_uri"], data=_form(request, vp_token))
    assert late.status_code == 400 and late.json()["error_description"].startswith("request_already_answered")
    assert _run_async(responses.recover, _after_the_lease()) == 0
    assert _used_events(platform.engine) == 1
    _audit_passes(platform)


def test_a_crash_before_the_ledger_call_is_completed_by_the_wallets_retry(
    client, app, platform, kpass, transport_backend
) -> None:
    request_id, request, wallet = kpass
    responses = PresentationResponses(app.state.verifiers)
    vp_token = _vp_token(request, wallet)
    acceptance = responses.begin(VERIFIER, vp_token, request.claims["state"])  # then the crash
    # The restarted server released nothing; once the lease ran out, the wallet's retry carries it on.
    with platform.engine.begin() as conn:
        conn.execute(
            text("UPDATE presentation_acceptances SET lease_until = :past WHERE request_id = :id"),
            {"past": int(time.time()) - 1, "id": acceptance.request_id},
        )
    retried = client.post(request.claims["response_uri"], data=_form(request, vp_token))
    assert retried.status_code == 200, retried.text
    assert _result(client, transport_backend, request_id)["status"] == "answered"
    assert _used_events(platform.engine) == 1 and _acceptances(platform.engine) == 0
    _audit_passes(platform)


def _wallet_consent(platform, request_id: str) -> tuple:
    """What the citizen's own wallet does before posting: record, grant and link a one-time consent."""
    ledger = consent_ledger(platform)
    now = dt.datetime.now(dt.UTC)
    record = ConsentRecordIn.model_validate(
        {
            "citizen": "citizen:citizen-1",
            "recipient": f"verifier:{VERIFIER}",
            "controller": {"id": VERIFIER, "name_ko": "서울시 교통", "name_en": "Seoul Transport"},
            "service": {"id": SERVICE, "name_ko": "K-패스", "name_en": "K-Pass"},
            "purpose": {"code": "ServiceAccessDetermination", "text_ko": "자격 확인", "text_en": "eligibility"},
            "legal_basis": {"type": "consent"},
            "data_items": [["resident_registration", "birth_date"]],
            "disclosure": "predicate_only",
            "retention_days": 0,
            "validity": {"start": now.isoformat(), "end": (now + dt.timedelta(days=1)).isoformat()},
            "frequency": {"kind": "one_time"},
            "notice": {"sha256": "0" * 64, "version": "2026.1"},
            "method": "wallet_app",
            "actor": {"role": "citizen"},
            "language": "ko",
        }
    )
    record_id = ledger.request(record)
    ledger.grant(record_id)
    link_presentation(ledger, record_id, f"verifier:{VERIFIER}", request_id)
    return ledger, record_id


def test_a_crash_before_the_ledger_call_then_a_withdrawal_rolls_back(
    client, app, platform, kpass, transport_backend
) -> None:
    request_id, request, wallet = kpass
    ledger, record_id = _wallet_consent(platform, request_id)
    responses = PresentationResponses(app.state.verifiers)
    vp_token = _vp_token(request, wallet)
    responses.begin(VERIFIER, vp_token, request.claims["state"])  # then the crash
    ledger.withdraw(record_id, "citizen:citizen-1")  # she withdraws before anyone carries it on
    assert _run_async(responses.recover, _after_the_lease()) == 1
    # Neither: the ledger refused and logged nothing; the check is refused with its reason.
    result = _result(client, transport_backend, request_id)
    assert result["status"] == "rejected" and result["failure"]["reason"] == "consent_withdrawn"
    assert "decision" not in result
    assert _used_events(platform.engine) == 0 and _acceptances(platform.engine) == 0
    with platform.engine.connect() as conn:  # its KB-JWT's replay guard went with it
        assert conn.execute(text("SELECT count(*) FROM accepted_presentations")).scalar() == 0
    _audit_passes(platform)


def test_the_platforms_own_verifier_calls_its_ledger_on_a_keep_alive_async_client(settings, migrated_engine) -> None:
    # As deployed (Platform.http reaches the network), not through a thread; tests route it elsewhere.
    assert verifier_service(build_platform(settings, migrated_engine)).consent.pooled


# -- the ledger's side: a repeat of a grant is idempotent --------------------------------------------


# The K-Pass check that `_wallet_consent` records for citizen-1: what differs from the shared builder's
# youth-allowance grant (tests/support/grants.py).
_KPASS_GRANT = {
    "verifier_name_ko": "서울시 교통",
    "verifier_name_en": "Seoul Transport",
    "service_id": SERVICE,
    "service_name_ko": "K-패스",
    "service_name_en": "K-Pass",
    "purpose": "ServiceAccessDetermination",
    "notice_version": "2026.1",
}


def _grant_body(request_id: str) -> PresentationGrantIn:
    return grant_body(request_id, subject="citizen-1", **_KPASS_GRANT)


def test_a_repeated_grant_of_a_wallet_consent_answers_the_same_use_once(platform) -> None:
    ledger, record_id = _wallet_consent(platform, "req-idempotent-1")
    first = record_presentation_grant(ledger, f"verifier:{VERIFIER}", _grant_body("req-idempotent-1"))
    # The verifier lost that answer and asks again (the consent is used up by then), and once more
    # after the citizen withdrew it: the same record, the same receipt, no second `used` event.
    again = record_presentation_grant(ledger, f"verifier:{VERIFIER}", _grant_body("req-idempotent-1"))
    ledger.withdraw(record_id, "citizen:citizen-1")
    after_withdrawal = record_presentation_grant(ledger, f"verifier:{VERIFIER}", _grant_body("req-idempotent-1"))
    assert first.record_id == again.record_id == after_withdrawal.record_id == record_id
    assert first.receipt == again.receipt == after_withdrawal.receipt
    assert _used_events(platform.engine) == 1


def test_a_repeated_grant_recorded_from_a_presentation_logs_nothing_more(client, platform) -> None:
    verifier = bearer_for(client, platform, f"verifier:{VERIFIER}", ["consent:record"])
    body = _grant_body("req-idempotent-2").model_dump()
    answers = [client.post("/consent/presentation-grants", json=body, headers=verifier) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200], answers[-1].text
    assert len({a.json()["record_id"] for a in answers}) == 1
    assert _used_events(platform.engine) == 1
    other = client.post(
        "/consent/presentation-grants", json={**body, "evidence_sha256": "c" * 64}, headers=verifier
    )  # another presentation for the same request is refused, and logs nothing
    assert other.status_code == 409 and other.json()["reason"] == "consent_for_another_presentation"
    assert _used_events(platform.engine) == 1
    _audit_passes(platform)
