"""The receive pages in a citizen's browser: the paste form, the offer (with the issuer's code when it
asks for one, and a QR code to continue on a phone), the result. Forms are submitted as a browser
would, with their CSRF token; a form without it is refused."""

from __future__ import annotations

import re
from urllib.parse import quote

from fastapi.testclient import TestClient

from tests.auth.conftest import DEMO_PASSWORD, JUNHO, MINJI
from tests.auth.spec_rp import Browser, forms_of
from tests.conftest import bearer_for
from tests.verifiers.conftest import AGENCY_OF, youth_claims
from tests.wallet.test_wallet_app import offer_links, on_this_site
from tests.wallet.test_wallet_pages import sign_in, wallet_link
from wallet.web.receive import qr_svg

RESIDENT = youth_claims()["resident_registration"]
# Claim values of RESIDENT distinctive enough to search a page's URLs for.
CLAIM_VALUES = ("1999-05-01", "11110", "2026-11-01")
PIN = "246810"


def sign_in_as(client: TestClient, citizen: str, start: str = "/wallet/credentials") -> None:
    """Sign `citizen` in at the provider in this client's browser, starting from `start`."""
    browser = Browser(client)
    first = client.get(start, follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"].startswith("/wallet/auth/login?return_to=")
    login = client.get(first.headers["location"], follow_redirects=False)
    redirect = browser.sign_in_with_password(browser.open(login.headers["location"]), citizen, DEMO_PASSWORD)
    assert client.get(on_this_site(redirect.headers["location"]), follow_redirects=False).status_code == 303


def in_english(client: TestClient) -> None:
    client.cookies.set("seoul_wallet_lang", "en", domain="testserver.local", path="/wallet")


def urls_of(page: str) -> list[str]:
    """Every address the page links, posts or loads."""
    return re.findall(r'(?:href|action|src)="([^"]*)"', page)


def assert_no_claim_value_in_urls(page: str, values: tuple[str, ...] = CLAIM_VALUES) -> None:
    for url in urls_of(page):
        assert not any(value in url for value in values), url


def pin_offer(client, platform, citizen: str = MINJI) -> dict:
    """An agency's offer that asks for a code (PIN), with the code the agency sent the citizen."""
    agency = AGENCY_OF["resident_registration"]
    headers = bearer_for(client, platform, f"agency:{agency}", ["credentials:offer"])
    body = {"subject": citizen, "credential_type": "resident_registration", "claims": RESIDENT}
    created = client.post(f"/issuers/{agency}/offers", json={**body, "tx_code": {"value": PIN}}, headers=headers)
    assert created.status_code == 201, created.text
    assert created.json()["tx_code"] == PIN
    return created.json()


def stored_count(client, platform, citizen: str = MINJI) -> int:
    wallet = bearer_for(client, platform, f"citizen:{citizen}", ["wallet"])
    return len(client.get("/wallet/api/credentials", headers=wallet).json()["credentials"])


def offer_form(page: str):
    (form,) = [f for f in forms_of(page) if f.action == "/wallet/receive"]
    return form


def test_an_offer_sent_to_the_wallet_page_is_received_after_sign_in(client, platform, browser) -> None:
    (link,) = offer_links(client, platform, MINJI, {"resident_registration": RESIDENT})
    page_url = wallet_link(link, "/wallet/receive")
    assert sign_in(client, browser, page_url) == page_url  # back where the issuer sent her
    page = client.get(page_url)
    assert page.status_code == 200 and "/issuers/mois" in page.text and 'lang="ko"' in page.text
    assert "주민등록 정보" in page.text and "행정안전부" in page.text  # what and from whom
    assert str(qr_svg(f"http://testserver{page_url}")) in page.text  # this very page, for a phone
    form = offer_form(page.text)
    assert ("action", "accept") in form.buttons
    assert client.post("/wallet/receive", data={"credential_offer": form.fields["credential_offer"]}).status_code == 403
    assert stored_count(client, platform) == 0
    accepted = Browser(client).submit(form, action="accept")
    assert accepted.status_code == 303 and accepted.headers["location"].startswith("/wallet/receive/done?ids=")
    done = client.get(accepted.headers["location"])
    assert done.status_code == 200 and "증명서를 받았습니다" in done.text
    wallet = bearer_for(client, platform, f"citizen:{MINJI}", ["wallet"])
    (credential,) = client.get("/wallet/api/credentials", headers=wallet).json()["credentials"]
    assert f'href="/wallet/credentials/{credential["id"]}"' in done.text and "주민등록 정보" in done.text
    assert 'aria-current="step">완료' in done.text  # the step indicator, at its last step
    assert_no_claim_value_in_urls(page.text)
    assert_no_claim_value_in_urls(done.text)
    again = Browser(client).submit(form, action="accept")  # the code is spent: the issuer's refusal, in her words
    assert again.status_code == 400 and "아무것도 저장되지 않았습니다" in again.text
    assert stored_count(client, platform) == 1


def test_signed_out_she_is_sent_to_sign_in_first(client) -> None:
    for path in ("/wallet/receive", "/wallet/receive?offer=x", "/wallet/receive/done?ids=x"):
        page = client.get(path, follow_redirects=False)
        assert page.status_code == 303
        assert page.headers["location"] == f"/wallet/auth/login?return_to={quote(path, safe='')}"


def test_the_paste_form_in_korean_and_english(client) -> None:
    sign_in_as(client, MINJI, "/wallet/receive")
    page = client.get("/wallet/receive")
    assert page.status_code == 200 and 'lang="ko"' in page.text and "증명서 받기" in page.text
    assert '<form method="get" action="/wallet/receive"' in page.text  # a link to look at: nothing changes yet
    assert '<textarea id="offer" name="offer"' in page.text and '<label for="offer">' in page.text
    assert 'aria-current="step">링크' in page.text  # step 1 of 3
    assert "error-summary" not in page.text and "aria-invalid" not in page.text
    in_english(client)
    page = client.get("/wallet/receive")
    assert page.status_code == 200 and 'lang="en"' in page.text and "Receive a credential" in page.text
    assert "The link from the agency" in page.text


def test_an_empty_or_malformed_link_re_renders_the_form_with_the_error_summary(client) -> None:
    sign_in_as(client, MINJI, "/wallet/receive")
    for link, said in (("", "링크를 붙여 넣으세요"), ("hello there", "증명서를 받는 링크가 아닙니다")):
        page = client.get("/wallet/receive", params={"offer": link})
        assert page.status_code == 400, link
        assert "<title>오류: " in page.text and 'class="error-summary"' in page.text
        assert '<a href="#offer">' in page.text and said in page.text
        assert 'aria-invalid="true"' in page.text and 'aria-describedby="offer-hint offer-error"' in page.text
    assert "hello there</textarea>" in page.text  # what she pasted stays, to correct it
    assert "아무것도 저장되지 않았습니다" in page.text  # the wallet's own words on what failed
    in_english(client)
    page = client.get("/wallet/receive", params={"offer": "openid-credential-offer://?credential_offer=%7Bbroken"})
    assert page.status_code == 400 and "<title>Error: " in page.text and "Nothing was stored" in page.text


def test_a_pasted_link_shows_the_offer_with_steps_and_a_qr_code(client, platform) -> None:
    (link,) = offer_links(client, platform, MINJI, {"resident_registration": RESIDENT})
    sign_in_as(client, MINJI, "/wallet/receive")
    page = client.get("/wallet/receive", params={"offer": link})
    assert page.status_code == 200 and "주민등록 정보" in page.text and "/issuers/mois</code>" in page.text
    assert 'aria-current="step">확인 및 코드 입력' in page.text
    assert re.search(r'<div class="qr" role="img" aria-label="[^"]+"><svg', page.text)
    # The QR code opens this offer at the wallet's own offer endpoint (not the pasted page's long address).
    assert str(qr_svg(f"http://testserver{wallet_link(link, '/wallet/receive')}")) in page.text
    assert 'id="tx_code"' not in page.text  # this offer asks for no code
    assert '<a class="button button--secondary" href="/wallet">취소</a>' in page.text
    assert stored_count(client, platform) == 0  # looking is not accepting
    in_english(client)
    page = client.get("/wallet/receive", params={"offer": link})
    assert page.status_code == 200 and 'lang="en"' in page.text and "Resident registration" in page.text
    assert "Continue on your phone" in page.text and "<svg" in page.text
    accepted = Browser(client).submit(offer_form(page.text), action="accept")
    assert accepted.status_code == 303
    done = client.get(accepted.headers["location"])
    assert done.status_code == 200 and 'lang="en"' in done.text and "Credential received" in done.text


def test_the_code_right_after_a_wrong_one_still_works(client, platform) -> None:
    created = pin_offer(client, platform)
    sign_in_as(client, MINJI, "/wallet/receive")
    page = client.get(wallet_link(created["offer_link"], "/wallet/receive"))
    assert page.status_code == 200
    assert 'id="tx_code"' in page.text and 'inputmode="numeric"' in page.text and 'for="tx_code"' in page.text
    assert "발급 기관이 따로 보낸 인증번호를 입력하세요" in page.text  # the issuer's own hint
    assert "숫자 6자리입니다" in page.text  # and the length it asks for
    form = offer_form(page.text)

    missing = Browser(client).submit(form, action="accept")
    assert missing.status_code == 400 and '<a href="#tx_code">' in missing.text

    wrong = Browser(client).submit(form, action="accept", tx_code="000000")
    assert wrong.status_code == 400 and "<title>오류: " in wrong.text and 'class="error-summary"' in wrong.text
    assert '<a href="#tx_code">코드가 맞지 않습니다' in wrong.text
    field = re.search(r'<input type="text" id="tx_code"[^>]*>', wrong.text)
    assert field and 'aria-describedby="tx_code-hint tx_code-error"' in field[0] and 'aria-invalid="true"' in field[0]
    assert "attempt(s) left" in wrong.text  # the issuer's word on the tries left
    assert 'value="000000"' not in wrong.text  # the wrong code is not echoed back
    assert stored_count(client, platform) == 0
    assert re.search(r'<div class="qr" role="img"', wrong.text)  # still the offer page, QR and all

    right = Browser(client).submit(offer_form(wrong.text), action="accept", tx_code=PIN)
    assert right.status_code == 303
    assert client.get(right.headers["location"]).status_code == 200
    assert stored_count(client, platform) == 1


def test_english_wrong_code_and_other_refusals_are_plain_pages(client, platform) -> None:
    created = pin_offer(client, platform)
    sign_in_as(client, MINJI, "/wallet/receive")
    in_english(client)
    form = offer_form(client.get(wallet_link(created["offer_link"], "/wallet/receive")).text)
    wrong = Browser(client).submit(form, action="accept", tx_code="111111")
    assert wrong.status_code == 400 and "<title>Error: " in wrong.text and "The code is not right" in wrong.text
    malformed = Browser(client).submit(form, action="accept", tx_code="12ab")
    assert malformed.status_code == 400 and '<a href="#tx_code">' in malformed.text
    # An offer for someone else: the issuer's credential is refused, a page saying so (not the code field).
    (other,) = offer_links(client, platform, JUNHO, {"resident_registration": RESIDENT})
    form = offer_form(client.get(wallet_link(other, "/wallet/receive")).text)
    refused = Browser(client).submit(form, action="accept")
    assert refused.status_code == 400 and "Nothing was stored" in refused.text and "error-summary" not in refused.text
    assert stored_count(client, platform) == 0
    bad = Browser(client).submit(form, action="accept", credential_offer="{not json")
    assert bad.status_code == 400 and "Nothing was stored" in bad.text


def test_the_result_page_shows_only_her_own_credentials(app, client, platform) -> None:
    (link,) = offer_links(client, platform, MINJI, {"resident_registration": RESIDENT})
    sign_in_as(client, MINJI, "/wallet/receive")
    accepted = Browser(client).submit(offer_form(client.get(wallet_link(link, "/wallet/receive")).text))
    done_url = accepted.headers["location"]
    assert client.get(done_url).status_code == 200
    other = TestClient(app)
    sign_in_as(other, JUNHO)
    page = other.get(done_url)
    assert page.status_code == 404 and "주민등록 정보" not in page.text
    assert other.get("/wallet/receive/done?ids=").status_code == 404
