"""SIGKILL during verifications: concurrent direct_post presentations to one verifier (issue 14,
net 5 (c); defect 8's "a consent's `used` event and the decision are one outcome").

After each restart, for every check: answered with its decision and a consent used once, or still
pending with no use logged (both or neither); an answer the wallet received is never lost. Each
wallet then posts its response again, and every check ends answered exactly once."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from functools import partial

import httpx
from sqlalchemy import bindparam, text

from tests.crash.conftest import LANDED, RECOVERY, CrashPoints
from tests.crash.support import (
    assert_log_holds_every_event,
    audit_ledger,
    bearer,
    events_by_record,
    links_by_request,
    run_while_killing,
    wait_until,
)
from tests.issuers.conftest import RESIDENT
from tests.issuers.spec_wallet import receive
from tests.verifiers.spec_vp_wallet import HeldCredential, fetch_request, present, select

VERIFIER = "seoul-transport"
SERVICE = "climate_card_youth"  # one credential (resident registration): the cheapest check to prepare
GROUP = 6  # presentations posted at once in each round


@dataclass
class Presentation:
    request_id: str
    response_uri: str
    form: dict[str, str]
    answer: httpx.Response | None = None


def _prepare(http: httpx.Client, base: str, engine, round_number: int) -> list[Presentation]:
    """GROUP citizens, each holding a credential issued over OpenID4VCI, with a check to answer."""
    agency = bearer(base, engine, "agency:mois", ["credentials:offer"])
    backend = bearer(base, engine, f"verifier:{VERIFIER}", ["presentations:request"])
    anchor = http.get(f"{base}/verifiers/rp-ca.pem").content
    prepared = []
    for n in range(GROUP):
        subject = f"citizen-v{round_number}-{n:03d}"
        offer = http.post(
            f"{base}/issuers/mois/offers",
            json={"subject": subject, "credential_type": "resident_registration", "claims": RESIDENT},
            headers=agency,
        )
        assert offer.status_code == 201, offer.text
        issued = receive(offer.json()["offer_link"], http)
        held = HeldCredential(issued.credential, issued.holder.private)
        created = http.post(f"{base}/verifiers/requests", json={"service_id": SERVICE}, headers=backend)
        assert created.status_code == 201, created.text
        request = fetch_request(created.json()["link"], http, anchor)
        chosen = select(request.claims["dcql_query"], [held])
        vp_token = {
            query_id: [present(h, names, aud=request.client_id, nonce=request.claims["nonce"])]
            for query_id, (h, names) in chosen.items()
        }
        form = {"vp_token": json.dumps(vp_token), "state": request.claims["state"]}
        prepared.append(Presentation(created.json()["request_id"], request.claims["response_uri"], form))
    return prepared


def _uses_logged(engine, prepared: list[Presentation]) -> int:
    with engine.connect() as connection:
        return connection.execute(
            text(
                "SELECT count(*) FROM consent_presentation_links l JOIN consent_events e ON e.record_id = l.record_id "
                "WHERE l.request_id IN :ids AND e.type = 'used'"
            ).bindparams(bindparam("ids", expanding=True)),
            {"ids": [p.request_id for p in prepared]},
        ).scalar()


def _moment(engine, prepared: list[Presentation], point: float):
    """When to kill: once `point * GROUP` of the consents are logged as used (the moment a decision
    and its use are furthest apart), or, below one, `point` seconds in (before any use)."""
    uses = int(point * GROUP)
    if uses == 0:
        return 0.05 + point
    return lambda: wait_until(lambda: _uses_logged(engine, prepared) >= uses)


def _post(presentation: Presentation) -> None:
    with httpx.Client(timeout=60) as http:
        presentation.answer = http.post(presentation.response_uri, data=presentation.form)


def _checks(engine, request_ids: list[str]) -> dict[str, tuple]:
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT id, status, decision IS NOT NULL, consent_record_id FROM presentation_requests WHERE id IN :ids"
            ).bindparams(bindparam("ids", expanding=True)),
            {"ids": request_ids},
        ).all()
    return {row[0]: tuple(row[1:]) for row in rows}


def _assert_both_or_neither(engine, prepared: list[Presentation], *, complete: bool) -> None:
    """`pending`: nothing logged. `answered`: the decision and one use. `accepting` (the verifier's
    record that it is asking the ledger, completed by a retry or its recovery): no decision yet, the
    use logged at most once. Never a decision without its use, nor a use twice."""
    checks = _checks(engine, [p.request_id for p in prepared])
    links = links_by_request(engine, f"verifier:{VERIFIER}")
    events = events_by_record(engine, f"verifier:{VERIFIER}")
    for presentation in prepared:
        status, decided, record = checks[presentation.request_id]
        linked = links.get(presentation.request_id)
        counted = dict(events[linked]) if linked is not None else {}
        if presentation.answer is not None and presentation.answer.status_code == 200:
            assert status == "answered", f"{presentation.request_id}: the wallet was answered, the check was lost"
        assert status in ("pending", "accepting", "answered"), f"{presentation.request_id} is {status}"
        if status == "answered":
            assert decided and record == linked, presentation.request_id
            assert counted == {"requested": 1, "granted": 1, "used": 1}, counted
        elif status == "pending":
            assert not counted.get("used"), f"{presentation.request_id}: the consent was used but no decision made"
        else:
            assert not decided and counted.get("used", 0) <= 1, (presentation.request_id, counted)
        if complete:
            assert status == "answered", presentation.request_id
    assert_log_holds_every_event(engine)


def _retry_until_answered(engine, prepared: list[Presentation], within: float = 90) -> None:
    """Each wallet without an answer posts its response again, until every check is answered; a
    check being completed by the verifier's own recovery answers "already answered" meanwhile."""
    deadline = time.monotonic() + within
    with httpx.Client(timeout=60) as http:
        while True:
            checks = _checks(engine, [p.request_id for p in prepared])
            waiting = [p for p in prepared if checks[p.request_id][0] != "answered"]
            if not waiting or time.monotonic() > deadline:
                return
            for presentation in waiting:
                again = http.post(presentation.response_uri, data=presentation.form)
                busy = again.status_code in (400, 503) and (
                    "request_already_answered" in again.text or "temporarily_unavailable" in again.text
                )
                assert again.status_code == 200 or busy, again.text
                if again.status_code == 200:
                    presentation.answer = again
            time.sleep(0.5)


def test_sigkill_during_concurrent_presentations(crash_server, crash_platform, tmp_path) -> None:
    base, engine = crash_server.base_url, crash_platform.engine
    state = tmp_path / "auditor.json"
    audit_ledger(base, state)
    answered_before: dict[str, str] = {}
    for round_number, point in enumerate(CrashPoints("verifications", 0.0, 0.99)):
        with httpx.Client(timeout=60) as http:
            prepared = _prepare(http, base, engine, round_number)
        moment = _moment(engine, prepared, point)
        failures = run_while_killing([partial(_post, p) for p in prepared], moment, crash_server.kill)
        assert not failures, failures
        crash_server.start()
        if any(p.answer is None for p in prepared):
            LANDED["verifications"] = LANDED.get("verifications", 0) + 1
        audit_ledger(base, state)
        _assert_both_or_neither(engine, prepared, complete=False)

        started = time.monotonic()
        _retry_until_answered(engine, prepared)
        RECOVERY.setdefault("verifications", []).append(time.monotonic() - started)
        _assert_both_or_neither(engine, prepared, complete=True)
        audit_ledger(base, state)
        # The backend reads one decision per check, naming the consent the ledger holds.
        backend = bearer(base, engine, f"verifier:{VERIFIER}", ["presentations:request"])
        links = links_by_request(engine, f"verifier:{VERIFIER}")
        with httpx.Client(timeout=60) as http:
            for presentation in prepared:
                result = http.get(f"{base}/verifiers/requests/{presentation.request_id}", headers=backend).json()
                assert (result["status"], result["eligible"]) == ("answered", True), result
                assert result["consent_record_id"] == links[presentation.request_id]
                answered_before[presentation.request_id] = result["decision"]
    # Earlier rounds' decisions survived the later crashes unchanged.
    checks = _checks(engine, list(answered_before))
    assert all(checks[request_id][:2] == ("answered", True) for request_id in answered_before)
