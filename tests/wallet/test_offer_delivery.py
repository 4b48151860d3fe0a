"""Offers delivered to a citizen's wallet inbox by the agency that made them
(`POST /wallet/offers/deliveries`): the citizen sees who offers what in her inbox, the item links
to the receive page, and the link receives the credential. An agency delivers only its own issuer's
offers, only an agency delivers, and a retried delivery is one item."""

from __future__ import annotations

import html
from urllib.parse import parse_qs, urlsplit

from tests.auth.conftest import MINJI
from tests.conftest import bearer_for
from tests.verifiers.conftest import youth_claims
from tests.wallet.test_pages_consents import api, assert_page, in_english, sign_in_as, text_of

DELIVERIES = "/wallet/offers/deliveries"
NEWCOMER = "citizen-offer-0001"  # no wallet account yet: the delivery opens one


def agency(client, platform, slug: str = "mois") -> dict[str, str]:
    return bearer_for(client, platform, f"agency:{slug}", ["credentials:offer"])


def make_offer(client, headers, citizen: str, *, pin: str | None = None, slug: str = "mois") -> dict:
    type_id = {"mois": "resident_registration", "ssis": "welfare_status"}[slug]
    body: dict = {"subject": citizen, "credential_type": type_id, "claims": youth_claims()[type_id]}
    if pin:
        body["tx_code"] = {"value": pin}
    created = client.post(f"/issuers/{slug}/offers", json=body, headers=headers)
    assert created.status_code == 201, created.text
    return created.json()


def offered_items(client, platform, citizen: str) -> list[dict]:
    answer = client.get("/wallet/api/inbox", headers=api(client, platform, citizen))
    assert answer.status_code == 200, answer.text
    return [i for i in answer.json()["items"] if i["kind"] == "credential_offered"]


def assert_problem(answer, status: int, reason: str | None = None) -> dict:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    body = answer.json()
    if reason is not None:
        assert body["reason"] == reason and body["messages"]["ko"] and body["messages"]["en"]
    return body


def test_an_agency_delivers_and_the_citizen_receives_it_from_her_inbox(client, platform, browser) -> None:
    mois = agency(client, platform)
    offer = make_offer(client, mois, MINJI, pin="4321")
    body = {"subject": MINJI, "offer": offer["offer_link"], "tx_code_sent": True, "note": "주민센터 방문 없이"}
    delivered = client.post(DELIVERIES, json=body, headers=mois)
    assert delivered.status_code == 201, delivered.text
    assert delivered.json()["kind"] == "credential_offered" and delivered.json()["created"] is True

    (item,) = offered_items(client, platform, MINJI)
    assert item["id"] == delivered.json()["item_id"] and item["read_at"] is None
    payload = item["payload"]
    assert payload["issuer"] == f"{platform.settings.public_url}/issuers/mois"
    assert payload["issuer_name"]["ko"] == "행정안전부" and payload["agency"] == "mois"
    assert payload["configuration_ids"] == ["resident_registration"]
    assert payload["credential_names"] == [{"ko": "주민등록 정보", "en": "Resident registration"}]
    assert payload["offer"] == offer["offer_link"] and payload["tx_code_required"] and payload["tx_code_sent"]
    assert "1999-05-01" not in str(payload)  # names and ids, never a claim value

    # Her inbox says it in words and links to the receive page with the link's own query.
    sign_in_as(client, browser, MINJI, "/wallet/inbox")
    page = client.get("/wallet/inbox")
    assert_page(page)
    words = text_of(page)
    assert "행정안전부에서 발급할 증명서가 있습니다: 주민등록 정보." in words
    assert "기관에서 보낸 인증번호가 필요합니다." in words and "주민센터 방문 없이" in words
    query = payload["offer_query"]
    assert parse_qs(query) == parse_qs(urlsplit(offer["offer_link"]).query)  # the same offer, nothing else
    assert f'href="/wallet/receive?{html.escape(query)}">받기</a>' in page.text
    in_english(client)
    english = text_of(client.get("/wallet/inbox"))
    assert "Ministry of the Interior and Safety has a credential for you: Resident registration. Receive it" in english
    assert "You will need the code (PIN) the agency sent you." in english
    receive_page = client.get(f"/wallet/receive?{query}")
    assert_page(receive_page, lang="en")
    assert "Ministry of the Interior and Safety" in text_of(receive_page)

    # The link receives the credential through the wallet's API.
    received = client.post(
        "/wallet/api/credentials", json={"offer": payload["offer"], "tx_code": "4321"}, headers=api(client, platform)
    )
    assert received.status_code == 201, received.text
    (stored,) = received.json()["credentials"]
    assert stored["configuration_id"] == "resident_registration" and stored["status"] == "valid"


def test_a_delivery_opens_the_wallet_of_a_citizen_who_has_none(client, platform) -> None:
    mois = agency(client, platform)
    offer = make_offer(client, mois, NEWCOMER)
    assert not platform_has_account(client, NEWCOMER)
    delivered = client.post(DELIVERIES, json={"subject": NEWCOMER, "offer": offer["offer_link"]}, headers=mois)
    assert delivered.status_code == 201, delivered.text
    assert platform_has_account(client, NEWCOMER)
    (item,) = offered_items(client, platform, NEWCOMER)
    assert item["payload"]["tx_code_required"] is False and item["payload"]["note"] is None


def platform_has_account(client, citizen: str) -> bool:
    return client.app.state.wallet.vault.has_account(citizen)


def test_a_retried_delivery_is_one_item_by_value_or_by_reference(client, platform) -> None:
    mois = agency(client, platform)
    offer = make_offer(client, mois, NEWCOMER)
    first = client.post(DELIVERIES, json={"subject": NEWCOMER, "offer": offer["offer_link"]}, headers=mois)
    again = client.post(DELIVERIES, json={"subject": NEWCOMER, "offer": offer["offer_link"]}, headers=mois)
    by_reference = client.post(
        DELIVERIES, json={"subject": NEWCOMER, "offer": offer["offer_link_by_reference"]}, headers=mois
    )
    assert first.status_code == 201 and first.json()["created"] is True
    for repeat in (again, by_reference):
        assert repeat.status_code == 200, repeat.text
        assert repeat.json() == {"item_id": first.json()["item_id"], "kind": "credential_offered", "created": False}
    assert len(offered_items(client, platform, NEWCOMER)) == 1
    # Another offer is another item.
    second = make_offer(client, mois, NEWCOMER)
    assert client.post(DELIVERIES, json={"subject": NEWCOMER, "offer": second["offer_link"]}, headers=mois).json()[
        "created"
    ]
    assert len(offered_items(client, platform, NEWCOMER)) == 2


def test_an_agency_cannot_deliver_another_agencys_offer(client, platform) -> None:
    offer = make_offer(client, agency(client, platform, "mois"), NEWCOMER)
    ssis = agency(client, platform, "ssis")
    for link in (offer["offer_link"], offer["offer_link_by_reference"]):
        answer = client.post(DELIVERIES, json={"subject": NEWCOMER, "offer": link}, headers=ssis)
        assert_problem(answer, 403, "not_your_issuer")
    # Its own offer it delivers.
    own = make_offer(client, ssis, NEWCOMER, slug="ssis")
    assert client.post(DELIVERIES, json={"subject": NEWCOMER, "offer": own["offer_link"]}, headers=ssis).status_code
    items = offered_items(client, platform, NEWCOMER)
    assert [i["payload"]["agency"] for i in items] == ["ssis"]


def test_only_an_agency_token_with_the_offer_scope_delivers(client, platform) -> None:
    offer = make_offer(client, agency(client, platform), NEWCOMER)
    body = {"subject": NEWCOMER, "offer": offer["offer_link"]}
    verifier = bearer_for(client, platform, "verifier:seoul-youth", ["credentials:offer"])
    assert_problem(client.post(DELIVERIES, json=body, headers=verifier), 403, "not_an_agency")
    citizen = api(client, platform, NEWCOMER)  # scope wallet, not credentials:offer
    assert_problem(client.post(DELIVERIES, json=body, headers=citizen), 403)
    assert_problem(client.post(DELIVERIES, json=body, headers={"Authorization": "Bearer not-a-token"}), 401)
    # Without any bearer token: the API's own 401 (bearer-only, so no CSRF page meant for browsers).
    assert_problem(client.post(DELIVERIES, json=body), 401)
    revoker = bearer_for(client, platform, "agency:mois", ["credentials:revoke"])
    assert_problem(client.post(DELIVERIES, json=body, headers=revoker), 403)
    assert offered_items(client, platform, NEWCOMER) == []


def test_a_subject_that_is_not_a_platform_id_and_a_broken_offer_are_refused(client, platform) -> None:
    mois = agency(client, platform)
    offer = make_offer(client, mois, NEWCOMER)
    for subject in ("990501-1234567", "short"):
        answer = client.post(DELIVERIES, json={"subject": subject, "offer": offer["offer_link"]}, headers=mois)
        assert assert_problem(answer, 422, "invalid_subject")["field"] == "subject"
        assert "1234567" not in answer.text  # the refusal never echoes a resident registration number
    for link in ("https://example.com/not-an-offer", "openid-credential-offer://?credential_offer=%7Bnot"):
        answer = client.post(DELIVERIES, json={"subject": NEWCOMER, "offer": link}, headers=mois)
        assert_problem(answer, 400, "malformed_offer")
    assert_problem(client.post(DELIVERIES, json={"subject": NEWCOMER}, headers=mois), 422)
    assert offered_items(client, platform, NEWCOMER) == []
