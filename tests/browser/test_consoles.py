"""The officers' consoles in a real browser, against the live server: an agency officer issues one
credential (the citizen's wallet receives it), uploads a small cohort and watches it to completion,
and revokes; a service officer opens a check for an applicant and sees its decision. Every page
on the way passes axe-core (no serious or critical violation) at phone and desktop sizes."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

from playwright.sync_api import Page

from tests.browser.helpers import (
    DEMO_PASSWORD,
    DESKTOP,
    MINJI,
    PHONE,
    SEOYEON,
    YOUTH_VERIFIER,
    axe_violations,
    check_page,
    follow,
    main_text,
)

GOOD = {"birth_date": "1999-05-01", "nationality_status": "citizen", "resident_sido": "11", "as_of": "2026-11-01"}
COHORT = "\n".join(
    [
        json.dumps({"subject": "citizen-junho-0002", "claims": GOOD}),
        json.dumps({"subject": "citizen-dohyun-0004", "claims": {**GOOD, "birth_date": "1999-02-30"}}),
        json.dumps({"subject": "citizen-jiwoo-0005", "claims": GOOD}),
    ]
)


def sign_in(page: Page, officer: str, lands_on: str) -> None:
    page.goto("/consoles")
    follow(page, 'a.button[href="/consoles/auth/login"]')
    page.wait_for_url(re.compile(r"/idp/"))
    page.fill("#platform_id", officer)
    page.fill("#password", DEMO_PASSWORD)
    page.click("form:has(#password) button[type=submit]")
    page.wait_for_url(lambda url: urlsplit(url).path == lands_on)
    check_page(page, "ko")


def accessible(page: Page) -> None:
    """No serious or critical axe-core violation at phone and desktop sizes, one h1, no stack trace."""
    check_page(page)
    for name, size in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(size)
        serious, _ = axe_violations(page)
        assert not serious, f"{urlsplit(page.url).path} at {name} size: {serious}"
    page.set_viewport_size(PHONE)


def test_an_agency_officer_issues_uploads_a_cohort_and_revokes(site, new_context) -> None:
    page = new_context().new_page()
    sign_in(page, "officer-mois-0001", "/consoles/agency")
    accessible(page)

    follow(page, 'nav a[href="/consoles/agency/issue"]')
    accessible(page)
    page.fill("#subject", SEOYEON)
    page.fill("#claim-birth_date", "2001-13-45")  # not a date (the browser keeps what it cannot parse empty)
    page.select_option("#claim-nationality_status", "citizen")
    page.select_option("#claim-resident_sido", "11")
    page.fill("#claim-as_of", "2026-11-01")
    follow(page, "form[action='/consoles/agency/issue'] button[type=submit]")
    assert page.locator(".error-summary").count() == 1 and page.title().startswith("오류: ")
    accessible(page)
    page.fill("#claim-birth_date", "2001-03-04")
    page.check("#pin-generated")
    follow(page, "form[action='/consoles/agency/issue'] button[type=submit]")
    assert page.locator(".qr svg").count() == 1
    accessible(page)
    link = page.locator("dd code.identifier").inner_text()
    pin = page.locator("p.identifier strong").inner_text()
    offer_path = page.locator("a[href^='/consoles/agency/credentials/']").get_attribute("href")
    # The citizen's wallet receives it from that link (through its JSON API here).
    body = {"offer": link, "tx_code": pin}
    received = site.http.post("/wallet/api/credentials", json=body, headers=site.wallet_api(SEOYEON))
    assert received.status_code == 201, received.text

    follow(page, 'nav a[href="/consoles/agency/cohort"]')
    accessible(page)
    page.fill("#rows", COHORT)
    follow(page, "form[action='/consoles/agency/cohort'] button[type=submit]")
    # The page reloads itself (no script) until the issuer has every row.
    page.locator(".notice--success").wait_for()
    text = main_text(page)
    assert re.search(r"만든 발급 제안\s+2", text) and re.search(r"거부된 줄\s+1", text), text
    assert page.locator("meta[http-equiv=refresh]").count() == 0
    accessible(page)

    page.goto(offer_path)
    assert page.locator(".tag--valid").count() == 1
    accessible(page)
    follow(page, f'a[href="{offer_path}/revoke"]')
    accessible(page)
    follow(page, f"form[action='{offer_path}/revoke'] button[type=submit]")
    assert page.locator(".tag--revoked").count() == 1 and page.locator(".notice--success").count() == 1
    accessible(page)


def test_a_service_officer_opens_a_check_and_sees_its_decision(site, new_context) -> None:
    site.seed_wallet(MINJI)
    page = new_context().new_page()
    sign_in(page, "officer-youth-0001", "/consoles/service")
    accessible(page)
    follow(page, 'nav a[href="/consoles/service/checks/new"]')
    accessible(page)
    page.fill("#applicant", "not-a-subject")
    follow(page, "form[action='/consoles/service/checks'] button[type=submit]")
    assert page.locator(".error-summary").count() == 1
    accessible(page)
    page.fill("#applicant", site.platform.subjects.for_verifier(YOUTH_VERIFIER, MINJI))
    follow(page, "form[action='/consoles/service/checks'] button[type=submit]")
    assert page.locator(".qr svg").count() == 1
    accessible(page)
    link = page.locator("dd code.identifier").last.inner_text()
    assert link.startswith("openid4vp://")
    site.share_by_api(MINJI, link)
    follow(page, "a.button[href^='/consoles/service/checks/']")
    assert page.locator(".tag--eligible").count() == 1
    assert "충족: 만 19세 이상 34세 이하" in main_text(page)
    accessible(page)
    follow(page, 'nav a[href="/consoles/service"]')
    assert page.locator("tbody tr").count() == 1 and page.locator("tbody .tag--eligible").count() == 1
    accessible(page)
