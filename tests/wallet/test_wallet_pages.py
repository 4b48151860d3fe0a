"""The wallet's entry pages in a citizen's browser (the TestClient keeps her cookies): an issuer's
page sends her to /wallet/receive, a service's to /wallet/present. Signed out, she signs in first and
comes back to the same page. Forms are submitted as a browser would, with their CSRF token."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from fastapi.testclient import TestClient

from tests.auth.conftest import DEMO_PASSWORD, JUNHO, MINJI
from tests.auth.spec_rp import Browser, forms_of
from tests.conftest import bearer_for
from tests.verifiers.conftest import GANGNAM, youth_claims
from tests.wallet.test_wallet_app import offer_links, on_this_site, open_check, receive_all


def sign_in(client, browser: Browser, start: str, citizen: str = MINJI) -> str:
    """Open `start` signed out, sign in at the provider, and return where the wallet brought her back."""
    first = client.get(start, follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"].startswith("/wallet/auth/login?return_to=")
    login = client.get(first.headers["location"], follow_redirects=False)
    redirect = browser.sign_in_with_password(browser.open(login.headers["location"]), citizen, DEMO_PASSWORD)
    back = client.get(on_this_site(redirect.headers["location"]), follow_redirects=False)
    assert back.status_code == 303
    return back.headers["location"]


def wallet_link(link: str, path: str) -> str:
    """An openid-credential-offer:// or openid4vp:// link as a link to the wallet's own endpoint."""
    return f"{path}?{urlsplit(link).query}"


def outcome_of(client, answered) -> tuple[str, str]:
    """The outcome page an answer on the consent screen redirects to: (its consent record id, its page)."""
    assert answered.status_code == 303, answered.text
    location = answered.headers["location"]
    assert location.startswith("/wallet/present/outcome/"), location
    page = client.get(location)
    assert page.status_code == 200, page.text
    return location.rsplit("/", 1)[1], page.text


def present_form(page: str):
    (form,) = [f for f in forms_of(page) if f.action == "/wallet/present"]
    return form


def shared_claim_names(page: str) -> list[str]:
    """The claim names the consent screen lists under "what would be shared"."""
    form = page[page.index('<form method="post" action="/wallet/present"') :]
    return re.findall(r"<dt>(.*?)</dt>", form[: form.index("</form>")])


def test_a_request_sent_to_the_wallet_page_shows_everything_and_shares_on_approval(client, platform, browser) -> None:
    token = bearer_for(client, platform, f"citizen:{MINJI}", ["wallet"])
    receive_all(client, token, offer_links(client, platform, MINJI, youth_claims()))
    request_id, link, backend = open_check(client, platform, applicant_of=MINJI)
    page_url = wallet_link(link, "/wallet/present")
    sign_in(client, browser, page_url)
    page = client.get(page_url)
    assert page.status_code == 200 and 'lang="ko"' in page.text
    assert "<code>x509_san_dns:" in page.text and "확인됨" in page.text  # the full client id, verified
    # Each claim with the value that leaves the wallet (enum labels from the catalog), and that the
    # service itself learns only yes/no; how long the consent lasts; that refusing is allowed.
    assert "1999-05-01" in page.text and "서울특별시" in page.text and "졸업" in page.text
    assert "예/아니오만 전달됩니다" in page.text and "하루" in page.text and "거부해도 됩니다" in page.text
    assert '<div class="qr" role="img"' in page.text and "<svg" in page.text  # continue on a phone
    form = present_form(page.text)
    assert form.buttons == [("action", "share"), ("action", "decline")]  # equal choices
    assert 'class="button" name="action" value="share"' in page.text
    assert 'class="button button--secondary" name="action" value="decline"' in page.text
    record_id, outcome = outcome_of(client, Browser(client).submit(form, action="share"))
    assert "보냈습니다" in outcome and "받아들였습니다" in outcome  # shared, and the verifier accepted it
    assert f'href="/wallet/consents/{record_id}"' in outcome
    assert f'href="/wallet/consents/{record_id}/receipt"' in outcome
    assert client.get(f"/verifiers/requests/{request_id}", headers=backend).json()["eligible"] is True


def test_the_consent_screen_and_its_outcome_in_english(client, platform, browser) -> None:
    token = bearer_for(client, platform, f"citizen:{MINJI}", ["wallet"])
    receive_all(client, token, offer_links(client, platform, MINJI, youth_claims()))
    _, link, _ = open_check(client, platform, applicant_of=MINJI)
    page_url = wallet_link(link, "/wallet/present")
    sign_in(client, browser, page_url)
    client.cookies.set("seoul_wallet_lang", "en", domain="testserver.local", path="/wallet")
    page = client.get(page_url)
    assert page.status_code == 200 and 'lang="en"' in page.text
    assert "<title>A request for your data" in page.text
    assert "Verified" in page.text and "Graduated" in page.text and "Seoul" in page.text
    assert "One day, until" in page.text and "Declining costs you nothing" in page.text
    _, outcome = outcome_of(client, Browser(client).submit(present_form(page.text), action="share"))
    assert 'lang="en"' in outcome and "You shared your data" in outcome and "accepted it" in outcome


def test_the_outcome_page_continues_where_the_verifier_asks(client, platform, browser) -> None:
    admin = bearer_for(client, platform, "platform:admin", ["verifiers:admin"])
    assert client.post("/admin/verifiers", json=GANGNAM, headers=admin).status_code == 201
    token = bearer_for(client, platform, f"citizen:{MINJI}", ["wallet"])
    receive_all(client, token, offer_links(client, platform, MINJI, youth_claims()))
    backend = bearer_for(client, platform, "verifier:gangnam-youth", ["presentations:request"])
    created = client.post("/verifiers/requests", json={"service_id": "k_pass_youth"}, headers=backend).json()
    page_url = wallet_link(created["link"], "/wallet/present")
    sign_in(client, browser, page_url)
    _, outcome = outcome_of(client, Browser(client).submit(present_form(client.get(page_url).text), action="share"))
    (continue_to,) = re.findall(r'<a class="button" href="([^"]+)">계속</a>', outcome)
    assert continue_to.startswith("https://gangnam.example/done#response_code=")


def test_declining_on_the_page_tells_the_verifier(client, platform, browser) -> None:
    token = bearer_for(client, platform, f"citizen:{MINJI}", ["wallet"])
    receive_all(client, token, offer_links(client, platform, MINJI, youth_claims()))
    request_id, link, backend = open_check(client, platform)
    page_url = wallet_link(link, "/wallet/present")
    sign_in(client, browser, page_url)
    form = present_form(client.get(page_url).text)
    record_id, outcome = outcome_of(client, Browser(client).submit(form, action="decline"))
    assert "거절했습니다" in outcome and f'href="/wallet/consents/{record_id}"' in outcome
    assert "/receipt" not in outcome  # a refusal was never granted: it has no receipt
    result = client.get(f"/verifiers/requests/{request_id}", headers=backend).json()
    assert result["status"] == "pending" and result["failure"]["reason"] == "access_denied"


def test_sharing_without_the_csrf_token_is_refused(client, platform, browser) -> None:
    token = bearer_for(client, platform, f"citizen:{MINJI}", ["wallet"])
    receive_all(client, token, offer_links(client, platform, MINJI, youth_claims()))
    request_id, link, backend = open_check(client, platform)
    page_url = wallet_link(link, "/wallet/present")
    sign_in(client, browser, page_url)
    form = present_form(client.get(page_url).text)
    fields = {k: v for k, v in form.fields.items() if k != "csrftoken"}
    assert client.post("/wallet/present", data={**fields, "action": "share"}).status_code == 403
    assert client.get(f"/verifiers/requests/{request_id}", headers=backend).json()["status"] == "pending"


def test_a_request_that_changed_since_she_saw_it_is_refused_in_words(client, platform, browser) -> None:
    token = bearer_for(client, platform, f"citizen:{MINJI}", ["wallet"])
    receive_all(client, token, offer_links(client, platform, MINJI, youth_claims()))
    request_id, link, backend = open_check(client, platform)
    page_url = wallet_link(link, "/wallet/present")
    sign_in(client, browser, page_url)
    form = present_form(client.get(page_url).text)
    answered = Browser(client).submit(form, action="share", notice_sha256="0" * 64)
    assert answered.status_code == 409 and "요청 내용이 바뀌었습니다" in answered.text
    assert "아무것도 보내지 않았습니다" in answered.text and f'href="{page_url}"'.replace("&", "&amp;") in answered.text
    assert client.get(f"/verifiers/requests/{request_id}", headers=backend).json()["status"] == "pending"


def test_when_two_credentials_fit_she_must_choose_one(client, platform, browser) -> None:
    token = bearer_for(client, platform, f"citizen:{MINJI}", ["wallet"])
    receive_all(client, token, offer_links(client, platform, MINJI, youth_claims()))
    residency = {"resident_registration": youth_claims()["resident_registration"]}
    receive_all(client, token, offer_links(client, platform, MINJI, residency))  # a second one
    request_id, link, backend = open_check(client, platform, applicant_of=MINJI)
    page_url = wallet_link(link, "/wallet/present")
    sign_in(client, browser, page_url)
    page = client.get(page_url).text
    radios = re.findall(r'<input type="radio"[^>]*name="choice:resident_registration"[^>]*>', page)
    assert len(radios) == 2 and not any("checked" in r for r in radios)  # nothing chosen for her
    form = present_form(page)
    chosen = form.fields.pop("choice:resident_registration")  # the parser keeps the last radio's value
    missing = Browser(client).submit(form, action="share")
    assert missing.status_code == 400 and "<title>오류: " in missing.text
    assert 'class="error-summary"' in missing.text and 'href="#choice-resident_registration-1"' in missing.text
    assert 'aria-invalid="true" aria-describedby="choice-resident_registration-error"' in missing.text
    assert client.get(f"/verifiers/requests/{request_id}", headers=backend).json()["status"] == "pending"
    form = present_form(missing.text)
    form.fields.pop("choice:resident_registration")
    answered = Browser(client).submit(form, action="share", **{"choice:resident_registration": chosen})
    outcome_of(client, answered)
    assert client.get(f"/verifiers/requests/{request_id}", headers=backend).json()["eligible"] is True


def test_when_nothing_fits_she_can_only_tell_them_she_declines(client, platform, browser) -> None:
    request_id, link, backend = open_check(client, platform)
    page_url = wallet_link(link, "/wallet/present")
    sign_in(client, browser, page_url)
    page = client.get(page_url)
    assert page.status_code == 200 and "주민등록 정보" in page.text  # what is missing, named
    form = present_form(page.text)
    assert form.buttons == [("action", "decline")] and "거절 알리기" in page.text
    _, outcome = outcome_of(client, Browser(client).submit(form, action="decline"))
    assert "거절했습니다" in outcome
    result = client.get(f"/verifiers/requests/{request_id}", headers=backend).json()
    assert result["failure"]["reason"] == "access_denied"


def test_the_outcome_page_shows_only_her_own_consent(client, app, platform, browser) -> None:
    token = bearer_for(client, platform, f"citizen:{MINJI}", ["wallet"])
    receive_all(client, token, offer_links(client, platform, MINJI, youth_claims()))
    _, link, _ = open_check(client, platform, applicant_of=MINJI)
    page_url = wallet_link(link, "/wallet/present")
    sign_in(client, browser, page_url)
    record_id, _ = outcome_of(client, Browser(client).submit(present_form(client.get(page_url).text), action="share"))
    with TestClient(app) as junho:
        sign_in(junho, Browser(junho), "/wallet/services", citizen=JUNHO)
        theirs = junho.get(f"/wallet/present/outcome/{record_id}")
        unknown = junho.get("/wallet/present/outcome/no-such-consent")
        # Someone else's consent answers exactly as one that does not exist.
        assert theirs.status_code == unknown.status_code == 404 and "그런 동의가 없습니다" in theirs.text
        assert theirs.text.replace(record_id, "no-such-consent") == unknown.text
    # On another device (a new session), the ledger still tells what the verifier answered.
    with TestClient(app) as phone:
        sign_in(phone, Browser(phone), f"/wallet/present/outcome/{record_id}")
        again = phone.get(f"/wallet/present/outcome/{record_id}")
        assert again.status_code == 200 and "받아들였습니다" in again.text


def test_a_broken_link_is_a_clear_page_not_an_error(client, browser) -> None:
    sign_in(client, browser, "/wallet/receive?credential_offer=%7Bbroken")
    page = client.get("/wallet/receive?credential_offer=%7Bbroken")
    assert page.status_code == 400 and "아무것도 저장되지 않았습니다" in page.text
    page = client.get("/wallet/present?client_id=x509_san_dns%3Anowhere.example")
    assert page.status_code == 400 and "아무것도 보내지 않았습니다" in page.text
