"""The services-for-me page and Apply, in a citizen's browser: credentials really issued by our
agencies and received into her vault, the list worked out in the wallet (nothing sent), Apply
opening the verifier's check on the consent screen, and her answer completing it."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import httpx

import catalog
from eligibility.dcql import derive_dcql
from eligibility.policies import load_policies
from tests.auth.conftest import JUNHO, MINJI
from tests.auth.spec_rp import Browser, forms_of
from tests.conftest import bearer_for
from tests.verifiers.conftest import birth_date_for_age, youth_claims
from tests.wallet.test_services_for_me import ALLOWANCE, Recording, citizen_with
from tests.wallet.test_wallet_pages import outcome_of, present_form, sign_in
from wallet.consent_view import BINDING_CLAIM_NAME

APPLY = f"/wallet/services/{ALLOWANCE}/apply"
SIGN_IN_AND_BACK = "/wallet/auth/login?return_to=/wallet/services"


def section(page: str, service_id: str) -> str:
    start = page.index(f'<section id="service-{service_id}"')
    return page[start : page.index("</section>", start)]


def group_of(page: str, service_id: str) -> str:
    """The heading group (eligible, close, not_eligible) a service is listed under."""
    at = page.index(f'<section id="service-{service_id}"')
    headings = [(page.find(f'<h2 id="{group}"'), group) for group in ("eligible", "close", "not_eligible")]
    return max((where, group) for where, group in headings if -1 < where < at)[1]


def apply_form(page: str, service_id: str = ALLOWANCE):
    (form,) = [f for f in forms_of(page) if f.action == f"/wallet/services/{service_id}/apply"]
    return form


def policy_claims() -> list[tuple[str, list[set[str]]]]:
    """What the verifier's query for the youth allowance asks (eligibility/dcql.py), as the consent
    screen names it: (credential name, the claim-name sets any one of which answers it)."""
    types = catalog.credential_types()
    by_vct = {t.vct: t for t in types.values()}
    query = derive_dcql(load_policies(catalog.services(), types)[ALLOWANCE], types)
    asked = []
    for credential in query["credentials"]:
        ctype = by_vct[credential["meta"]["vct_values"][0]]
        names = {
            c["id"]: BINDING_CLAIM_NAME["ko"] if c["path"] == ["sub"] else ctype.claims[c["path"][0]].display["ko"]
            for c in credential["claims"]
        }
        sets = credential.get("claim_sets") or [list(names)]
        asked.append((ctype.name["ko"], [{names[i] for i in claim_set} for claim_set in sets]))
    return asked


def shown_claims(page: str) -> dict[str, set[str]]:
    """The consent screen's "what would be shared": credential name -> the claim names listed."""
    form = page[page.index('<form method="post" action="/wallet/present"') :]
    form = form[: form.index("</form>")]
    shown = {}
    for chunk in form.split("<h3>")[1:]:
        name = html.unescape(chunk[: chunk.index("</h3>")])
        shown[name] = {html.unescape(n) for n in re.findall(r"<dt>(.*?)</dt>", chunk)}
    return shown


def test_the_list_says_she_qualifies_for_the_youth_allowance_and_nothing_left_the_wallet(
    client, platform, browser, monkeypatch
) -> None:
    citizen_with(client, platform, MINJI, youth_claims())
    assert sign_in(client, browser, "/wallet/services") == "/wallet/services"
    recording = Recording(platform.http._transport)
    monkeypatch.setattr(platform.http, "_transport", recording)
    page = client.get("/wallet/services")
    assert recording.requests == [], "the list sent something out of the wallet"
    assert page.status_code == 200 and 'lang="ko"' in page.text and "<title>나를 위한 서비스" in page.text
    assert "누구에게도 아무것도 보내지 않았습니다" in page.text
    text = page.text
    assert text.index('<h2 id="eligible"') < text.index('<h2 id="close"') < text.index('<h2 id="not_eligible"')
    assert group_of(text, ALLOWANCE) == "eligible"
    allowance = section(text, ALLOWANCE)
    assert "서울 청년수당" in allowance and "월 50만원" in allowance and "자격 됨" in allowance
    assert apply_form(text).buttons == [("action", "apply")]

    client.cookies.set("seoul_wallet_lang", "en", domain="testserver.local", path="/wallet")
    page = client.get("/wallet/services")
    assert page.status_code == 200 and 'lang="en"' in page.text
    assert "Nothing was sent to anyone" in page.text and "Services you qualify for" in page.text
    assert "Seoul Youth Allowance" in section(page.text, ALLOWANCE)


def test_apply_opens_the_consent_screen_asking_exactly_the_policy_and_sharing_completes_the_check(
    client, platform, browser
) -> None:
    citizen_with(client, platform, MINJI, youth_claims())
    sign_in(client, browser, "/wallet/services")
    applied = Browser(client).submit(apply_form(client.get("/wallet/services").text), action="apply")
    assert applied.status_code == 303 and applied.headers["location"].startswith("/wallet/present?client_id=")
    screen = client.get(applied.headers["location"])
    assert screen.status_code == 200 and "서울 청년수당" in screen.text
    shown = shown_claims(screen.text)
    asked = policy_claims()
    assert len(shown) == len(asked)
    for name, claim_sets in asked:
        assert shown[name] in claim_sets, (name, shown[name], claim_sets)  # exactly one answer to the query

    request_uri = parse_qs(urlsplit(applied.headers["location"]).query)["request_uri"][0]
    request_id = urlsplit(request_uri).path.split("/")[-2]
    _, outcome = outcome_of(client, Browser(client).submit(present_form(screen.text), action="share"))
    assert "정보를 보냈습니다" in outcome and "받아들였습니다" in outcome
    backend = bearer_for(client, platform, "verifier:seoul-youth", ["presentations:request"])
    result = client.get(f"/verifiers/requests/{request_id}", headers=backend).json()
    assert result["status"] == "answered" and result["eligible"] is True
    assert result["subject"] == platform.subjects.for_verifier("seoul-youth", MINJI)  # her, bound to the check


def test_apply_sends_the_verifier_a_one_minute_token_for_that_one_purpose(
    client, platform, browser, monkeypatch
) -> None:
    citizen_with(client, platform, MINJI, youth_claims())
    sign_in(client, browser, "/wallet/services")
    sent: list[str] = []
    inner = platform.http._transport

    class Recording(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith("/apply"):
                sent.append(request.headers["authorization"].removeprefix("Bearer "))
            return inner.handle_request(request)

    monkeypatch.setattr(platform.http, "_transport", Recording())
    applied = Browser(client).submit(apply_form(client.get("/wallet/services").text), action="apply")
    assert applied.status_code == 303 and applied.headers["location"].startswith("/wallet/present?")
    (token,) = sent
    claims = platform.tokens.validate(token, ["services:apply"]).claims
    assert claims["sub"] == f"citizen:{MINJI}" and claims["scope"] == "services:apply"
    assert claims["exp"] - claims["iat"] <= 60  # it could not read or withdraw her consents, nor outlive the call


def test_a_year_too_old_is_listed_as_not_eligible_because_of_age(client, platform, browser) -> None:
    too_old = youth_claims(resident_registration={"birth_date": birth_date_for_age(35)})
    citizen_with(client, platform, JUNHO, too_old)
    sign_in(client, browser, "/wallet/services", citizen=JUNHO)
    page = client.get("/wallet/services").text
    assert group_of(page, ALLOWANCE) == "not_eligible"
    allowance = section(page, ALLOWANCE)
    assert "자격 안 됨" in allowance and "만 35세" in allowance and "자격이 되지 않는 이유" in allowance
    assert not [f for f in forms_of(page) if f.action == APPLY]  # nothing to apply for


def test_a_missing_or_revoked_credential_is_named_with_its_agency_and_applying_shows_what_is_missing(
    client, platform, browser
) -> None:
    minji = citizen_with(client, platform, MINJI, youth_claims())
    (residency,) = [
        c
        for c in client.get("/wallet/api/credentials", headers=minji).json()["credentials"]
        if c["configuration_id"] == "resident_registration"
    ]
    client.app.state.wallet.vault.set_status(residency["id"], "revoked")
    sign_in(client, browser, "/wallet/services")
    page = client.get("/wallet/services").text
    assert group_of(page, ALLOWANCE) == "close"
    allowance = section(page, ALLOWANCE)
    assert "주민등록 정보" in allowance and "행정안전부" in allowance and "발급 기관이 취소했습니다" in allowance
    assert 'href="/wallet/receive"' in allowance
    applied = Browser(client).submit(apply_form(page), action="apply")
    screen = client.get(applied.headers["location"])
    assert screen.status_code == 200 and "주민등록 정보" in screen.text
    assert present_form(screen.text).buttons == [("action", "decline")]  # only "tell them you decline"


def test_apply_needs_the_csrf_token_and_a_refusal_is_told_in_words(client, platform, browser, monkeypatch) -> None:
    citizen_with(client, platform, MINJI, youth_claims())
    sign_in(client, browser, "/wallet/services")
    form = apply_form(client.get("/wallet/services").text)
    assert client.post(APPLY, data={"action": "apply"}, follow_redirects=False).status_code == 403
    unknown = client.post("/wallet/services/no_such_service/apply", data=form.fields | {"action": "apply"})
    assert unknown.status_code == 404 and "서비스를 찾을 수 없습니다" in unknown.text
    # The verifier does not answer as it should: her page says so, and nothing opens.
    monkeypatch.setattr(client.app.state.wallet.services, "public_url", f"{platform.settings.public_url}/nowhere")
    refused = Browser(client).submit(form, action="apply")
    assert refused.status_code == 409 and "서비스 기관이 신청을 받지 않았습니다" in refused.text
    assert 'href="/wallet/services"' in refused.text


def test_signed_out_the_list_sends_her_to_sign_in_and_back(client) -> None:
    answer = client.get("/wallet/services", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/wallet/auth/login?return_to=%2Fwallet%2Fservices"
