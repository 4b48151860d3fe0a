"""The history and inbox pages in a citizen's browser: every issuance and presentation with its
party, credential types and claim names (never a value), paged; every inbox item, each marked read
with its small form. Citizen B never reaches citizen A's items."""

from __future__ import annotations

import re

from tests.auth.conftest import JUNHO, MINJI
from tests.auth.spec_rp import Browser, forms_of
from tests.verifiers.conftest import youth_claims
from tests.wallet.test_my_consents import present_youth_allowance
from tests.wallet.test_pages_consents import api, assert_page, form_to, in_english, sign_in_as, text_of
from tests.wallet.test_wallet_app import BIRTH_DATE, offer_links, receive_all
from wallet.web import activity

OLDER = re.compile(r'href="(/wallet/history\?before=[^"]+)" rel="next"')


def inbox_of(client, headers) -> dict:
    answer = client.get("/wallet/api/inbox", headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


def read_forms(page) -> list:
    return [f for f in forms_of(page.text) if f.action.startswith("/wallet/inbox/") and f.action.endswith("/read")]


def test_the_history_shows_the_issuance_and_the_presentation_without_a_value(client, platform, browser) -> None:
    record_id = present_youth_allowance(client, platform, api(client, platform), MINJI)
    sign_in_as(client, browser, MINJI, "/wallet/history")

    page = client.get("/wallet/history")
    assert_page(page)
    assert BIRTH_DATE not in page.text and "2026-11-01" not in page.text  # no claim value, anywhere
    words = text_of(page)
    assert words.count("에서 받음") == 6  # the six credentials received, each from its agency
    assert "행정안전부" in words and f"{platform.settings.public_url}/issuers/mois" in words
    assert "주민등록 정보" in words and "생년월일" in words  # type and claim, by their names
    assert "에 제공함" in words and "x509_san_dns:" in words  # shared, with the verifier's full client id
    assert "요청한 정보" in words and "제공한 정보" in words and "서비스가 받아들였습니다" in words
    assert f'href="/wallet/consents/{record_id}"' in page.text
    assert not OLDER.findall(page.text)  # one page

    in_english(client)
    page = client.get("/wallet/history")
    assert_page(page, lang="en")
    words = text_of(page)
    assert "Resident registration" in words and "Date of birth" in words and "Shared with" in words
    assert BIRTH_DATE not in page.text


def test_the_history_pages_with_before(client, platform, browser, monkeypatch) -> None:
    receive_all(client, api(client, platform), offer_links(client, platform, MINJI, youth_claims()))
    monkeypatch.setattr(activity, "HISTORY_PAGE", 4)
    sign_in_as(client, browser, MINJI, "/wallet/history")

    first = client.get("/wallet/history")
    assert_page(first)
    assert text_of(first).count("에서 받음") == 4
    (link,) = OLDER.findall(first.text)
    second = client.get(link)
    assert_page(second)
    assert text_of(second).count("에서 받음") == 2 and not OLDER.findall(second.text)
    assert 'href="/wallet/history"' in second.text  # back to the newest
    assert client.get("/wallet/history?before=%3Cscript%3E").status_code == 400


def test_the_inbox_lists_the_new_credentials_and_marks_one_read(client, platform, browser) -> None:
    minji = api(client, platform)
    receive_all(client, minji, offer_links(client, platform, MINJI, youth_claims()))
    sign_in_as(client, browser, MINJI, "/wallet/inbox")

    page = client.get("/wallet/inbox")
    assert_page(page)
    assert page.text.count("증명서를 받았습니다") == 6 and "주민등록 정보" in page.text
    unread = inbox_of(client, minji)["unread"]
    forms = read_forms(page)
    assert len(forms) == unread >= 6
    assert client.post(forms[0].action, data={}).status_code == 403  # no CSRF token

    done = Browser(client).submit(forms[0])
    assert done.status_code == 303 and done.headers["location"] == "/wallet/inbox"
    item_id = forms[0].action.split("/")[3]
    items = {i["id"]: i for i in inbox_of(client, minji)["items"]}
    assert items[item_id]["read_at"] is not None and inbox_of(client, minji)["unread"] == unread - 1
    again = client.get("/wallet/inbox")
    assert len(read_forms(again)) == unread - 1 and forms[0].action not in again.text

    in_english(client)
    page = client.get("/wallet/inbox")
    assert_page(page, lang="en")
    assert "You received a credential" in page.text and "Mark as read" in page.text


def test_citizen_b_cannot_mark_citizen_as_inbox_item(client, platform, browser) -> None:
    minji = api(client, platform)
    receive_all(
        client,
        minji,
        offer_links(client, platform, MINJI, {"resident_registration": youth_claims()["resident_registration"]}),
    )
    (item,) = [i for i in inbox_of(client, minji)["items"] if i["kind"] == "credential_received"]
    sign_in_as(client, browser, JUNHO, "/wallet/inbox")

    page = client.get("/wallet/inbox")
    assert_page(page)
    assert item["id"] not in page.text and "주민등록 정보" not in page.text
    token = forms_of(page.text)[0].fields["csrftoken"]
    answers = []
    for candidate in (item["id"], "no-such-item", "a" * 40):
        answer = client.post(f"/wallet/inbox/{candidate}/read", data={"csrftoken": token})
        assert_page(answer, 404)
        answers.append(text_of(answer))
    assert len(set(answers)) == 1  # her item answers him as an unknown one
    (still,) = [i for i in inbox_of(client, minji)["items"] if i["id"] == item["id"]]
    assert still["read_at"] is None
    # His history is his own: empty.
    history = client.get("/wallet/history")
    assert_page(history)
    assert "주민등록 정보" not in history.text


def test_signed_out_the_pages_send_her_to_sign_in(client) -> None:
    for path in ("/wallet/history", "/wallet/inbox"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/wallet/auth/login?return_to=")
    token = forms_of(client.get("/wallet").text)[0].fields["csrftoken"]
    answer = client.post("/wallet/inbox/x/read", data={"csrftoken": token}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/wallet/inbox"


def test_an_empty_history_and_inbox_say_so(client, browser) -> None:
    sign_in_as(client, browser, MINJI, "/wallet/history")
    history = client.get("/wallet/history")
    assert_page(history)
    assert "아직 기록이 없습니다" in history.text
    inbox = client.get("/wallet/inbox")
    assert_page(inbox)
    assert not read_forms(inbox)
    form_to(inbox, "/wallet/language")  # the page's only form: the language switch
