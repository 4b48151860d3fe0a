"""The "my consents" pages in a citizen's browser (the TestClient keeps her cookies; forms are
submitted as they are on the page, with their CSRF token): the list and the detail with its history,
withdrawing one (the verifier's consent status flips at once) or all after a confirmation page, the
receipt download and its check against the ledger. Citizen B never reaches citizen A's consents."""

from __future__ import annotations

import re
import time
import uuid

import httpx

from seoul_wallet.app import consent_ledger
from tests.auth.conftest import DEMO_PASSWORD, JUNHO, MINJI
from tests.auth.spec_rp import Browser, Form, forms_of
from tests.conftest import bearer_for
from tests.consent.conftest import make_record
from tests.wallet.hosts import Hosts
from tests.wallet.test_my_consents import given_elsewhere, present_youth_allowance, served_status
from tests.wallet.test_wallet_app import BIRTH_DATE, on_this_site
from vc.status_list import INVALID, VALID


def sign_in_as(client, browser: Browser, citizen: str, start: str = "/wallet") -> None:
    """Sign in through the provider's password form as `citizen`, as tests/wallet/test_wallet_pages.py
    does for Minji, starting from a page that sends her to sign in."""
    first = client.get(f"/wallet/auth/login?return_to={start}", follow_redirects=False)
    redirect = browser.sign_in_with_password(browser.open(first.headers["location"]), citizen, DEMO_PASSWORD)
    back = client.get(on_this_site(redirect.headers["location"]), follow_redirects=False)
    assert back.status_code == 303 and back.headers["location"] == start, back.text


def in_english(client) -> None:
    client.cookies.set("seoul_wallet_lang", "en", domain="testserver.local", path="/wallet")


def api(client, platform, citizen: str = MINJI) -> dict[str, str]:
    return bearer_for(client, platform, f"citizen:{citizen}", ["wallet", "consent:read", "consent:withdraw"])


def form_to(page: httpx.Response, action: str) -> Form:
    (form,) = [f for f in forms_of(page.text) if f.action == action]
    assert form.fields.get("csrftoken"), "every form carries the CSRF token"
    return form


def text_of(page: httpx.Response) -> str:
    """The page's words without tags (what a screen reader reads, near enough)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.text))


def assert_page(page: httpx.Response, status: int = 200, lang: str = "ko") -> None:
    assert page.status_code == status, page.text
    assert f'<html lang="{lang}">' in page.text and page.text.count("<h1") == 1
    assert "<script" not in page.text


def test_the_youth_allowance_consent_is_listed_with_its_history_in_korean_and_english(
    client, platform, browser
) -> None:
    record_id = present_youth_allowance(client, platform, api(client, platform), MINJI)
    # Given elsewhere a few seconds later (the ledger orders by the second a consent was asked).
    ledger = consent_ledger(platform)
    ledger.clock = lambda: time.time() + 5
    elsewhere = ledger.request(make_record(f"citizen:{MINJI}", "verifier:seoul-youth"))
    ledger.grant(elsewhere)
    sign_in_as(client, browser, MINJI, "/wallet/consents")

    listed = client.get("/wallet/consents")
    assert_page(listed)
    assert f'href="/wallet/consents/{record_id}"' in listed.text
    assert f'href="/wallet/consents/{elsewhere}"' in listed.text
    assert "사용됨" in listed.text and "동의함" in listed.text  # used (one-time), granted: the states in words
    assert "verifier:seoul-youth" in listed.text
    # Newest first: the consent given elsewhere came after the presentation.
    assert listed.text.index(elsewhere) < listed.text.index(record_id)

    detail = client.get(f"/wallet/consents/{record_id}")
    assert_page(detail)
    words = text_of(detail)
    assert "동의 요청" in words and "동의함" in words and "서비스가 정보를 이용함" in words  # requested, given, used
    assert words.index("동의 요청") < words.index("서비스가 정보를 이용함")  # in order
    assert "생년월일" in words and "주민등록 정보" in words  # the data item with the issuer's names
    assert BIRTH_DATE not in detail.text  # names only, never a value
    assert f'href="/wallet/consents/{record_id}/receipt"' in detail.text
    assert f'href="/wallet/consents/{record_id}/withdraw"' in detail.text  # a used one-time consent too
    form_to(detail, f"/wallet/consents/{record_id}/receipt-check")

    in_english(client)
    detail = client.get(f"/wallet/consents/{record_id}")
    assert_page(detail, lang="en")
    words = text_of(detail)
    assert "Consent requested" in words and "Data used by the service" in words and "Date of birth" in words
    assert "Used" in words and "Withdraw this consent" in words
    listed = client.get("/wallet/consents")
    assert_page(listed, lang="en")
    assert "My consents" in listed.text and "Granted" in listed.text


def test_withdrawing_on_the_confirmation_page_flips_the_verifiers_status(client, platform, browser) -> None:
    minji = api(client, platform)
    record_id = present_youth_allowance(client, platform, minji, MINJI)
    consent = client.get(f"/wallet/api/consents/{record_id}", headers=minji).json()
    assert served_status(client, platform, consent) == VALID
    sign_in_as(client, browser, MINJI)

    assert "notice--success" not in client.get(f"/wallet/consents/{record_id}?withdrawn=1").text  # not yet
    in_english(client)
    confirm = client.get(f"/wallet/consents/{record_id}/withdraw")
    assert_page(confirm, lang="en")
    assert "cannot be undone" in confirm.text and "delete it" in confirm.text
    client.cookies.set("seoul_wallet_lang", "ko", domain="testserver.local", path="/wallet")
    confirm = client.get(f"/wallet/consents/{record_id}/withdraw")
    assert_page(confirm)
    assert "되돌릴 수 없습니다" in confirm.text and "삭제" in confirm.text  # cannot be undone; delete what it got
    form = form_to(confirm, f"/wallet/consents/{record_id}/withdraw")
    assert ("action", "withdraw") in form.buttons and 'class="button--warning"' in confirm.text
    # No CSRF token, no withdrawal.
    refused = client.post(f"/wallet/consents/{record_id}/withdraw", data={"action": "withdraw"})
    assert refused.status_code == 403 and served_status(client, platform, consent) == VALID

    done = Browser(client).submit(form, action="withdraw")
    assert done.status_code == 303 and done.headers["location"] == f"/wallet/consents/{record_id}?withdrawn=1"
    assert served_status(client, platform, consent) == INVALID
    page = client.get(done.headers["location"])
    assert_page(page)
    assert "notice--success" in page.text and "철회함" in page.text and "동의 철회" in page.text
    assert f'href="/wallet/consents/{record_id}/withdraw"' not in page.text  # nothing left to withdraw

    # Withdrawing again (the form of an old tab) is a refusal in words, not an error.
    again = Browser(client).submit(form, action="withdraw")
    assert_page(again, 409)
    assert "철회할 수 없습니다" in again.text
    assert client.get(f"/wallet/consents/{record_id}/withdraw").status_code == 409


def test_withdraw_all_lists_what_it_withdraws_and_says_how_many(client, platform, browser) -> None:
    open_ids = [given_elsewhere(platform, MINJI), given_elsewhere(platform, MINJI, days=30)]
    ledger = consent_ledger(platform)
    denied = ledger.request(make_record(f"citizen:{MINJI}", "verifier:seoul-youth"))
    ledger.deny(denied)
    sign_in_as(client, browser, MINJI)

    listed = client.get("/wallet/consents")
    assert 'href="/wallet/consents/withdraw-all"' in listed.text and "거절함" in listed.text
    confirm = client.get("/wallet/consents/withdraw-all")
    assert_page(confirm)
    for record_id in open_ids:
        assert f'href="/wallet/consents/{record_id}"' in confirm.text
    assert denied not in confirm.text  # a denied consent is not withdrawn
    form = form_to(confirm, "/wallet/consents/withdraw-all")
    assert client.post("/wallet/consents/withdraw-all", data={}).status_code == 403

    done = Browser(client).submit(form, action="withdraw")
    assert done.status_code == 303 and done.headers["location"] == "/wallet/consents?withdrawn=2"
    page = client.get(done.headers["location"])
    assert_page(page)
    assert "notice--success" in page.text and "동의 2건을 철회했습니다" in page.text
    minji = api(client, platform)
    for odd in ("%C2%B2", "-1", "9" * 40, "x"):  # a link's count that is no count says nothing
        assert "notice--success" not in client.get(f"/wallet/consents?withdrawn={odd}").text
    states = {c["id"]: c["state"] for c in client.get("/wallet/api/consents", headers=minji).json()["consents"]}
    assert states == {**dict.fromkeys(open_ids, "withdrawn"), denied: "denied"}
    # Nothing left: the confirmation says so, and offers no form.
    nothing = client.get("/wallet/consents/withdraw-all")
    assert_page(nothing)
    assert not [f for f in forms_of(nothing.text) if f.action == "/wallet/consents/withdraw-all"]
    in_english(client)
    assert_page(client.get("/wallet/consents/withdraw-all"), lang="en")
    # The denied one was never granted: no receipt, said in words.
    no_receipt = client.get(f"/wallet/consents/{denied}/receipt")
    assert_page(no_receipt, 404, lang="en")
    assert "never granted" in no_receipt.text


def test_the_receipt_downloads_and_its_check_passes(client, platform, browser) -> None:
    record_id = present_youth_allowance(client, platform, api(client, platform), MINJI)
    sign_in_as(client, browser, MINJI)

    download = client.get(f"/wallet/consents/{record_id}/receipt")
    assert download.status_code == 200 and download.headers["content-type"] == "application/jwt"
    assert download.headers["content-disposition"] == f'attachment; filename="consent-receipt-{record_id}.jwt"'
    assert download.headers["cache-control"] == "no-store" and download.text.count(".") == 2
    api_copy = client.get(f"/wallet/api/consents/{record_id}/receipt", headers=api(client, platform))
    assert download.text == api_copy.text  # the same receipt as the API gives

    detail = client.get(f"/wallet/consents/{record_id}")
    form = form_to(detail, f"/wallet/consents/{record_id}/receipt-check")
    assert client.post(form.action, data={}).status_code == 403
    result = Browser(client).submit(form)
    assert_page(result)
    assert result.text.count("통과") == 8 and "실패" not in result.text  # each check, by its label
    assert "영수증 서명" in result.text and "현재 로그와의 일관성" in result.text
    assert "진짜 영수증입니다" in result.text  # the verdict in words

    in_english(client)
    result = Browser(client).submit(form)
    assert_page(result, lang="en")
    assert "Receipt signature" in result.text and result.text.count("Passed") == 8
    assert "The receipt is genuine." in result.text


def test_the_ledger_unreachable_is_a_clear_page(client, app, platform, browser) -> None:
    record_id = given_elsewhere(platform, MINJI)
    sign_in_as(client, browser, MINJI)
    form = form_to(client.get(f"/wallet/consents/{record_id}"), f"/wallet/consents/{record_id}/receipt-check")
    consents = app.state.wallet.consents
    reachable, consents.http = consents.http, httpx.Client(transport=Hosts({}))
    try:
        answer = Browser(client).submit(form)
    finally:
        consents.http = reachable
    assert_page(answer, 502)
    assert "동의 원장에 연결할 수 없어" in answer.text and "Traceback" not in answer.text


def test_citizen_b_never_reaches_citizen_as_consents(client, platform, browser) -> None:
    record_id = given_elsewhere(platform, MINJI)
    minji = api(client, platform)
    before = client.get(f"/wallet/api/consents/{record_id}", headers=minji).json()
    sign_in_as(client, browser, JUNHO)

    empty = client.get("/wallet/consents")
    assert_page(empty)
    assert record_id not in empty.text and "/wallet/consents/withdraw-all" not in empty.text
    assert "아직 한 동의가 없습니다" in empty.text  # the empty state, in words
    token = forms_of(empty.text)[0].fields["csrftoken"]
    answers = []
    for candidate in (record_id, str(uuid.uuid4()), "not-a-uuid"):
        for method, path in (("GET", ""), ("GET", "/withdraw"), ("POST", "/withdraw"), ("GET", "/receipt")):
            data = {"csrftoken": token, "action": "withdraw"} if method == "POST" else None
            page = client.request(method, f"/wallet/consents/{candidate}{path}", data=data)
            assert_page(page, 404)
            answers.append(text_of(page))
        check = client.post(f"/wallet/consents/{candidate}/receipt-check", data={"csrftoken": token})
        assert_page(check, 404)
    assert len(set(answers)) == 1  # her id answers him exactly as an id nobody has
    # Withdrawing "all" withdraws his (none), never hers.
    done = client.post("/wallet/consents/withdraw-all", data={"csrftoken": token}, follow_redirects=False)
    assert done.headers["location"] == "/wallet/consents?withdrawn=0"
    assert client.get(f"/wallet/api/consents/{record_id}", headers=minji).json()["state"] == "granted"
    assert served_status(client, platform, before) == VALID


def test_signed_out_the_pages_send_her_to_sign_in_and_back(client, platform) -> None:
    record_id = given_elsewhere(platform, MINJI)
    for path in ("/wallet/consents", f"/wallet/consents/{record_id}", f"/wallet/consents/{record_id}/receipt"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/wallet/auth/login?return_to=")
    # A form posted signed out (the CSRF token of the home page's language form) changes nothing.
    token = forms_of(client.get("/wallet").text)[0].fields["csrftoken"]
    answer = client.post(f"/wallet/consents/{record_id}/withdraw", data={"csrftoken": token}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/wallet/auth/login?return_to=")
    minji = api(client, platform)
    assert client.get(f"/wallet/api/consents/{record_id}", headers=minji).json()["state"] == "granted"
