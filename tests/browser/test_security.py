"""Security as a citizen's browser meets it: a form posted without its CSRF token is refused and
changes nothing; one citizen's pages never show another's data, and her ids answer him as unknown
ones do; an issuer's or a verifier's refusal is said in plain words, never as a stack trace."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, Response

from tests.browser.helpers import JUNHO, MINJI, Site, check_page, follow, main_text, offer_endpoint
from tests.browser.helpers import present_endpoint as consent_screen
from tests.browser.pages import JUNHO_CLAIMS, Wallets, prepare_wallets
from tests.verifiers.conftest import youth_claims

MINJI_BIRTH_DATE = youth_claims()["resident_registration"]["birth_date"]
assert JUNHO_CLAIMS["resident_registration"]["birth_date"] != MINJI_BIRTH_DATE
REFUSED = "요청을 처리할 수 없습니다"  # seoul_wallet/browser.py's refusal page (CSRF)


@pytest.fixture(scope="module")
def wallets(chromium, site) -> Wallets:
    return prepare_wallets(site, chromium)


def submit(page: Page, selector: str) -> Response:
    with page.expect_navigation() as navigation:
        page.click(selector)
    response = navigation.value
    assert response is not None
    return response


def without_csrf_token(page: Page) -> None:
    """What a forged cross-site form looks like: the page's own form, minus its hidden token."""
    removed = page.evaluate(
        "() => { const inputs = document.querySelectorAll('main form input[name=csrftoken]');"
        " inputs.forEach(e => e.remove()); return inputs.length; }"
    )
    assert removed >= 1, f"{page.url}: the form carries no csrftoken field"


@pytest.mark.parametrize("form", ["remove-credential", "withdraw-consent", "delete-account"])
def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(
    form: str, site: Site, wallets: Wallets, new_context
) -> None:
    page = new_context(storage_state=wallets.signed_in[MINJI]).new_page()
    before = (len(site.credentials_of(MINJI)), site.consent_of(MINJI, wallets.record_id)["state"])
    if form == "remove-credential":
        page.goto(f"/wallet/credentials/{wallets.credential_ids[0]}/remove")
    elif form == "withdraw-consent":
        page.goto(f"/wallet/consents/{wallets.record_id}/withdraw")
    else:
        page.goto("/wallet/my-data/delete")
        page.fill("#confirm", "삭제")  # the right word: only the missing token stops it
    check_page(page, "ko")
    without_csrf_token(page)
    response = submit(page, "main form button[name=action]")
    assert response.status == 403 and REFUSED in page.locator("body").inner_text(), main_text(page)[:300]
    check_page(page)
    assert (len(site.credentials_of(MINJI)), site.consent_of(MINJI, wallets.record_id)["state"]) == before
    # The refusal does not sign her out.
    page.goto("/wallet/credentials")
    assert page.locator('form[action="/wallet/auth/logout"]').count() == 1


def test_one_citizen_never_sees_anothers_data(site: Site, wallets: Wallets, new_context) -> None:
    minji = new_context(storage_state=wallets.signed_in[MINJI]).new_page()
    junho = new_context(storage_state=wallets.signed_in[JUNHO]).new_page()
    theirs = wallets.credential_ids[0]
    minji.goto(f"/wallet/credentials/{theirs}")
    assert MINJI_BIRTH_DATE in main_text(minji)  # she sees her own

    def never_hers(page: Page) -> None:
        """Nothing of hers: no claim value or platform id anywhere in the page, no id of hers in
        what it says (the id he asked for is in its address, and so in the language form's `next`)."""
        check_page(page)
        html, said = page.content(), main_text(page) + page.title()
        leaked = [v for v in (MINJI_BIRTH_DATE, MINJI) if v in html]
        leaked += [v for v in (*wallets.credential_ids, wallets.record_id) if v in said]
        assert not leaked, f"{page.url} shows Minji's {leaked}"

    unknown = "0" * len(theirs)
    for path in (
        f"/wallet/credentials/{theirs}",
        f"/wallet/credentials/{theirs}/remove",
        f"/wallet/consents/{wallets.record_id}",
        f"/wallet/consents/{wallets.record_id}/withdraw",
        f"/wallet/present/outcome/{wallets.record_id}",
        f"/wallet/receive/done?ids={theirs}",
    ):
        response = junho.goto(path)
        assert response is not None and response.status == 404, f"{path} answers Junho {response and response.status}"
        never_hers(junho)
        # Exactly as an id that is nobody's.
        stranger = junho.context.new_page()
        other = stranger.goto(path.replace(theirs, unknown).replace(wallets.record_id, "0" * len(wallets.record_id)))
        assert other is not None and other.status == 404
        assert stranger.locator("h1").inner_text() == junho.locator("h1").inner_text(), path
        stranger.close()
    receipt = junho.request.get(f"/wallet/consents/{wallets.record_id}/receipt")
    assert receipt.status == 404 and MINJI_BIRTH_DATE not in receipt.text()

    for path in ("/wallet", "/wallet/credentials", "/wallet/consents", "/wallet/history", "/wallet/inbox"):
        junho.goto(path)
        never_hers(junho)
    export = junho.request.get("/wallet/my-data/export")
    assert export.status == 200 and MINJI_BIRTH_DATE not in export.text() and MINJI not in export.text()

    # His own withdraw form, pointed at her consent: refused as unknown, and hers stays as it was.
    _, link = site.open_check(JUNHO)
    his = site.share_by_api(JUNHO, link)["consent_record_id"]
    before = site.consent_of(MINJI, wallets.record_id)["state"]
    junho.goto(f"/wallet/consents/{his}/withdraw")
    junho.evaluate(
        "(id) => { document.querySelector('main form').action = `/wallet/consents/${id}/withdraw`; }",
        wallets.record_id,
    )
    response = submit(junho, "button[name=action][value=withdraw]")
    assert response.status == 404, response.status
    never_hers(junho)
    assert site.consent_of(MINJI, wallets.record_id)["state"] == before
    assert site.consent_of(JUNHO, his)["state"] != "withdrawn"


def expect_plain_words(page: Page, response: Response | None) -> None:
    """A refusal a citizen can read: a 4xx page with its heading and a message, never a trace."""
    assert response is not None and 400 <= response.status < 500, response and response.status
    check_page(page, "ko")
    message = page.locator("main .notice, main [role=alert]")
    assert message.count() >= 1 and message.first.inner_text().strip(), main_text(page)[:300]


def test_an_issuers_refusal_is_said_in_plain_words(site: Site, wallets: Wallets, new_context) -> None:
    page = new_context(storage_state=wallets.signed_in[JUNHO]).new_page()
    offer = site.offer(JUNHO, "military_service", {"compulsory_service_completed": True, "service_days": 548})
    page.goto(offer_endpoint(offer["offer_link"]))
    follow(page, "button[name=action][value=accept]")
    held = len(site.credentials_of(JUNHO))
    # The same link again: the issuer has spent its code and refuses; nothing more is stored.
    page.goto(offer_endpoint(offer["offer_link"]))
    check_page(page, "ko")
    expect_plain_words(page, submit(page, "button[name=action][value=accept]"))
    assert len(site.credentials_of(JUNHO)) == held
    # An offer whose issuer is nowhere: refused before anything is asked of anyone.
    nowhere = "openid-credential-offer://?credential_offer_uri=http%3A%2F%2F127.0.0.1%3A9%2Foffers%2Fx"
    expect_plain_words(page, page.goto(offer_endpoint(nowhere)))


def test_a_verifiers_refusal_is_said_in_plain_words(site: Site, wallets: Wallets, new_context) -> None:
    page = new_context(storage_state=wallets.signed_in[JUNHO]).new_page()
    _, link = site.open_check(JUNHO)
    page.goto(consent_screen(link))
    follow(page, "button[name=action][value=share]")
    check_page(page, "ko")
    # The same request once more: answered already, the verifier (or the wallet) says no, plainly.
    response = page.goto(consent_screen(link))
    if response is not None and response.status == 200 and page.locator("button[name=action][value=share]").count():
        response = submit(page, "button[name=action][value=share]")
    expect_plain_words(page, response)
    # A request from a verifier that is not there.
    broken = "client_id=x509_san_dns%3Anowhere.example&request_uri=https%3A%2F%2Fnowhere.example%2Fr"
    expect_plain_words(page, page.goto(f"/wallet/present?{broken}"))
