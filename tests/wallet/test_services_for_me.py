"""Services for me, over the catalog's real rules and credentials really issued by our agencies:
the wallet evaluates every service locally (nothing leaves it while it does), and "apply" opens a
check bound to the citizen, which her answer completes. Real HTTP through the ASGI app."""

from __future__ import annotations

import socket

import httpx
import pytest

from keys import jws
from tests.auth.conftest import JUNHO, MINJI
from tests.conftest import bearer_for
from tests.verifiers.conftest import birth_date_for_age, youth_claims
from tests.wallet.test_wallet_app import offer_links, receive_all

ALLOWANCE = "seoul_youth_allowance"


class Recording(httpx.BaseTransport):
    """The platform's outbound HTTP, recorded on its way through."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.inner.handle_request(request)


def citizen_with(client, platform, citizen: str, claims: dict[str, dict]) -> dict[str, str]:
    headers = bearer_for(client, platform, f"citizen:{citizen}", ["wallet"])
    receive_all(client, headers, offer_links(client, platform, citizen, claims))
    return headers


def standing_of(client, headers, service_id: str = ALLOWANCE) -> dict:
    listed = client.get("/wallet/api/services", headers=headers)
    assert listed.status_code == 200, listed.text
    (service,) = [s for s in listed.json()["services"] if s["service_id"] == service_id]
    return service


def test_a_citizen_who_qualifies_sees_the_youth_allowance_as_eligible_and_nothing_leaves_the_wallet(
    client, platform, monkeypatch
) -> None:
    minji = citizen_with(client, platform, MINJI, youth_claims())
    recording = Recording(platform.http._transport)
    monkeypatch.setattr(platform.http, "_transport", recording)
    lookups: list[object] = []
    real_getaddrinfo = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: lookups.append(a) or real_getaddrinfo(*a, **k))

    listed = client.get("/wallet/api/services", headers=minji)

    assert recording.requests == [] and lookups == [], "evaluation sent something out of the wallet"
    body = listed.json()
    assert body["credentials_considered"] == 6
    (allowance,) = [s for s in body["services"] if s["service_id"] == ALLOWANCE]
    assert allowance["standing"] == "eligible" and allowance["reasons"] == [] and allowance["missing"] == []
    assert allowance["name"]["ko"] == "서울 청년수당"
    standings = [s["standing"] for s in body["services"]]
    assert standings == sorted(standings, key=["eligible", "close", "not_eligible"].index), "eligible first"
    assert {s["standing"] for s in body["services"]} <= {"eligible", "close", "not_eligible"}
    assert len(body["services"]) == len({s["service_id"] for s in body["services"]}) >= 8


def test_a_year_too_old_is_not_eligible_because_of_age(client, platform) -> None:
    junho = citizen_with(
        client, platform, JUNHO, youth_claims(resident_registration={"birth_date": birth_date_for_age(35)})
    )
    service = standing_of(client, junho)
    assert service["standing"] == "not_eligible"
    assert [(r["credential"], r["claim"]) for r in service["reasons"]] == [("resident_registration", "birth_date")]
    assert "만 35세" in service["reasons"][0]["text"]["ko"] and "35 years old" in service["reasons"][0]["text"]["en"]


def test_above_the_income_limit_is_not_eligible_because_of_income(client, platform) -> None:
    minji = citizen_with(client, platform, MINJI, youth_claims(household_income={"income_pct_median": 151}))
    service = standing_of(client, minji)
    assert service["standing"] == "not_eligible"
    assert [(r["credential"], r["claim"]) for r in service["reasons"]] == [("household_income", "income_pct_median")]


def test_without_a_residency_credential_it_is_close_naming_the_credential_and_its_agency(client, platform) -> None:
    minji = citizen_with(client, platform, MINJI, youth_claims(resident_registration=None))
    service = standing_of(client, minji)
    assert service["standing"] == "close"
    (missing,) = service["missing"]
    assert missing["type_id"] == "resident_registration" and missing["agency"] == "mois"
    assert missing["issuer"] == {"ko": "행정안전부", "en": "Ministry of the Interior and Safety"}
    assert "행정안전부" in missing["how_to_get"]["ko"] and missing["held_but"] is None


def test_a_revoked_credential_counts_for_nothing_and_is_named(client, platform) -> None:
    minji = citizen_with(client, platform, MINJI, youth_claims())
    (residency,) = [
        c
        for c in client.get("/wallet/api/credentials", headers=minji).json()["credentials"]
        if c["configuration_id"] == "resident_registration"
    ]
    platform_services = client.app.state.wallet
    platform_services.vault.set_status(residency["id"], "revoked")
    service = standing_of(client, minji)
    assert service["standing"] == "close"
    assert [(m["type_id"], m["held_but"]) for m in service["missing"]] == [("resident_registration", "revoked")]


def test_apply_opens_a_check_bound_to_the_citizen_and_her_answer_completes_it(client, platform) -> None:
    minji = citizen_with(client, platform, MINJI, youth_claims())
    applied = client.post(f"/wallet/api/services/{ALLOWANCE}/apply", headers=minji)
    assert applied.status_code == 200, applied.text
    application = applied.json()
    assert application["verifier"] == "seoul-youth"
    view = application["sharing_request"]
    assert view["service"]["id"] == ALLOWANCE and view["can_share"] is True
    body = {"request": application["link"], "notice_sha256": view["notice_sha256"]}
    outcome = client.post("/wallet/api/sharing-requests/approve", json=body, headers=minji)
    assert outcome.status_code == 200 and outcome.json()["accepted"] is True, outcome.text

    backend = bearer_for(client, platform, "verifier:seoul-youth", ["presentations:request"])
    result = client.get(f"/verifiers/requests/{application['request_id']}", headers=backend).json()
    assert result["status"] == "answered" and result["eligible"] is True
    minji_there = platform.subjects.for_verifier("seoul-youth", MINJI)
    assert result["subject"] == minji_there
    decision = jws.verify(result["decision"], platform.keyring.resolver("verifiers")).payload
    assert decision["subject"] == minji_there and decision["applicant_bound"] is True


def test_a_check_minji_applied_for_cannot_be_answered_by_junho(client, platform) -> None:
    minji = citizen_with(client, platform, MINJI, youth_claims())
    junho = citizen_with(client, platform, JUNHO, youth_claims())
    application = client.post(f"/wallet/api/services/{ALLOWANCE}/apply", headers=minji).json()
    view = client.post("/wallet/api/sharing-requests", json={"request": application["link"]}, headers=junho).json()
    body = {"request": application["link"], "notice_sha256": view["notice_sha256"]}
    answer = client.post("/wallet/api/sharing-requests/approve", json=body, headers=junho).json()
    assert answer["accepted"] is False and answer["error"]
    backend = bearer_for(client, platform, "verifier:seoul-youth", ["presentations:request"])
    result = client.get(f"/verifiers/requests/{application['request_id']}", headers=backend).json()
    assert result["status"] == "pending" and result.get("eligible") is None


def minted(platform, subject: str, scopes: list[str]) -> dict[str, str]:
    """A token as the wallet mints one for applying (scope services:apply is never on offer at the
    token endpoint: no OAuth client holds it)."""
    return {"Authorization": f"Bearer {platform.tokens.issue(subject, 'seoul-wallet-app', scopes, ttl=60)}"}


def test_a_minted_apply_token_for_anyone_but_a_citizen_is_refused(client, platform) -> None:
    answer = client.post(
        f"/verifiers/services/{ALLOWANCE}/apply", headers=minted(platform, "agency:mois", ["services:apply"])
    )
    assert answer.status_code == 403
    ok = client.post(
        f"/verifiers/services/{ALLOWANCE}/apply", headers=minted(platform, f"citizen:{MINJI}", ["services:apply"])
    )
    assert ok.status_code == 201 and ok.json()["verifier"] == "seoul-youth"


@pytest.mark.parametrize(
    ("subject", "scopes", "status"),
    [
        ("agency:mois", ["wallet"], 403),
        ("verifier:seoul-youth", ["wallet"], 403),
        (f"citizen:{MINJI}", ["consent:read"], 403),
        # Her sign-in token is not enough: only the one the wallet mints for applying (scope services:apply).
        (f"citizen:{MINJI}", ["wallet"], 403),
    ],
)
def test_only_a_citizens_own_wallet_token_applies(client, platform, subject, scopes, status) -> None:
    headers = bearer_for(client, platform, subject, scopes)
    answer = client.post(f"/verifiers/services/{ALLOWANCE}/apply", headers=headers)
    assert answer.status_code == status
    assert client.post(f"/verifiers/services/{ALLOWANCE}/apply").status_code == 401


def test_applying_for_an_unknown_service_is_a_clear_404(client, platform) -> None:
    minji = bearer_for(client, platform, f"citizen:{MINJI}", ["wallet"])
    applying = minted(platform, f"citizen:{MINJI}", ["services:apply"])
    for path, headers in (
        ("/wallet/api/services/no_such_service/apply", minji),
        ("/verifiers/services/no_such_service/apply", applying),
    ):
        answer = client.post(path, headers=headers)
        assert answer.status_code == 404 and answer.headers["content-type"].startswith("application/problem+json")
    assert client.post("/wallet/api/services/Bad-Id!/apply", headers=minji).status_code == 422
