"""Who may do what in the consoles: the party is always the officer's own (no form or URL can name
another), a citizen's account is refused, an officer of one kind of party is sent to her own
console, every form needs its CSRF token, and the pages speak Korean first and English on request."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests.auth.conftest import MINJI
from tests.conftest import bearer_for
from tests.consoles.conftest import MOIS_OFFICER, RESIDENT, SSIS_OFFICER, YOUTH_OFFICER, sign_in, submit

INCOME = {
    "claim.income_basis": "recognized_income",
    "claim.household_scope": "own",
    "claim.household_size": "1",
    "claim.income_pct_median": "90",
    "claim.median_year": "2026",
    "claim.assessed_month": "2026-10",
}


def issued_offer(client, platform, agency: str, type_id: str, claims: dict) -> str:
    headers = bearer_for(client, platform, f"agency:{agency}", ["credentials:offer"])
    body = {"subject": MINJI, "credential_type": type_id, "claims": claims}
    created = client.post(f"/issuers/{agency}/offers", json=body, headers=headers)
    assert created.status_code == 201, created.text
    return created.json()["offer_id"]


def test_an_officer_of_one_agency_cannot_act_for_another(client, platform, officer) -> None:
    mois = officer(MOIS_OFFICER)
    claims = {k.removeprefix("claim."): int(v) if v.isdigit() else v for k, v in INCOME.items()}
    ssis_offer = issued_offer(client, platform, "ssis", "household_income", claims)
    # Another agency's credential is not found, not shown, not revocable.
    assert mois.get(f"/consoles/agency/credentials/{ssis_offer}").status_code == 404
    assert mois.get(f"/consoles/agency/credentials/{ssis_offer}/revoke").status_code == 404
    token = re.search(r'name="csrftoken" value="([^"]+)"', mois.get("/consoles/agency").text).group(1)
    refused = mois.post(f"/consoles/agency/credentials/{ssis_offer}/revoke", data={"csrftoken": token})
    assert refused.status_code == 404
    ssis = bearer_for(client, platform, "agency:ssis", ["credentials:offer"])
    assert client.get(f"/issuers/ssis/offers/{ssis_offer}", headers=ssis).json()["state"] == "offered"
    # Only her own agency's credential types are offered; another's, or a slug in the form, changes nothing.
    form = mois.get("/consoles/agency/issue").text
    assert "household_income" not in form
    other = mois.get("/consoles/agency/issue", params={"type": "household_income"})
    assert other.status_code == 200 and 'name="type" value="household_income"' not in other.text
    page = mois.get("/consoles/agency/issue").text
    forced = submit(mois, page, "/consoles/agency/issue", type="household_income", subject=MINJI, **INCOME)
    assert forced.status_code == 200 and "기관이 발급하는 증명서" not in forced.text  # the type choice again
    assert "claim-income_basis" not in forced.text
    extra = submit(
        mois, page, "/consoles/agency/issue", subject=MINJI, pin="none", agency="ssis", slug="ssis", **RESIDENT
    )
    assert extra.status_code == 200, extra.text
    (offer_id,) = set(re.findall(r'href="/consoles/agency/credentials/([^"/]+)"', extra.text))
    mois_token = bearer_for(client, platform, "agency:mois", ["credentials:offer"])
    assert client.get(f"/issuers/mois/offers/{offer_id}", headers=mois_token).status_code == 200
    assert client.get(f"/issuers/ssis/offers/{offer_id}", headers=ssis).status_code == 404
    # Her colleague at the other agency sees none of it.
    ssis_officer = officer(SSIS_OFFICER)
    assert offer_id not in ssis_officer.get("/consoles/agency").text
    assert ssis_officer.get(f"/consoles/agency/credentials/{offer_id}").status_code == 404
    assert "한국사회보장정보원" in ssis_officer.get("/consoles/agency").text


def test_a_citizen_cannot_use_the_consoles(app) -> None:
    with TestClient(app) as citizen:
        sign_in(citizen, MINJI)
        for path in ("/consoles", "/consoles/agency", "/consoles/agency/issue", "/consoles/service"):
            refused = citizen.get(path)
            assert refused.status_code == 403, path
            assert "담당자 계정이 아닙니다" in refused.text and 'lang="ko"' in refused.text
        token = re.search(r'name="csrftoken" value="([^"]+)"', refused.text).group(1)
        posted = citizen.post("/consoles/agency/issue", data={"csrftoken": token, "subject": MINJI})
        assert posted.status_code == 403
        # Signing out works from the refusal page.
        out = citizen.post("/consoles/auth/logout", data={"csrftoken": token}, follow_redirects=False)
        assert out.status_code == 303 and "/idp/logout" in out.headers["location"]
        assert citizen.get("/consoles/agency", follow_redirects=False).status_code == 303


def test_an_officer_is_sent_to_her_own_console(officer) -> None:
    youth = officer(YOUTH_OFFICER)
    assert youth.get("/consoles", follow_redirects=False).headers["location"] == "/consoles/service"
    wrong = youth.get("/consoles/agency/issue")
    assert wrong.status_code == 403 and 'href="/consoles/service"' in wrong.text
    mois = officer(MOIS_OFFICER)
    assert mois.get("/consoles", follow_redirects=False).headers["location"] == "/consoles/agency"
    assert mois.get("/consoles/service").status_code == 403


def test_signed_out_she_signs_in_first_and_comes_back(app) -> None:
    with TestClient(app) as browser:
        first = browser.get("/consoles/agency/credentials?offer_id=abc", follow_redirects=False)
        assert first.status_code == 303 and first.headers["location"].startswith("/consoles/auth/login?return_to=")
        landing = browser.get("/consoles")
        assert landing.status_code == 200 and 'href="/consoles/auth/login"' in landing.text
        # An error link does not sign anyone in or out; an open redirect is not followed.
        assert (
            browser.get("/consoles/auth/callback?error=access_denied", follow_redirects=False).headers["location"]
            == "/consoles?signin=failed"
        )
        away = browser.get("/consoles/auth/login?return_to=https://evil.example/", follow_redirects=False)
        assert away.status_code in (302, 303)


POSTS = [
    "/consoles/language",
    "/consoles/auth/logout",
    "/consoles/agency/issue",
    "/consoles/agency/cohort",
    "/consoles/agency/credentials/someoffer/revoke",
    "/consoles/service/checks",
]


@pytest.mark.parametrize("path", POSTS)
def test_every_post_without_its_csrf_token_is_refused(officer, path) -> None:
    mois = officer(MOIS_OFFICER)
    refused = mois.post(path, data={"lang": "en", "subject": MINJI, "rows": "{}"}, follow_redirects=False)
    assert refused.status_code == 403 and "CSRF" in refused.text
    wrong = mois.post(path, data={"csrftoken": "forged", "lang": "en"}, follow_redirects=False)
    assert wrong.status_code == 403


def test_the_pages_in_korean_and_in_english(officer) -> None:
    mois = officer(MOIS_OFFICER)
    page = mois.get("/consoles/agency/issue")
    assert 'lang="ko"' in page.text and "<h1>증명서 발급: 주민등록 정보</h1>" in page.text
    switched = submit(mois, page.text, "/consoles/language", lang="en")
    assert switched.status_code == 303 and switched.headers["location"] == "/consoles/agency/issue"
    english = mois.get("/consoles/agency/issue")
    assert 'lang="en"' in english.text and "<h1>Issue a credential: Resident registration</h1>" in english.text
    assert "Date of birth" in english.text and "Korean national" in english.text
    assert 'value="ko" lang="ko">한국어</button>' in english.text
    refused = submit(mois, english.text, "/consoles/agency/issue", subject="", pin="none", **RESIDENT)
    assert "<title>Error: " in refused.text and "Enter the citizen&#39;s platform ID" in refused.text
    # The language is the consoles' own choice: the citizen's wallet in the same browser is unaffected.
    assert 'lang="ko"' in mois.get("/wallet").text
