"""SIGKILL during consent appends: grants (POST /consent/presentation-grants, as verifiers call it) and
withdrawals (POST /consent/me/{id}/withdraw) under concurrent load (issue 14, net 5 (b)).

After each restart: the log audits from its public endpoints and only grew since the last audit;
every consent event is in it exactly once; no answered grant or withdrawal is lost, none doubled; and
each client's retry of what it was never answered completes it once."""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from dataclasses import dataclass, field
from functools import partial

import httpx

from keys.jwk import b64url_encode
from tests.crash.conftest import LANDED, CrashPoints
from tests.crash.support import (
    assert_log_holds_every_event,
    audit_ledger,
    events_by_record,
    links_by_request,
    run_while_killing,
)

VERIFIER = "verifier:crash-load"
THREADS = 4
PER_THREAD = 60  # more than a thread gets through before the kill


def grant_body(request_id: str) -> dict:
    digest = hashlib.sha256(request_id.encode()).digest()
    return {
        "request_id": request_id,
        "client_id": "x509_san_dns:crash.example",
        "verifier_name_ko": "충돌 시험",
        "verifier_name_en": "Crash test",
        "service_id": "climate_card_youth",
        "service_name_ko": "기후동행카드 청년할인",
        "service_name_en": "Climate Card youth discount",
        "purpose": "AgeVerification",
        "data_items": [["resident_registration", "birth_date"]],
        "values_shared": False,
        "retention_days": 0,
        "subject": citizen_of(request_id),
        "holder_keys": ["holder-key:" + b64url_encode(digest)],
        "evidence_sha256": digest.hex(),
        "notice_sha256": hashlib.sha256(b"the request object shown").hexdigest(),
        "notice_version": "2026.1",
    }


def citizen_of(request_id: str) -> str:
    return "citizen-" + request_id


@dataclass
class Client:
    """What the verifier and the citizens were told, and what they set out to do."""

    started: set[str] = field(default_factory=set)  # grants sent
    granted: dict[str, str] = field(default_factory=dict)  # answered: request id -> record id
    to_withdraw: set[str] = field(default_factory=set)  # request ids whose consent the citizen withdraws
    withdrawn: set[str] = field(default_factory=set)  # withdrawals answered 200
    lock: threading.Lock = field(default_factory=threading.Lock)


def _headers(platform, subject: str, *scopes: str) -> dict[str, str]:
    # Tokens as the platform's parties obtain them (the verifier gateway mints its own the same way).
    return {"Authorization": f"Bearer {platform.tokens.issue(subject, 'seoul-wallet-app', list(scopes))}"}


def _grant(http: httpx.Client, base: str, platform, client: Client, request_id: str) -> httpx.Response:
    with client.lock:
        client.started.add(request_id)
    response = http.post(
        f"{base}/consent/presentation-grants",
        json=grant_body(request_id),
        headers=_headers(platform, VERIFIER, "consent:record"),
    )
    if response.status_code == 200:
        with client.lock:
            client.granted[request_id] = response.json()["record_id"]
    return response


def _withdraw(http: httpx.Client, base: str, platform, client: Client, request_id: str) -> httpx.Response:
    record = client.granted[request_id]
    headers = _headers(platform, f"citizen:{citizen_of(request_id)}", "consent:read", "consent:withdraw")
    response = http.post(f"{base}/consent/me/{record}/withdraw", headers=headers)
    if response.status_code == 200:
        with client.lock:
            client.withdrawn.add(request_id)
    return response


def _load(base: str, platform, client: Client, round_number: int, thread: int) -> None:
    with httpx.Client(timeout=60) as http:
        for n in range(PER_THREAD):
            request_id = f"r{round_number}t{thread}n{n:03d}"
            if n % 2 == 0:
                with client.lock:
                    client.to_withdraw.add(request_id)
            response = _grant(http, base, platform, client, request_id)
            assert response.status_code == 200, response.text
            if request_id in client.to_withdraw:
                response = _withdraw(http, base, platform, client, request_id)
                assert response.status_code == 200, response.text


def _assert_nothing_lost_or_doubled(engine, client: Client, *, complete: bool) -> None:
    links = links_by_request(engine, VERIFIER)
    events = events_by_record(engine, VERIFIER)
    by_record = {record: request for request, record in links.items()}
    assert set(events) == set(by_record), "a consent record without its presentation link, or the reverse"
    for record, counted in events.items():
        request_id = by_record[record]
        withdrawn = counted["withdrawn"]
        # The grant is one transaction: requested, granted and used all, or none of them.
        granting = counted - Counter(withdrawn=withdrawn)
        assert granting == {"requested": 1, "granted": 1, "used": 1}, (request_id, counted)
        assert withdrawn <= 1 and (withdrawn == 0 or request_id in client.to_withdraw), (request_id, withdrawn)
        if complete:
            assert withdrawn == (request_id in client.to_withdraw), request_id
    for request_id, record in client.granted.items():
        assert links.get(request_id) == record, f"the answered grant {request_id} was lost"
    for request_id in client.withdrawn:
        assert events[client.granted[request_id]]["withdrawn"] == 1, f"the answered withdrawal {request_id} was lost"
    assert set(links) <= client.started
    if complete:
        assert set(links) == client.started
    assert_log_holds_every_event(engine)


def test_sigkill_during_concurrent_grants_and_withdrawals(crash_server, crash_platform, tmp_path) -> None:
    base, engine = crash_server.base_url, crash_platform.engine
    state = tmp_path / "auditor.json"
    audit_ledger(base, state)  # pins the ledger's keys and its checkpoint before any crash
    client = Client()
    for round_number, delay in enumerate(CrashPoints("consent appends", 0.3, 2.0)):
        load = [partial(_load, base, crash_platform, client, round_number, thread) for thread in range(THREADS)]
        failures = run_while_killing(load, delay, crash_server.kill)
        assert not failures, failures
        crash_server.start()
        unanswered = client.started - set(client.granted)
        if unanswered:  # a grant was under way when the server died
            LANDED["consent appends"] = LANDED.get("consent appends", 0) + 1
        assert audit_ledger(base, state) > 0
        _assert_nothing_lost_or_doubled(engine, client, complete=False)

        # Each party retries what it was never answered: the same grant, the same withdrawal.
        with httpx.Client(timeout=60) as http:
            for request_id in sorted(unanswered):
                retried = _grant(http, base, crash_platform, client, request_id)
                assert retried.status_code == 200, retried.text
            for request_id in sorted(client.to_withdraw & set(client.granted) - client.withdrawn):
                retried = _withdraw(http, base, crash_platform, client, request_id)
                # 409: the withdrawal was committed, only its answer was lost.
                assert retried.status_code in (200, 409), retried.text
                if retried.status_code == 409:
                    assert retried.json()["state"] == "withdrawn", retried.text
                    client.withdrawn.add(request_id)
        client.to_withdraw &= client.started
        _assert_nothing_lost_or_doubled(engine, client, complete=True)
        audit_ledger(base, state)
