"""The "my data" pages in a citizen's browser: what the export holds and its download (the same
document as the JSON API's), and deleting the account after typing the word shown: a wrong word
deletes nothing and says so with the error summary; the right one erases everything, ends the
session, and the services' consent status then says INVALID."""

from __future__ import annotations

import json

import pytest

from tests.auth.conftest import JUNHO, MINJI
from tests.auth.spec_rp import Browser, forms_of
from tests.wallet.test_my_consents import present_youth_allowance, served_status
from tests.wallet.test_pages_consents import api, assert_page, form_to, in_english, sign_in_as
from tests.wallet.test_wallet_app import BIRTH_DATE
from vc.status_list import INVALID, VALID

DELETE = "/wallet/my-data/delete"


def test_the_page_says_what_the_export_holds_and_the_download_is_the_apis_document(client, platform, browser) -> None:
    record_id = present_youth_allowance(client, platform, api(client, platform), MINJI)
    sign_in_as(client, browser, MINJI, "/wallet/my-data")

    page = client.get("/wallet/my-data")
    assert_page(page)
    assert 'href="/wallet/my-data/export"' in page.text and f'href="{DELETE}"' in page.text
    assert "(6개)" in page.text and "(1건)" in page.text  # six credentials, one consent
    assert BIRTH_DATE not in page.text  # the page describes the file; the values are in the file only

    download = client.get("/wallet/my-data/export")
    assert download.status_code == 200 and download.headers["content-type"].startswith("application/json")
    disposition = download.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="seoul-wallet-') and disposition.endswith('.json"')
    assert download.headers["cache-control"] == "no-store"
    document = json.loads(download.content)
    assert document["citizen"] == MINJI and len(document["credentials"]) == 6
    (residency,) = [c for c in document["credentials"] if c["configuration_id"] == "resident_registration"]
    assert residency["claims"]["birth_date"] == BIRTH_DATE
    assert [c["id"] for c in document["consents"]] == [record_id] and document["consents"][0]["receipt"]
    assert len(document["history"]) == 7 and document["inbox"]
    from_api = json.loads(client.get("/wallet/api/export", headers=api(client, platform)).content)
    assert {k: v for k, v in from_api.items() if k != "exported_at"} == {
        k: v for k, v in document.items() if k != "exported_at"
    }

    in_english(client)
    page = client.get("/wallet/my-data")
    assert_page(page, lang="en")
    assert "What the download holds" in page.text and "(6 credentials)" in page.text


def test_a_wrong_or_empty_word_deletes_nothing_and_shows_the_error(client, platform, browser) -> None:
    minji = api(client, platform)
    present_youth_allowance(client, platform, minji, MINJI)
    sign_in_as(client, browser, MINJI, DELETE)

    confirm = client.get(DELETE)
    assert_page(confirm)
    assert "되돌릴 수 없습니다" in confirm.text
    assert 'id="confirm"' in confirm.text and "삭제를 입력하세요" in confirm.text  # the word to type
    assert 'href="/wallet/my-data/export"' in confirm.text  # download first
    form = form_to(confirm, DELETE)
    assert ("action", "delete") in form.buttons and 'class="button--warning"' in confirm.text
    assert client.post(DELETE, data={"confirm": "삭제"}).status_code == 403  # no CSRF token

    for word in ("", "   ", "지우기", "DELETE ME"):
        answer = Browser(client).submit(form, confirm=word, action="delete")
        assert_page(answer, 400)
        assert "<title>오류: " in answer.text and 'class="error-summary"' in answer.text
        assert 'href="#confirm"' in answer.text and 'aria-invalid="true"' in answer.text
        assert 'aria-describedby="confirm-hint confirm-error"' in answer.text
    assert len(client.get("/wallet/api/credentials", headers=minji).json()["credentials"]) == 6
    assert client.get("/wallet").status_code == 200 and MINJI in client.get("/wallet").text  # still signed in

    in_english(client)
    answer = Browser(client).submit(form, confirm="nope", action="delete")
    assert_page(answer, 400, lang="en")
    assert "<title>Error: " in answer.text and "type DELETE" in answer.text


@pytest.mark.parametrize("word", ["삭제", " delete ", "DELETE", "Delete"])
def test_the_right_word_erases_everything_and_ends_the_session(client, app, platform, browser, word) -> None:
    minji = api(client, platform)
    record_id = present_youth_allowance(client, platform, minji, MINJI)
    consent = client.get(f"/wallet/api/consents/{record_id}", headers=minji).json()
    assert served_status(client, platform, consent) == VALID
    sign_in_as(client, browser, MINJI, DELETE)

    form = form_to(client.get(DELETE), DELETE)
    done = Browser(client).submit(form, confirm=word, action="delete")
    assert done.status_code == 303 and done.headers["location"] == "/wallet?deleted=1"
    home = client.get(done.headers["location"])
    assert_page(home)
    assert MINJI not in home.text and 'href="/wallet/auth/login"' in home.text  # signed out
    assert client.get("/wallet/consents", follow_redirects=False).status_code == 303  # to sign in
    services = app.state.wallet
    assert services.vault.list(MINJI) == [] and services.history.list(MINJI) == []
    assert services.inbox.list(MINJI, refresh=False) == [] and services.consents.list(MINJI) == []
    assert served_status(client, platform, consent) == INVALID


def test_citizen_b_deletes_only_his_own_account(client, app, platform, browser) -> None:
    minji = api(client, platform)
    present_youth_allowance(client, platform, minji, MINJI)
    sign_in_as(client, browser, JUNHO, DELETE)
    assert MINJI not in client.get("/wallet/my-data").text
    export = json.loads(client.get("/wallet/my-data/export").content)
    assert export["citizen"] == JUNHO and export["credentials"] == [] and export["consents"] == []
    Browser(client).submit(form_to(client.get(DELETE), DELETE), confirm="삭제", action="delete")
    assert len(app.state.wallet.vault.list(MINJI)) == 6
    assert len(client.get("/wallet/api/consents", headers=minji).json()["consents"]) == 1


def test_signed_out_the_pages_send_her_to_sign_in(client) -> None:
    for path in ("/wallet/my-data", "/wallet/my-data/export", DELETE):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/wallet/auth/login?return_to=")
    token = forms_of(client.get("/wallet").text)[0].fields["csrftoken"]
    answer = client.post(DELETE, data={"csrftoken": token, "confirm": "삭제"}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/wallet/auth/login?return_to=")
