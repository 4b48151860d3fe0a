"""The citizen's inbox and the background status re-check, over real HTTP through the ASGI app.

New credentials are announced; a revocation or suspension by the agency (over its own API, as its
backend would) reaches the inbox after one `refresh_due` round once the list's ttl has passed, and
the credential's status in the wallet follows; each status list is fetched once per round whatever
the number of credentials (and citizens) it holds, never before its ttl. The clock is driven, never
slept on. Citizen B never sees citizen A's items."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest

from issuers.status_lists import STATUS_TTL
from outbound.status_lists import MIN_TTL
from tests.auth.conftest import JUNHO, MINJI
from tests.conftest import bearer_for
from tests.verifiers.conftest import AGENCY_OF, youth_claims
from tests.wallet.hosts import Hosts
from wallet.inbox import Inbox
from wallet.status_refresh import StatusRefresher, run_status_refresher


class Agencies:
    """Offers credentials to citizens through the agencies' API and changes their status there."""

    def __init__(self, client, platform) -> None:
        self.client, self.platform = client, platform
        self.offer_ids: dict[tuple[str, str], str] = {}  # (citizen, type) -> offer id
        self._headers: dict[str, dict[str, str]] = {}

    def headers(self, agency: str) -> dict[str, str]:
        if agency not in self._headers:
            scopes = ["credentials:offer", "credentials:revoke"]
            self._headers[agency] = bearer_for(self.client, self.platform, f"agency:{agency}", scopes)
        return self._headers[agency]

    def give(self, citizen_id: str, headers: dict[str, str], claims_by_type: dict[str, dict]) -> dict[str, dict]:
        """Offer each credential and accept it in the citizen's wallet; returns them by type."""
        stored = {}
        for type_id, claims in claims_by_type.items():
            agency = AGENCY_OF[type_id]
            body = {"subject": citizen_id, "credential_type": type_id, "claims": claims}
            offer = self.client.post(f"/issuers/{agency}/offers", json=body, headers=self.headers(agency)).json()
            self.offer_ids[(citizen_id, type_id)] = offer["offer_id"]
            received = self.client.post("/wallet/api/credentials", json={"offer": offer["offer_link"]}, headers=headers)
            assert received.status_code == 201, received.text
            (stored[type_id],) = received.json()["credentials"]
        return stored

    def set_status(self, citizen_id: str, type_id: str, action: str) -> None:
        agency = AGENCY_OF[type_id]
        offer_id = self.offer_ids[(citizen_id, type_id)]
        answer = self.client.post(f"/issuers/{agency}/credentials/{offer_id}/{action}", headers=self.headers(agency))
        assert answer.status_code in (200, 204), answer.text


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def agencies(client, platform) -> Agencies:
    return Agencies(client, platform)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def recorded(platform) -> Hosts:
    """The platform's outbound HTTP (the app itself), with every request recorded."""
    return Hosts({}, fallback=platform.http._transport)


@pytest.fixture
def refresher(client, platform, recorded, clock) -> StatusRefresher:
    wallet = client.app.state.wallet
    return StatusRefresher(wallet.vault, wallet.inbox, httpx.Client(transport=recorded), development=True, clock=clock)


def citizen(client, platform, citizen_id: str = MINJI) -> dict[str, str]:
    return bearer_for(client, platform, f"citizen:{citizen_id}", ["wallet"])


def inbox(client, headers) -> dict:
    answer = client.get("/wallet/api/inbox", headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


def of_kind(answer: dict, kind: str) -> list[dict]:
    return [i for i in answer["items"] if i["kind"] == kind]


def status_list_fetches(recorded: Hosts) -> list[str]:
    return [str(r.url) for r in recorded.requests if "/status-lists/" in r.url.path]


def statuses(client, headers) -> dict[str, str]:
    return {
        c["configuration_id"]: c["status"]
        for c in client.get("/wallet/api/credentials", headers=headers).json()["credentials"]
    }


def test_new_credentials_are_announced_and_read_one_by_one(client, platform, agencies) -> None:
    minji = citizen(client, platform)
    stored = agencies.give(MINJI, minji, youth_claims())
    answer = inbox(client, minji)
    received = of_kind(answer, "credential_received")
    assert {i["payload"]["credential_id"] for i in received} == {c["id"] for c in stored.values()}
    (residency,) = [i for i in received if i["payload"]["type"] == "resident_registration"]
    assert residency["payload"]["issuer"] == f"{platform.settings.public_url}/issuers/mois"
    assert residency["payload"]["issuer_name"]["ko"] and residency["payload"]["credential_name"]["en"]
    assert [i["id"] for i in answer["items"]] == sorted((i["id"] for i in answer["items"]), reverse=True)
    assert answer["unread"] == len(answer["items"]) and all(i["read_at"] is None for i in answer["items"])

    read = client.post(f"/wallet/api/inbox/{residency['id']}/read", headers=minji)
    assert read.status_code == 200 and read.json()["read_at"] is not None
    again = client.post(f"/wallet/api/inbox/{residency['id']}/read", headers=minji)
    assert again.json()["read_at"] == read.json()["read_at"]  # the first reading is kept
    assert inbox(client, minji)["unread"] == answer["unread"] - 1
    # Opening the inbox again announces nothing twice.
    assert len(of_kind(inbox(client, minji), "credential_received")) == 6


def test_services_that_became_eligible_are_announced_once(client, platform, agencies) -> None:
    minji = citizen(client, platform)
    agencies.give(MINJI, minji, youth_claims())
    eligible = client.app.state.wallet.services.eligible_ids(MINJI)
    announced = of_kind(inbox(client, minji), "service_eligible")
    assert {i["payload"]["service_id"] for i in announced} == eligible
    assert all(i["payload"]["name"].get("ko") for i in announced)
    assert len(of_kind(inbox(client, minji), "service_eligible")) == len(eligible)


def test_citizen_b_never_sees_or_reads_citizen_as_items(client, platform, agencies) -> None:
    minji, junho = citizen(client, platform), citizen(client, platform, JUNHO)
    agencies.give(MINJI, minji, {"resident_registration": youth_claims()["resident_registration"]})
    (item,) = of_kind(inbox(client, minji), "credential_received")
    assert inbox(client, junho) == {"items": [], "unread": 0}
    for item_id in (item["id"], "no-such-item"):
        refused = client.post(f"/wallet/api/inbox/{item_id}/read", headers=junho)
        assert refused.status_code == 404 and refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["reason"] == "inbox_item_not_found" and refused.json()["messages"]["ko"]
    (still,) = of_kind(inbox(client, minji), "credential_received")
    assert still["read_at"] is None
    assert client.post("/wallet/api/inbox/a%2Fb/read", headers=minji).status_code in (404, 422)


def test_a_revocation_reaches_the_inbox_after_one_round_once_the_ttl_has_passed(
    client, platform, agencies, refresher, recorded, clock
) -> None:
    minji = citizen(client, platform)
    stored = agencies.give(MINJI, minji, youth_claims())
    agencies.set_status(MINJI, "resident_registration", "revoke")
    assert refresher.refresh_due(100) == 0 and status_list_fetches(recorded) == []  # checked at receipt
    clock.advance(STATUS_TTL + 1)

    assert refresher.refresh_due(100) == 6
    (notice,) = of_kind(inbox(client, minji), "credential_revoked")
    assert notice["payload"]["credential_id"] == stored["resident_registration"]["id"]
    assert notice["payload"]["type"] == "resident_registration" and notice["payload"]["issuer_name"]["ko"]
    assert notice["payload"]["status"] == "revoked" and notice["payload"]["previous_status"] == "valid"
    assert statuses(client, minji)["resident_registration"] == "revoked"
    assert {s for t, s in statuses(client, minji).items() if t != "resident_registration"} == {"valid"}
    # Revoked is final: later rounds do not ask about it, and nothing is announced twice.
    clock.advance(STATUS_TTL + 1)
    assert refresher.refresh_due(100) == 5
    assert len(of_kind(inbox(client, minji), "credential_revoked")) == 1


def test_each_status_list_is_fetched_once_per_round_for_every_credential_and_citizen_it_holds(
    client, platform, agencies, refresher, recorded, clock
) -> None:
    minji, junho = citizen(client, platform), citizen(client, platform, JUNHO)
    agencies.give(MINJI, minji, youth_claims())
    agencies.give(JUNHO, junho, youth_claims())
    wallet = client.app.state.wallet
    lists = {c.status_uri for who in (MINJI, JUNHO) for c in wallet.vault.list(who)}
    assert 1 < len(lists) < 12  # several agencies; ssis holds three types of each citizen in one list
    clock.advance(STATUS_TTL + 1)
    assert refresher.refresh_due(100) == 12
    fetched = status_list_fetches(recorded)
    assert sorted(fetched) == sorted(lists)  # once each, and only whole lists (no index in the URL)
    # Within the ttl nothing is fetched again, however often a round runs.
    fetched_at = clock.now
    for later in (0, MIN_TTL, STATUS_TTL - 1):
        clock.now = fetched_at + later
        assert refresher.refresh_due(100) == 0
    assert len(status_list_fetches(recorded)) == len(lists)
    clock.now = fetched_at + STATUS_TTL  # the ttl has passed: each list once more
    assert refresher.refresh_due(100) == 12 and len(status_list_fetches(recorded)) == 2 * len(lists)


def test_a_suspension_shows_and_so_does_its_lifting(client, platform, agencies, refresher, clock) -> None:
    minji = citizen(client, platform)
    agencies.give(MINJI, minji, {"education_status": youth_claims()["education_status"]})
    agencies.set_status(MINJI, "education_status", "suspend")
    clock.advance(STATUS_TTL + 1)
    assert refresher.refresh_due(100) == 1
    assert statuses(client, minji) == {"education_status": "suspended"}
    (suspended,) = of_kind(inbox(client, minji), "credential_suspended")
    assert suspended["payload"]["previous_status"] == "valid"

    agencies.set_status(MINJI, "education_status", "reinstate")
    clock.advance(STATUS_TTL + 1)
    assert refresher.refresh_due(100) == 1
    assert statuses(client, minji) == {"education_status": "valid"}
    (lifted,) = of_kind(inbox(client, minji), "credential_valid_again")
    assert lifted["payload"]["previous_status"] == "suspended"
    # A second suspension is a new event, announced again.
    agencies.set_status(MINJI, "education_status", "suspend")
    clock.advance(STATUS_TTL + 1)
    refresher.refresh_due(100)
    assert len(of_kind(inbox(client, minji), "credential_suspended")) == 2


def test_a_list_that_cannot_be_fetched_changes_nothing_and_is_tried_again(
    client, platform, agencies, refresher, clock
) -> None:
    minji = citizen(client, platform)
    agencies.give(MINJI, minji, {"education_status": youth_claims()["education_status"]})
    agencies.set_status(MINJI, "education_status", "revoke")
    clock.advance(STATUS_TTL + 1)
    wallet = client.app.state.wallet
    offline = StatusRefresher(wallet.vault, wallet.inbox, httpx.Client(transport=Hosts({})), True, clock)
    assert offline.refresh_due(100) == 0  # the issuer is unreachable: no status is guessed
    assert statuses(client, minji) == {"education_status": "valid"} and not of_kind(
        inbox(client, minji), "credential_revoked"
    )
    assert refresher.refresh_due(100) == 1  # still due: the next round reads it
    assert statuses(client, minji) == {"education_status": "revoked"}


def test_derived_items_consents_expiring_and_services_are_announced_once_each(platform) -> None:
    eligible = {"seoul_youth_allowance"}
    consents = [
        {
            "id": "consent-1",
            "validity": {"end": "2027-01-30T00:00:00+00:00"},
            "service": {"id": "k_pass_youth", "name": {"ko": "K-패스", "en": "K-Pass"}},
            "data_items": [["resident_registration", "birth_date"]],
        }
    ]
    asked: list[int] = []

    def expiring(citizen_id: str, seconds: int) -> list[dict]:
        asked.append(seconds)
        return consents

    box = Inbox(platform.engine, eligible_now=lambda c: eligible, expiring=expiring)
    first = box.list(MINJI)
    assert asked == [30 * 86400]
    assert sorted(i.kind for i in first) == ["consent_expiring", "service_eligible"]
    (notice,) = [i for i in first if i.kind == "consent_expiring"]
    assert notice.payload["consent_id"] == "consent-1" and notice.payload["service"]["id"] == "k_pass_youth"
    assert "data_items" not in notice.payload
    assert len(box.list(MINJI)) == 2  # the same events: nothing new
    eligible.add("k_pass_youth")
    consents[0] = {**consents[0], "validity": {"end": "2027-03-01T00:00:00+00:00"}}  # re-granted: a new end
    assert len(box.list(MINJI)) == 4 and box.unread_count(MINJI) == 4
    assert box.erase(MINJI) == 4 and box.export(MINJI) == []


def test_a_failing_source_does_not_close_the_inbox(platform) -> None:
    def broken(citizen_id: str) -> set[str]:
        raise RuntimeError("evaluation unavailable")

    box = Inbox(platform.engine, eligible_now=broken, expiring=lambda c, s: [{"id": "no-end"}])
    assert box.add(MINJI, "credential_received", "credential_received:x", {"credential_id": "x"}) is True
    assert box.add(MINJI, "credential_received", "credential_received:x", {"credential_id": "x"}) is False
    assert [i.kind for i in box.list(MINJI)] == ["credential_received"]
    with pytest.raises(ValueError):
        box.add(MINJI, "no_such_kind", "k", {})


def test_the_background_loop_survives_errors_and_is_registered_by_setting(platform) -> None:
    from seoul_wallet.app import create_app

    calls: list[int] = []

    class Flaky:
        def refresh_due(self, limit: int) -> int:
            calls.append(limit)
            if len(calls) == 1:
                raise RuntimeError("database unavailable")
            return 0

    async def run() -> None:
        task = asyncio.create_task(run_status_refresher(Flaky(), interval=0.01, batch=7))  # type: ignore[arg-type]
        while len(calls) < 3:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    # In a thread of its own: the browser tests' Playwright keeps an event loop running in this one.
    failures: list[BaseException] = []

    def in_thread() -> None:
        try:
            asyncio.run(asyncio.wait_for(run(), timeout=10))
        except BaseException as exc:  # re-raised below, in the test's thread
            failures.append(exc)

    worker = threading.Thread(target=in_thread)
    worker.start()
    worker.join(timeout=20)
    assert not worker.is_alive() and not failures, failures
    assert calls[:3] == [7, 7, 7]
    # Off in the tests' settings (0); any positive interval registers the worker with the app.
    without = len(create_app(platform=platform).state.background_workers)
    platform.settings.wallet_status_refresh_seconds = 60
    assert len(create_app(platform=platform).state.background_workers) == without + 1


def test_lists_that_keep_failing_never_starve_the_others(client, platform, agencies, clock) -> None:
    """Review finding: credentials on failing lists stayed first in every batch (least recently
    checked first), so with a batch as large as their number nobody else's revocation was read."""
    minji, junho = citizen(client, platform), citizen(client, platform, JUNHO)
    agencies.give(MINJI, minji, {"education_status": youth_claims()["education_status"]})
    agencies.give(JUNHO, junho, {"resident_registration": youth_claims()["resident_registration"]})
    agencies.set_status(JUNHO, "resident_registration", "revoke")
    wallet = client.app.state.wallet
    (failing,) = [c.status_uri for c in wallet.vault.list(MINJI)]

    class OneListDown(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if str(request.url).split("?")[0] == failing:
                raise httpx.ConnectError("the issuer's list is down", request=request)
            return platform.http._transport.handle_request(request)

    refresher = StatusRefresher(wallet.vault, wallet.inbox, httpx.Client(transport=OneListDown()), True, clock)
    clock.advance(STATUS_TTL + 1)
    for _ in range(3):  # a batch of one: Minji's failing credential must not take every round
        refresher.refresh_due(1)
    assert statuses(client, junho) == {"resident_registration": "revoked"}
    assert statuses(client, minji) == {"education_status": "valid"}  # nothing guessed for the failing list
