"""The credentials pages in a citizen's browser: her list, one credential with every claim (names
and values as the issuer and the catalog show them), and removing one after a confirmation page.
Another citizen's credential answers exactly like one that does not exist."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.auth.conftest import JUNHO, MINJI
from tests.auth.spec_rp import Browser, forms_of
from tests.conftest import bearer_for
from tests.verifiers.conftest import youth_claims
from tests.wallet.test_pages_receive import assert_no_claim_value_in_urls, in_english, sign_in_as
from tests.wallet.test_wallet_app import offer_links, receive_all
from wallet.web.rendering import seoul_time

CLAIMS = youth_claims(welfare_status={"nbls_benefits": ["housing", "medical"], "near_poverty": False})
VALUES = ("1999-05-01", "11110", "2026-11-01", "housing", "medical")


def give(client, platform, citizen: str, *types: str) -> list[dict]:
    """Credentials of `types` issued to `citizen` and received through the JSON API (no page)."""
    token = bearer_for(client, platform, f"citizen:{citizen}", ["wallet"])
    return receive_all(client, token, offer_links(client, platform, citizen, {t: CLAIMS[t] for t in types}))


def held(client, platform, citizen: str = MINJI) -> list[str]:
    token = bearer_for(client, platform, f"citizen:{citizen}", ["wallet"])
    return [c["id"] for c in client.get("/wallet/api/credentials", headers=token).json()["credentials"]]


def main_of(page: str) -> str:
    return page[page.index("<main") : page.index("</main>")]


def test_signed_out_every_page_sends_her_to_sign_in(client) -> None:
    for path in ("/wallet/credentials", "/wallet/credentials/abc", "/wallet/credentials/abc/remove"):
        page = client.get(path, follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].startswith("/wallet/auth/login?return_to=")


def test_an_empty_wallet_links_to_receiving(client) -> None:
    sign_in_as(client, MINJI)
    page = client.get("/wallet/credentials")
    assert page.status_code == 200 and 'lang="ko"' in page.text and "<h1>내 증명서</h1>" in page.text
    assert "아직 증명서가 없습니다" in page.text and 'href="/wallet/receive"' in page.text
    in_english(client)
    page = client.get("/wallet/credentials")
    assert page.status_code == 200 and 'lang="en"' in page.text and "You have no credentials yet" in page.text


def test_the_list_shows_name_issuer_status_and_validity(client, platform) -> None:
    stored = give(client, platform, MINJI, "resident_registration", "welfare_status")
    sign_in_as(client, MINJI)
    page = client.get("/wallet/credentials")
    assert page.status_code == 200
    for credential in stored:
        assert f'href="/wallet/credentials/{credential["id"]}"' in page.text
        assert seoul_time(credential["expires_at"], with_time=False) in page.text
    assert "주민등록 정보" in page.text and "행정안전부" in page.text and "복지 수급 자격" in page.text
    assert page.text.count('<span class="tag tag--valid">유효</span>') == 2
    assert_no_claim_value_in_urls(page.text, VALUES)
    in_english(client)
    page = client.get("/wallet/credentials")
    assert "Resident registration" in page.text and "Ministry of the Interior and Safety" in page.text
    assert "Valid until" in page.text and ">Valid</span>" in page.text


def test_the_detail_shows_every_claim_with_its_name_and_value(app, client, platform) -> None:
    resident, welfare, programmes = give(
        client, platform, MINJI, "resident_registration", "welfare_status", "program_participation"
    )
    sign_in_as(client, MINJI)
    page = client.get(f"/wallet/credentials/{resident['id']}")
    assert page.status_code == 200 and "<h1>주민등록 정보</h1>" in page.text
    body = main_of(page.text)
    assert "<dt>생년월일</dt>" in body and "1999-05-01" in body
    assert "<dt>국적·체류 구분</dt>" in body and "대한민국 국민" in body  # an enum, with its label
    assert "<dt>거주 시·도</dt>" in body and "서울특별시" in body  # a code, with its label
    assert "http://127.0.0.1:8000/issuers/mois</code>" in body and "행정안전부" in body
    for label in ("발급일시", "받은 일시", "유효기간", "상태 마지막 확인"):
        assert f"<dt>{label}</dt>" in body
    assert seoul_time(resident["received_at"]) in body and seoul_time(resident["expires_at"]) in body
    assert "<title>주민등록 정보 · 서울지갑</title>" in page.text
    assert_no_claim_value_in_urls(page.text, VALUES)

    page = client.get(f"/wallet/credentials/{welfare['id']}")
    body = main_of(page.text)
    assert re.search(r"<dt>기초생활수급 급여</dt>\s*<dd>\s*<ul><li>주거급여</li><li>의료급여</li></ul>", body)
    assert re.search(r"<dt>차상위계층</dt>\s*<dd>아니요", body)  # a boolean, in words
    assert "housing" not in body  # the catalog's label, not the code
    assert_no_claim_value_in_urls(page.text, VALUES)
    body = main_of(client.get(f"/wallet/credentials/{programmes['id']}").text)
    assert re.search(r"<dt>현재 참여 중인 사업</dt>\s*<dd>없음</dd>", body)  # an empty list, said so

    in_english(client)
    body = main_of(client.get(f"/wallet/credentials/{welfare['id']}").text)
    assert "<li>Housing benefit</li>" in body and re.search(r"<dt>Near-poverty group</dt>\s*<dd>No", body)
    body = main_of(client.get(f"/wallet/credentials/{resident['id']}").text)
    assert "<dt>Date of birth</dt>" in body and "Korean national" in body and "Status last checked" in body

    app.state.wallet_pages.services.vault.set_status(resident["id"], "revoked")
    body = main_of(client.get(f"/wallet/credentials/{resident['id']}").text)
    assert "tag--revoked" in body and "cannot be shared now" in body


def test_removing_asks_first_then_removes_with_a_notice(client, platform) -> None:
    resident, welfare = give(client, platform, MINJI, "resident_registration", "welfare_status")
    sign_in_as(client, MINJI)
    detail = client.get(f"/wallet/credentials/{resident['id']}")
    assert f'href="/wallet/credentials/{resident["id"]}/remove"' in detail.text
    confirm = client.get(f"/wallet/credentials/{resident['id']}/remove")
    assert confirm.status_code == 200 and "주민등록 정보 증명서를 삭제하시겠습니까?" in confirm.text
    assert "되돌릴 수 없으며" in confirm.text
    (form,) = [f for f in forms_of(confirm.text) if f.action == f"/wallet/credentials/{resident['id']}/remove"]
    assert form.buttons == [("action", "remove")] and 'class="button--warning"' in confirm.text
    assert len(held(client, platform)) == 2  # looking at the confirmation removes nothing

    refused = client.post(form.action, data={"action": "remove"})  # no CSRF token
    assert refused.status_code == 403 and len(held(client, platform)) == 2

    removed = Browser(client).submit(form, action="remove")
    assert removed.status_code == 303 and removed.headers["location"] == "/wallet/credentials?removed=1"
    page = client.get(removed.headers["location"])
    assert page.status_code == 200 and "증명서를 지갑에서 삭제했습니다" in page.text
    assert f"/wallet/credentials/{resident['id']}" not in page.text and "복지 수급 자격" in page.text
    assert held(client, platform) == [welfare["id"]]
    assert client.get(f"/wallet/credentials/{resident['id']}").status_code == 404
    assert Browser(client).submit(form, action="remove").status_code == 404  # already gone

    in_english(client)
    confirm = client.get(f"/wallet/credentials/{welfare['id']}/remove")
    assert confirm.status_code == 200 and 'lang="en"' in confirm.text and "Remove Welfare status?" in confirm.text
    Browser(client).submit(forms_of(confirm.text)[-1], action="remove")
    page = client.get("/wallet/credentials?removed=1")
    assert "The credential was removed from your wallet." in page.text and "You have no credentials yet" in page.text


def test_another_citizen_cannot_see_or_remove_her_credential(app, client, platform) -> None:
    (resident,) = give(client, platform, MINJI, "resident_registration")
    sign_in_as(client, MINJI)
    unknown = client.get("/wallet/credentials/no-such-credential")
    assert unknown.status_code == 404 and "증명서를 찾을 수 없습니다" in unknown.text

    other = TestClient(app)
    sign_in_as(other, JUNHO)
    listing = other.get("/wallet/credentials")
    assert listing.status_code == 200 and "아직 증명서가 없습니다" in listing.text
    assert resident["id"] not in listing.text
    for path in (f"/wallet/credentials/{resident['id']}", f"/wallet/credentials/{resident['id']}/remove"):
        page = other.get(path)
        assert page.status_code == 404 and "증명서를 찾을 수 없습니다" in page.text
        assert "1999-05-01" not in page.text and "주민등록 정보" not in page.text
    token = forms_of(listing.text)[-1].fields["csrftoken"]  # the sign-out form's: any form's token will do
    page = other.post(f"/wallet/credentials/{resident['id']}/remove", data={"csrftoken": token, "action": "remove"})
    assert page.status_code == 404 and "증명서를 찾을 수 없습니다" in page.text
    assert held(client, platform) == [resident["id"]]  # still hers
    assert held(client, platform, JUNHO) == []
