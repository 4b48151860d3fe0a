"""The service console: an officer of the Seoul youth division opens a check for an applicant, the
citizen answers it with her wallet (its JSON API), and the officer sees the decision with each
condition held, not held or unknown, in words."""

from __future__ import annotations

import html
import re

from tests.auth.conftest import MINJI
from tests.conftest import bearer_for
from tests.consoles.conftest import LEARN_OFFICER, YOUTH_OFFICER, submit
from tests.verifiers.conftest import birth_date_for_age, youth_claims
from tests.wallet.test_wallet_app import offer_links, receive_all, share


def open_check(officer_client, **values: str):
    page = officer_client.get("/consoles/service/checks/new")
    assert page.status_code == 200, page.text
    return submit(
        officer_client, page.text, "/consoles/service/checks", **{"service": "seoul_youth_allowance", **values}
    )


def link_of(page: str) -> str:
    (link,) = re.findall(r'<code class="identifier">(openid4vp://[^<]+)</code>', page)
    return html.unescape(link)


def check_id_of(page: str) -> str:
    (request_id,) = {m for m in re.findall(r'href="/consoles/service/checks/([^"/]+)"', page) if m != "new"}
    return request_id


def test_an_officer_opens_a_check_and_sees_the_decision_with_its_conditions(client, platform, officer) -> None:
    youth = officer(YOUTH_OFFICER)
    home = youth.get("/consoles/service")
    assert (
        home.status_code == 200 and "서울시 청년사업담당관" in home.text and "연 자격 확인이 아직 없습니다" in home.text
    )
    applicant = platform.subjects.for_verifier("seoul-youth", MINJI)
    opened = open_check(youth, applicant=applicant)
    assert opened.status_code == 200, opened.text
    assert '<div class="qr" role="img"' in opened.text and "<svg" in opened.text
    assert 'href="/wallet/present?client_id=' in opened.text and applicant in opened.text
    request_id, link = check_id_of(opened.text), link_of(opened.text)
    pending = youth.get(f"/consoles/service/checks/{request_id}")
    assert "신청자 응답 대기" in pending.text and "아직 응답이 없습니다" in pending.text

    token = bearer_for(client, platform, f"citizen:{MINJI}", ["wallet"])
    receive_all(client, token, offer_links(client, platform, MINJI, youth_claims()))
    share(client, token, link)

    listed = youth.get("/consoles/service")
    assert f'href="/consoles/service/checks/{request_id}"' in listed.text
    assert "tag--eligible" in listed.text and "응답함" in listed.text and "미충족 0" in listed.text
    decision = youth.get(f"/consoles/service/checks/{request_id}")
    assert decision.status_code == 200 and "자격 있음" in decision.text and applicant in decision.text
    assert "공개된 키로 확인했습니다" in decision.text  # the signed decision was verified
    assert "<strong>충족</strong>: 만 19세 이상 34세 이하" in decision.text  # each condition in words
    assert "<strong>미충족</strong>" not in decision.text
    youth.cookies.set("seoul_wallet_lang", "en", domain="testserver.local", path="/consoles")
    en = youth.get(f"/consoles/service/checks/{request_id}")
    assert 'lang="en"' in en.text and "<strong>Held</strong>: aged 19 to 34" in en.text


def test_a_failing_condition_is_named(client, platform, officer) -> None:
    youth = officer(YOUTH_OFFICER)
    request_id_page = open_check(youth)
    link = link_of(request_id_page.text)
    old = youth_claims(resident_registration={"birth_date": birth_date_for_age(40)})
    token = bearer_for(client, platform, f"citizen:{MINJI}", ["wallet"])
    receive_all(client, token, offer_links(client, platform, MINJI, old))
    share(client, token, link)
    decision = youth.get(f"/consoles/service/checks/{check_id_of(request_id_page.text)}")
    assert "자격 없음" in decision.text and "<strong>미충족</strong>: 만 19세 이상 34세 이하" in decision.text
    # No applicant was named: the page says whom the check was for, and the decision names the subject.
    assert platform.subjects.for_verifier("seoul-youth", MINJI) in decision.text


def test_an_applicant_that_is_not_a_subject_is_refused_at_its_field(officer) -> None:
    youth = officer(YOUTH_OFFICER)
    refused = open_check(youth, applicant="citizen-minji-0001")
    assert refused.status_code == 400 and 'href="#applicant"' in refused.text
    assert 'id="applicant-error"' in refused.text and 'value="citizen-minji-0001"' in refused.text


def test_one_service_never_sees_anothers_checks(officer) -> None:
    youth, learn = officer(YOUTH_OFFICER), officer(LEARN_OFFICER)
    request_id = check_id_of(open_check(youth).text)
    assert learn.get(f"/consoles/service/checks/{request_id}").status_code == 404
    assert request_id not in learn.get("/consoles/service").text
    # Seoul Learn's own services only: the youth allowance is not among its choices, and asking for it
    # anyway opens nothing.
    form = learn.get("/consoles/service/checks/new").text
    assert 'value="seoul_learn"' in form and "seoul_youth_allowance" not in form
    forced = submit(learn, form, "/consoles/service/checks", service="seoul_youth_allowance")
    assert forced.status_code == 400 and 'href="#service-1"' in forced.text
