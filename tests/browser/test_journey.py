"""The youth-allowance journey in a real browser, as a citizen lives it: she signs in at the
development provider, accepts the six offers the agencies sent her (one asks for the code the
agency sent by text message, and she mistypes it first), finds 서울 청년수당 among the services she
qualifies for, applies, sees exactly what the service asks for, shares it, gets an eligible
decision, and later withdraws her consent: the verifier's own view says withdrawn at once.

Once in Korean, once in English (chosen in the header, remembered on every page after), once with
JavaScript off, and once with the keyboard only (every focus stop visibly focused)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page

import catalog
from tests.browser.helpers import (
    DOHYUN,
    JUNHO,
    MINJI,
    SEOYEON,
    YOUTH_SERVICE,
    YOUTH_VERIFIER,
    KeyboardOnly,
    Site,
    check_page,
    claim_names_shown,
    follow,
    main_text,
    names_in,
    offer_endpoint,
    policy_claims,
    request_id_of,
    say,
    sign_in,
    switch_language,
    wrong_code,
)
from vc.status_list import INVALID

CREDENTIAL_LINK = re.compile(r"^/wallet/credentials/([^/?#]+)$")
CONSENT_LINK = re.compile(r"^/wallet/consents/([^/?#]+)$")
BUTTON_WEIGHT = """e => { const s = getComputedStyle(e), r = e.getBoundingClientRect();
  return [Math.round(r.width), Math.round(r.height), s.fontSize, s.fontWeight, s.borderTopWidth, s.borderTopColor]; }"""


class Findings:
    """Contract checks that need not stop the journey: collected, asserted together at the end."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def check(self, ok: bool, what: str) -> None:
        if not ok:
            self.items.append(what)

    def assert_none(self) -> None:
        assert not self.items, "the journey went through, but:\n- " + "\n- ".join(self.items)


def hrefs(page: Page, pattern: re.Pattern[str]) -> list[str]:
    """The ids in the main content's links that match `pattern`, in page order, once each."""
    found = [
        pattern.match(h or "")
        for h in page.locator("main a[href]").evaluate_all("es => es.map(e => e.getAttribute('href'))")
    ]
    return list(dict.fromkeys(m.group(1) for m in found if m))


def type_name(type_id: str, language: str) -> str:
    return catalog.credential_types()[type_id].name[language]


def issuer_name(type_id: str, language: str) -> str:
    (agency,) = [a for a in catalog.demo_parties().agencies if type_id in a.issues]
    return agency.name[language]


def expect_error_summary(page: Page, language: str, field: str, findings: Findings) -> None:
    """GOV.UK's error pattern: the summary at the top, focused; the title says Error; the field is
    marked invalid and described by its message."""
    summary = page.locator(".error-summary")
    assert summary.count() == 1, f"{page.url}: no error summary after a wrong code"
    assert page.title().startswith(f"{say(language, 'Error')}:"), f"title {page.title()!r} does not begin with Error"
    assert summary.locator(f'a[href="#{field}"]').count() == 1, f"the summary does not link to #{field}"
    control = page.locator(f"#{field}")
    assert control.get_attribute("aria-invalid") == "true", f"#{field} is not aria-invalid"
    described = (control.get_attribute("aria-describedby") or "").split()
    messages = [page.locator(f"#{i}").inner_text().strip() for i in described if page.locator(f"#{i}").count()]
    findings.check(any(messages), f"#{field} is not described by an error message (aria-describedby={described})")
    # autofocus is HTML, not script: the summary takes the focus with JavaScript off too.
    focused = page.evaluate("document.activeElement ? document.activeElement.className : ''")
    findings.check("error-summary" in focused, f"{page.url}: the error summary does not take the focus")


def receive(page: Page, offer: dict, language: str, findings: Findings, *, paste: bool = False) -> None:
    """Open an offer as the agency sent it (its link pasted into the wallet, or the wallet's offer
    endpoint), type the code when asked (wrong first), and accept; the result lists what was stored."""
    if paste:
        follow(page, 'main a[href="/wallet/receive"]')  # the home page's shortcut
        check_page(page, language)
        page.fill("#offer", offer["offer_link"])
        follow(page, "form:has(#offer) button")
    else:
        code = offer.get("tx_code")
        page.goto(offer_endpoint(offer["offer_link_by_reference"] if code else offer["offer_link"]))
    check_page(page, language)
    findings.check(issuer_name(offer["type_id"], language) in main_text(page), "the offer names no issuer")
    findings.check(page.locator("ol.steps").count() == 1, f"offer page {page.url} has no step indicator")
    findings.check(page.locator("main .qr svg, main svg.qr").count() >= 1, "the offer page has no QR code")
    accept = page.locator("button[name=action][value=accept]")
    if offer.get("tx_code"):
        page.fill("#tx_code", wrong_code(offer["tx_code"]))
        follow(page, accept)
        check_page(page, language)
        expect_error_summary(page, language, "tx_code", findings)
        page.fill("#tx_code", offer["tx_code"])
    follow(page, accept)
    check_page(page, language)
    assert page.locator(".error-summary").count() == 0, f"refused: {main_text(page)[:400]}"
    assert hrefs(page, CREDENTIAL_LINK), f"the result page links no stored credential: {main_text(page)[:400]}"
    assert type_name(offer["type_id"], language) in main_text(page), f"the result does not name {offer['type_id']}"


def apply_and_check_the_consent_screen(page: Page, language: str, findings: Findings) -> str:
    """Services for me: 청년수당 eligible; Apply; the consent screen lists exactly the policy's claims.
    Returns the verifier's request id (named by the screen's request_uri)."""
    follow(page, 'nav a[href="/wallet/services"]')
    check_page(page, language)
    section = page.locator(f"#service-{YOUTH_SERVICE}")
    assert section.count() == 1, f"no section #service-{YOUTH_SERVICE} on {page.url}"
    assert catalog.services()[YOUTH_SERVICE].name[language] in section.inner_text()
    standing = section.locator(".tag--eligible")
    assert standing.count() >= 1, f"the youth allowance is not tagged eligible: {section.inner_text()[:300]}"
    follow(page, section.locator("button[name=action][value=apply]"))
    assert "/wallet/present?" in page.url, f"Apply led to {page.url}: {main_text(page)[:300]}"
    check_page(page, language)
    expected = policy_claims()
    wanted = {(t, c) for t, claims in expected.items() for c in claims}
    shown = claim_names_shown(main_text(page), list(expected), language)
    assert shown == wanted, (
        f"the consent screen lists {names_in(language, shown)}; the policy asks for {names_in(language, wanted)}"
    )
    findings.check(page.locator("main input:checked").count() == 0, "something is pre-ticked on the consent screen")
    (youth,) = [v for v in catalog.demo_parties().verifiers if v.slug == YOUTH_VERIFIER]
    findings.check(youth.name[language] in main_text(page), "the consent screen does not say who asks")
    findings.check("x509_san_dns:" in main_text(page), "the consent screen does not show the full client identifier")
    share = page.locator("button[name=action][value=share]")
    decline = page.locator("button[name=action][value=decline]")
    assert share.count() == 1 and decline.count() == 1, "the consent screen needs one Share and one Decline"
    # Equal weight, as wallet.css means it (.button--secondary is not a lesser choice): the same
    # size, type and border; only the fill may differ.
    weights = [button.evaluate(BUTTON_WEIGHT) for button in (share, decline)]
    findings.check(weights[0] == weights[1], f"Share and Decline are not equal choices: {weights}")
    return request_id_of(page.url)


def share_and_withdraw(site: Site, page: Page, request_id: str, language: str, findings: Findings) -> None:
    follow(page, "button[name=action][value=share]")
    check_page(page, language)
    findings.check(
        "/wallet/present/outcome/" in page.url, f"the outcome is not at /wallet/present/outcome/…: {page.url}"
    )
    (record_id,) = hrefs(page, CONSENT_LINK)[:1] or [None]
    assert record_id, f"the outcome links no consent: {main_text(page)[:400]}"
    findings.check(
        page.locator(f'main a[href="/wallet/consents/{record_id}/receipt"]').count() == 1,
        "the outcome does not link the consent's receipt",
    )
    assert site.decision(request_id)["eligible"] is True

    follow(page, f'main a[href="/wallet/consents/{record_id}"]')
    check_page(page, language)
    follow(page, f'main a[href="/wallet/consents/{record_id}/withdraw"]')
    check_page(page, language)
    confirm = page.locator("button[name=action][value=withdraw]")
    findings.check(
        "button--warning" in (confirm.get_attribute("class") or ""), "the withdraw button is not .button--warning"
    )
    follow(page, confirm)
    assert urlsplit(page.url).path == f"/wallet/consents/{record_id}", f"withdrawing led to {page.url}"
    check_page(page, language)
    findings.check(page.locator(".notice--success").count() == 1, "no success notice after withdrawing")

    granted = site.granted(record_id)
    assert granted["state"] == "withdrawn", granted["state"]
    assert site.consent_status(granted) == INVALID


@pytest.mark.parametrize(
    ("language", "javascript", "citizen"),
    [
        pytest.param("ko", True, MINJI, id="korean"),
        pytest.param("en", True, JUNHO, id="english"),
        pytest.param("ko", False, SEOYEON, id="no-javascript"),
    ],
)
def test_the_youth_allowance_journey(site: Site, new_context, language: str, javascript: bool, citizen: str) -> None:
    findings = Findings()
    page = new_context(java_script_enabled=javascript).new_page()
    sign_in(page, citizen)
    if language != "ko":
        switch_language(page, language)
    check_page(page, language)

    offers = site.youth_offers(citizen)
    receive(page, offers[0], language, findings)  # the one with the code
    page.goto("/wallet")
    receive(page, offers[1], language, findings, paste=True)
    for offer in offers[2:]:
        receive(page, offer, language, findings)
    follow(page, 'nav a[href="/wallet/credentials"]')
    check_page(page, language)
    assert len(hrefs(page, CREDENTIAL_LINK)) == 6, main_text(page)[:600]

    request_id = apply_and_check_the_consent_screen(page, language, findings)
    share_and_withdraw(site, page, request_id, language, findings)
    findings.assert_none()


def test_the_journey_with_the_keyboard_only(site: Site, new_context) -> None:
    """Sign in, receive (a wrong code, then the right one), apply, share and withdraw: only Tab,
    Shift+Tab, Enter, Space and typing; every focus stop visibly focused; the skip link first."""
    page = new_context().new_page()
    keys = KeyboardOnly(page)
    page.goto("/wallet")
    keys.skip_link_first()
    keys.press("Enter", navigates=False)  # the skip link moves the focus to the main content
    assert keys.focused() and page.evaluate("document.activeElement.id") == "main", "the skip link does not reach main"
    keys.tab_to('a[href="/wallet/auth/login"]')
    keys.press("Enter")
    keys.tab_to("#platform_id")
    keys.type(DOHYUN)
    keys.tab_to("#password")
    keys.type("seoul-demo")
    keys.tab(backwards=True)  # Shift+Tab back to the username: it keeps what she typed
    assert page.input_value("#platform_id") == DOHYUN
    keys.tab_to("form:has(#password) button[type=submit]")
    keys.press("Enter")
    page.wait_for_url(lambda url: "/idp/" not in url and "/wallet/auth/" not in url)
    check_page(page, "ko")

    pin_offer, *others = site.youth_offers(DOHYUN)
    # The first offer: pasted into the wallet's receive form, reached from the home page.
    keys.skip_link_first()
    keys.tab_to('main a[href="/wallet/receive"]')
    keys.press("Enter")
    keys.skip_link_first()
    keys.tab_to("#offer")
    keys.type(pin_offer["offer_link_by_reference"])
    keys.tab_to("form:has(#offer) button")
    keys.press("Enter")
    check_page(page, "ko")
    keys.skip_link_first()
    keys.tab_to("#tx_code")
    keys.type(wrong_code(pin_offer["tx_code"]))
    keys.tab_to("button[name=action][value=accept]")
    keys.press("Enter")
    check_page(page, "ko")
    assert page.locator(".error-summary").count() == 1, main_text(page)[:400]
    focused = keys.focused(".error-summary")
    assert focused and focused["matches"], f"the error summary does not take the focus: {focused}"
    keys.tab_to('.error-summary a[href="#tx_code"]')
    keys.press("Enter", navigates=False)  # the summary's link leads to the field
    page.wait_for_function("document.activeElement && document.activeElement.id === 'tx_code'")
    keys.clear_and_type(pin_offer["tx_code"])
    keys.tab_to("button[name=action][value=accept]")
    keys.press("Space")
    check_page(page, "ko")
    assert hrefs(page, CREDENTIAL_LINK), main_text(page)[:400]
    # The others as the agencies send them: the wallet's offer endpoint, opened from the link.
    for offer in others:
        page.goto(offer_endpoint(offer["offer_link"]))
        keys.skip_link_first()
        keys.tab_to("button[name=action][value=accept]")
        keys.press("Enter")
        assert hrefs(page, CREDENTIAL_LINK), main_text(page)[:400]

    keys.skip_link_first()
    keys.tab_to('nav a[href="/wallet/services"]')
    keys.press("Enter")
    keys.tab_to(f"#service-{YOUTH_SERVICE} button[name=action][value=apply]")
    keys.press("Enter")
    page.wait_for_url(re.compile(r"/wallet/present\?"))
    request_id = request_id_of(page.url)
    keys.skip_link_first()
    keys.tab_to("button[name=action][value=decline]")
    keys.tab_to("button[name=action][value=share]", backwards=True)
    keys.press("Space")
    check_page(page, "ko")
    assert site.decision(request_id)["eligible"] is True
    (record_id,) = hrefs(page, CONSENT_LINK)[:1]

    keys.skip_link_first()
    keys.tab_to(f'main a[href="/wallet/consents/{record_id}"]')
    keys.press("Enter")
    keys.tab_to(f'main a[href="/wallet/consents/{record_id}/withdraw"]')
    keys.press("Enter")
    keys.tab_to("button[name=action][value=withdraw]")
    keys.press("Enter")
    check_page(page, "ko")
    assert site.granted(record_id)["state"] == "withdrawn"
    assert not keys.problems, "focus not visible:\n- " + "\n- ".join(keys.problems)
