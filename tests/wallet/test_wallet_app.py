"""The wallet as a citizen uses it: sign-in through the platform's OpenID provider (the wallet is the
relying party), then the JSON API: receive the six youth-allowance credentials from our agencies and
present them to `seoul-youth`. Citizen B never reaches citizen A's credentials. Real HTTP through the
ASGI app, real signatures, the real database."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from sqlalchemy import text
from sqlmodel import SQLModel

from keys import jws
from tests.auth.conftest import DEMO_PASSWORD, JUNHO, MINJI
from tests.auth.spec_rp import Browser, forms_of
from tests.conftest import bearer_for
from tests.verifiers.conftest import AGENCY_OF, birth_date_for_age, youth_claims

BIRTH_DATE = "1999-05-01"  # youth_claims()'s, distinctive enough to search a database dump for


def on_this_site(url: str) -> str:
    """The path and query of a URL of the platform: the test client is the same site under another name."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def signed_in_token(wallet_rp, browser: Browser, citizen: str) -> dict[str, str]:
    """The citizen's platform token, obtained through the provider's sign-in as a mobile app would."""
    request = wallet_rp.authorization_request(scope="openid profile consent:read consent:withdraw wallet")
    redirect = browser.sign_in_with_password(browser.open(request.url), citizen, DEMO_PASSWORD)
    return {"Authorization": f"Bearer {wallet_rp.finish(redirect.headers['location'], request).access_token}"}


def offer_links(client, platform, citizen: str, claims_by_type: dict[str, dict]) -> list[str]:
    links = []
    for type_id, claims in claims_by_type.items():
        agency = AGENCY_OF[type_id]
        headers = bearer_for(client, platform, f"agency:{agency}", ["credentials:offer"])
        body = {"subject": citizen, "credential_type": type_id, "claims": claims}
        created = client.post(f"/issuers/{agency}/offers", json=body, headers=headers)
        assert created.status_code == 201, created.text
        links.append(created.json()["offer_link"])
    return links


def receive_all(client, headers, links: list[str]) -> list[dict]:
    stored = []
    for link in links:
        preview = client.post("/wallet/api/offers", json={"offer": link}, headers=headers)
        assert preview.status_code == 200, preview.text
        assert preview.json()["credentials"][0]["display"]["issuer"]["name"]
        received = client.post("/wallet/api/credentials", json={"offer": link}, headers=headers)
        assert received.status_code == 201, received.text
        stored += received.json()["credentials"]
    return stored


def open_check(client, platform, applicant_of: str | None = None) -> tuple[str, str, dict]:
    backend = bearer_for(client, platform, "verifier:seoul-youth", ["presentations:request"])
    body = {"service_id": "seoul_youth_allowance"}
    if applicant_of:
        body["applicant"] = platform.subjects.for_verifier("seoul-youth", applicant_of)
    created = client.post("/verifiers/requests", json=body, headers=backend)
    assert created.status_code == 201, created.text
    return created.json()["request_id"], created.json()["link"], backend


def share(client, headers, link: str, **choices) -> dict:
    view = client.post("/wallet/api/sharing-requests", json={"request": link}, headers=headers)
    assert view.status_code == 200, view.text
    body = {"request": link, "notice_sha256": view.json()["notice_sha256"], "choices": choices}
    outcome = client.post("/wallet/api/sharing-requests/approve", json=body, headers=headers)
    assert outcome.status_code == 200, outcome.text
    return {"view": view.json(), **outcome.json()}


def test_a_citizen_signs_in_to_the_wallet_and_out_again(client, browser) -> None:
    start = client.get("/wallet/auth/login", follow_redirects=False)
    assert start.status_code in (302, 303, 307) and "/idp/authorize" in start.headers["location"]
    assert "code_challenge_method=S256" in start.headers["location"] and "nonce=" in start.headers["location"]
    redirect = browser.sign_in_with_password(browser.open(start.headers["location"]), MINJI, DEMO_PASSWORD)
    callback = client.get(on_this_site(redirect.headers["location"]), follow_redirects=False)
    assert callback.status_code == 303 and callback.headers["location"] == "/wallet", callback.text
    cookie = callback.headers["set-cookie"]
    assert "seoul_wallet_session=" in cookie and "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert "path=/wallet" in cookie.lower()
    home = client.get("/wallet")
    assert home.status_code == 200 and MINJI in home.text and 'lang="ko"' in home.text
    (logout,) = [f for f in forms_of(home.text) if f.action == "/wallet/auth/logout"]
    assert client.post("/wallet/auth/logout", data={}, follow_redirects=False).status_code == 403  # no CSRF token
    ended = Browser(client).submit(logout)
    assert ended.status_code == 303 and "/idp/logout" in ended.headers["location"]
    assert MINJI not in client.get("/wallet").text


def test_a_forged_or_replayed_callback_signs_nobody_in(client, browser) -> None:
    start = client.get("/wallet/auth/login", follow_redirects=False)
    redirect = browser.sign_in_with_password(browser.open(start.headers["location"]), MINJI, DEMO_PASSWORD)
    location = on_this_site(redirect.headers["location"])
    forged = location.replace("state=", "state=x")
    assert client.get(forged, follow_redirects=False).status_code == 400
    assert MINJI not in client.get("/wallet").text
    assert client.get(location, follow_redirects=False).status_code == 303  # the real answer, once
    # The jar holds one csrftoken per host (the provider is 127.0.0.1 here): the wallet's is this one.
    token = client.cookies.get("csrftoken", domain="testserver.local") or ""
    client.post("/wallet/auth/logout", data={}, headers={"x-csrftoken": token})
    client.cookies.clear()
    replayed = client.get(location, follow_redirects=False)
    assert replayed.status_code == 400 and MINJI not in client.get("/wallet").text


def test_an_error_link_does_not_sign_the_citizen_out(client, browser) -> None:
    start = client.get("/wallet/auth/login", follow_redirects=False)
    redirect = browser.sign_in_with_password(browser.open(start.headers["location"]), MINJI, DEMO_PASSWORD)
    client.get(on_this_site(redirect.headers["location"]), follow_redirects=False)
    answer = client.get("/wallet/auth/callback?error=access_denied", follow_redirects=False)
    assert answer.status_code == 303 and MINJI in client.get("/wallet").text


def test_a_provider_naming_another_issuer_signs_nobody_in(client, app) -> None:
    import dataclasses

    signin = app.state.wallet_signin
    signin.config = dataclasses.replace(signin.config, issuer=signin.config.issuer + "/")  # one character off
    signin._oauth = None
    answer = client.get("/wallet/auth/login", follow_redirects=False)
    assert answer.status_code == 503 and "location" not in answer.headers


def test_receive_and_present_the_youth_allowance_over_the_json_api(client, platform, wallet_rp, browser) -> None:
    minji = signed_in_token(wallet_rp, browser, MINJI)
    stored = receive_all(client, minji, offer_links(client, platform, MINJI, youth_claims()))
    assert len(stored) == 6 and all(c["status"] == "valid" for c in stored)
    listed = client.get("/wallet/api/credentials", headers=minji).json()["credentials"]
    assert {c["id"] for c in listed} == {c["id"] for c in stored}
    detail = client.get(f"/wallet/api/credentials/{stored[0]['id']}", headers=minji).json()
    assert any(c["path"] == ["sub"] and c["value"] == MINJI for c in detail["claims"])

    request_id, link, backend = open_check(client, platform, applicant_of=MINJI)
    outcome = share(client, minji, link)
    assert outcome["accepted"] is True and outcome["consent_record_id"]
    assert outcome["view"]["verifier"]["verified"] is True
    assert outcome["view"]["verifier"]["client_id"].startswith("x509_san_dns:")
    result = client.get(f"/verifiers/requests/{request_id}", headers=backend).json()
    assert result["eligible"] is True
    decision = jws.verify(result["decision"], platform.keyring.resolver("verifiers")).payload
    assert decision["subject"] == platform.subjects.for_verifier("seoul-youth", MINJI)
    assert decision["consent"]["record_id"] == outcome["consent_record_id"]
    # The consent the wallet recorded is in her list, used.
    consents = client.get("/consent/me", headers=minji).json()["consents"]
    (mine,) = [c for c in consents if c["id"] == outcome["consent_record_id"]]
    assert [e["type"] for e in mine["history"]] == ["requested", "granted", "used"]


def test_a_citizen_a_year_too_old_is_not_eligible_with_the_condition_named(
    client, platform, wallet_rp, browser
) -> None:
    junho = signed_in_token(wallet_rp, browser, JUNHO)
    claims = youth_claims(resident_registration={"birth_date": birth_date_for_age(35)})
    receive_all(client, junho, offer_links(client, platform, JUNHO, claims))
    request_id, link, backend = open_check(client, platform)
    assert share(client, junho, link)["accepted"] is True
    result = client.get(f"/verifiers/requests/{request_id}", headers=backend).json()
    assert result["eligible"] is False
    conditions = jws.read_unverified(result["decision"])[1]["conditions"]
    assert [(c["credential"], c["claim"]) for c in conditions if c["outcome"] == "not_held"] == [
        ("resident_registration", "birth_date")
    ]


def test_citizen_b_never_reaches_citizen_as_credentials(client, platform) -> None:
    minji = bearer_for(client, platform, f"citizen:{MINJI}", ["wallet"])
    junho = bearer_for(client, platform, f"citizen:{JUNHO}", ["wallet"])
    (stored,) = receive_all(
        client,
        minji,
        offer_links(client, platform, MINJI, {"resident_registration": youth_claims()["resident_registration"]}),
    )
    ids = [stored["id"], "no-such-credential-id"]
    for credential_id in ids:
        for method in ("GET", "DELETE"):
            answer = client.request(method, f"/wallet/api/credentials/{credential_id}", headers=junho)
            assert answer.status_code == 404 and answer.json()["reason"] == "credential_not_found"
    assert client.get("/wallet/api/credentials", headers=junho).json() == {"credentials": []}
    _, link, _ = open_check(client, platform)
    view = client.post("/wallet/api/sharing-requests", json={"request": link}, headers=junho).json()
    assert view["can_share"] is False  # Junho holds nothing; Minji's credential is not a candidate
    body = {"request": link, "notice_sha256": view["notice_sha256"], "choices": {"resident_registration": stored["id"]}}
    refused = client.post("/wallet/api/sharing-requests/approve", json=body, headers=junho)
    assert refused.status_code in (400, 409) and refused.json()["reason"] in ("credentials_missing", "invalid_choice")
    assert client.get(f"/wallet/api/credentials/{stored['id']}", headers=minji).status_code == 200
    # Tokens of other parties are not a citizen's.
    agency = bearer_for(client, platform, "agency:mois", ["wallet"])
    assert client.get("/wallet/api/credentials", headers=agency).status_code == 403
    assert client.get("/wallet/api/credentials").status_code == 401


def test_a_changed_request_is_not_covered_by_the_consent_shown(client, platform) -> None:
    minji = bearer_for(client, platform, f"citizen:{MINJI}", ["wallet"])
    receive_all(client, minji, offer_links(client, platform, MINJI, youth_claims()))
    _, link, _ = open_check(client, platform)
    body = {"request": link, "notice_sha256": "0" * 64}
    refused = client.post("/wallet/api/sharing-requests/approve", json=body, headers=minji)
    assert refused.status_code == 409 and refused.json()["reason"] == "request_changed"
    assert (
        client.get("/consent/me", headers=bearer_for(client, platform, f"citizen:{MINJI}", ["consent:read"])).json()[
            "consents"
        ]
        == []
    )


def test_bad_input_is_a_clear_refusal(client, platform) -> None:
    minji = bearer_for(client, platform, f"citizen:{MINJI}", ["wallet"])
    for body in ({"offer": "openid-credential-offer://?credential_offer=%7Bnot-json"}, {"offer": "https://x"}):
        answer = client.post("/wallet/api/credentials", json=body, headers=minji)
        assert answer.status_code == 400 and answer.json()["messages"]["ko"] and answer.json()["step"]
    assert client.post("/wallet/api/credentials", json={"offer": ""}, headers=minji).status_code == 422
    answer = client.post("/wallet/api/sharing-requests", json={"request": "openid4vp://?nothing=1"}, headers=minji)
    assert answer.status_code == 400 and answer.json()["reason"]


@pytest.mark.parametrize("table_prefix", ["wallet_", ""])
def test_a_dump_after_the_journey_holds_no_claim_value_and_no_private_key(client, platform, table_prefix) -> None:
    minji = bearer_for(client, platform, f"citizen:{MINJI}", ["wallet"])
    receive_all(client, minji, offer_links(client, platform, MINJI, youth_claims()))
    _, link, _ = open_check(client, platform)
    assert share(client, minji, link)["accepted"] is True
    dump = b""
    with platform.engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            if table.name.startswith(table_prefix):
                for row in connection.execute(text(f'SELECT * FROM "{table.name}"')):
                    dump += b"|".join(v if isinstance(v, bytes) else str(v).encode() for v in row)
    assert dump
    # Claim values (not names: the issuers' display metadata names claims and enum members).
    assert BIRTH_DATE.encode() not in dump and b"2026-11-01" not in dump  # a birth date, an as-of date
    assert b"PRIVATE KEY" not in dump and b'"d":' not in dump  # no PEM, no private JWK member


def test_a_return_address_too_long_for_the_session_cookie_falls_back_to_home(client, browser) -> None:
    """Review finding: a return_to of ~2,500 characters pushed the session cookie past 4 KB; the
    browser dropped it with Authlib's state, and the sign-in could not finish."""
    long_link = "/wallet/present?request=" + "x" * 3000
    start = client.get("/wallet/auth/login", params={"return_to": long_link}, follow_redirects=False)
    assert start.status_code in (302, 303, 307)
    assert len(start.headers["set-cookie"]) < 4096
    redirect = browser.sign_in_with_password(browser.open(start.headers["location"]), MINJI, DEMO_PASSWORD)
    back = client.get(on_this_site(redirect.headers["location"]), follow_redirects=False)
    assert back.status_code == 303 and back.headers["location"] == "/wallet"


def _opened(value):
    """Every JWT inside a value, decoded (payloads of payloads), as one text to search."""
    import base64
    import json as _json

    if isinstance(value, dict):
        return " ".join(_opened(v) for v in value.values())
    if isinstance(value, list):
        return " ".join(_opened(v) for v in value)
    if isinstance(value, str) and value.count(".") == 2 and value.startswith("ey"):
        payload = value.split(".")[1]
        decoded = _json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return value + " " + _opened(decoded) + " " + _json.dumps(decoded)
    return str(value)


def test_a_service_never_learns_the_platform_id_from_the_decision_or_the_consent(client, platform) -> None:
    """Review finding: the decision embeds the consent receipt, whose record named the citizen by her
    platform id (and so did GET /consent/granted): two services could link her by it, defeating the
    pairwise subjects. The record now names her by her pairwise subject for that verifier."""
    minji = bearer_for(client, platform, f"citizen:{MINJI}", ["wallet"])
    receive_all(client, minji, offer_links(client, platform, MINJI, youth_claims()))
    request_id, link, backend = open_check(client, platform, applicant_of=MINJI)
    outcome = share(client, minji, link)
    result = client.get(f"/verifiers/requests/{request_id}", headers=backend).json()
    reader = bearer_for(client, platform, "verifier:seoul-youth", ["consent:verifier-read"])
    granted = client.get("/consent/granted", headers=reader).json()
    seen_by_the_service = _opened(result) + _opened(granted)
    assert outcome["consent_record_id"] in seen_by_the_service  # the consent and its receipt are there
    assert MINJI not in seen_by_the_service
    assert f"pairwise:{platform.subjects.for_verifier('seoul-youth', MINJI)}" in seen_by_the_service
    # Her own view still lists it as hers.
    mine = bearer_for(client, platform, f"citizen:{MINJI}", ["consent:read"])
    assert outcome["consent_record_id"] in {c["id"] for c in client.get("/consent/me", headers=mine).json()["consents"]}
