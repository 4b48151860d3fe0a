"""The built-in OpenID provider, driven by a spec-only relying party: discovery, the code flow with
PKCE, ID tokens, subject types, userinfo, the provider session and RP-initiated logout."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import jwt

from tests.auth.conftest import DEMO_PASSWORD, JUNHO, MINJI
from tests.auth.spec_rp import forms_of


def test_discovery_describes_the_provider(client, issuer) -> None:
    metadata = client.get(f"{issuer}/.well-known/openid-configuration").json()
    assert metadata["issuer"] == "http://127.0.0.1:8000/idp"
    for endpoint, path in (
        ("authorization_endpoint", "/authorize"),
        ("token_endpoint", "/token"),
        ("userinfo_endpoint", "/userinfo"),
        ("jwks_uri", "/jwks.json"),
        ("end_session_endpoint", "/logout"),
    ):
        assert metadata[endpoint] == issuer + path
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["subject_types_supported"] == ["public", "pairwise"]
    assert metadata["id_token_signing_alg_values_supported"] == ["ES256"]
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["grant_types_supported"] == ["authorization_code"]
    assert {"openid", "profile", "wallet"} <= set(metadata["scopes_supported"])
    assert {"sub", "name", "nonce", "at_hash"} <= set(metadata["claims_supported"])
    keys = client.get(metadata["jwks_uri"]).json()["keys"]
    assert [(k["kty"], k["crv"], k["alg"]) for k in keys] == [("EC", "P-256", "ES256")]
    assert all("d" not in k for k in keys)


def test_the_wallet_signs_a_citizen_in_with_her_platform_id(client, browser, wallet_rp) -> None:
    request = wallet_rp.authorization_request("openid profile consent:read consent:withdraw wallet")
    page = browser.open(request.url)
    assert page.status_code == 200 and '<html lang="ko">' in page.text
    assert '<label for="platform_id">' in page.text and '<label for="password">' in page.text
    assert "서울지갑" in page.text

    redirect = browser.sign_in_with_password(page, MINJI, DEMO_PASSWORD)
    assert redirect.status_code == 303
    sign_in = wallet_rp.finish(redirect.headers["location"], request)

    claims, header = sign_in.claims, jwt.get_unverified_header(sign_in.id_token)
    assert header["typ"] == "JWT" and header["alg"] == "ES256"
    assert claims["sub"] == MINJI  # public subject: the platform id
    assert claims["aud"] == wallet_rp.client_id and claims["name"] == "김민지"
    assert claims["iat"] <= claims["auth_time"] + 5 and claims["exp"] > claims["iat"]

    info = wallet_rp.userinfo(sign_in.access_token)
    assert info.status_code == 200 and info.json() == {"sub": MINJI, "name": "김민지"}

    # The access token is the platform's: the consent ledger's own bearer check accepts it.
    mine = client.get("/consent/me", headers={"Authorization": f"Bearer {sign_in.access_token}"})
    assert mine.status_code == 200 and mine.json() == {"consents": []}
    assert set(sign_in.token_response["scope"].split()) == {
        "openid",
        "profile",
        "consent:read",
        "consent:withdraw",
        "wallet",
    }


def test_a_signed_in_citizen_is_not_asked_again_and_state_is_echoed(browser, wallet_rp) -> None:
    first = wallet_rp.authorization_request()
    browser.pick_account(browser.open(first.url), JUNHO)
    second = wallet_rp.authorization_request()
    response = browser.open(second.url)
    assert response.status_code == 302  # the provider's session: no sign-in page
    assert wallet_rp.finish(response.headers["location"], second).claims["sub"] == JUNHO
    # prompt=login asks again even so (OpenID Connect Core §3.1.2.1).
    again = browser.open(wallet_rp.authorization_request(prompt="login").url)
    assert again.status_code == 200 and "password" in again.text


def test_services_see_pairwise_subjects_equal_to_their_decisions(platform, browser, service_rp) -> None:
    subjects = {}
    for slug in ("seoul-youth", "seoul-learn"):
        rp = service_rp(slug)
        request = rp.authorization_request("openid profile")
        response = browser.open(request.url)
        # She signs in once; the second service gets her through the provider's session.
        redirect = browser.pick_account(response, MINJI) if response.status_code == 200 else response
        sign_in = rp.finish(redirect.headers["location"], request)
        expected = platform.subjects.for_verifier(slug, MINJI)
        assert sign_in.claims["sub"] == expected
        assert rp.userinfo(sign_in.access_token).json() == {"sub": expected, "name": "김민지"}
        # The service's access token serves userinfo only and carries nothing about her.
        assert MINJI not in sign_in.access_token and sign_in.access_token.count(".") == 0
        subjects[slug] = expected
    assert subjects["seoul-youth"] != subjects["seoul-learn"]
    assert MINJI not in subjects.values()


def test_a_service_access_token_opens_nothing_on_the_platform(client, browser, service_rp) -> None:
    rp = service_rp("seoul-youth")
    request = rp.authorization_request("openid")
    sign_in = rp.finish(browser.pick_account(browser.open(request.url), MINJI).headers["location"], request)
    refused = client.get("/consent/me", headers={"Authorization": f"Bearer {sign_in.access_token}"})
    assert refused.status_code == 401
    # Without the profile scope, userinfo says only who (OpenID Connect Core §5.4).
    assert set(rp.userinfo(sign_in.access_token).json()) == {"sub"}


def test_client_secret_post_works_too(browser, service_rp) -> None:
    rp = service_rp("seoul-housing")
    request = rp.authorization_request()
    redirect = browser.pick_account(browser.open(request.url), MINJI)
    code = rp.callback_params(redirect.headers["location"], request)["code"]
    response = rp.exchange(code, request, basic=False)
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    assert rp.verify_id_token(response.json()["id_token"], request, response.json()["access_token"])["sub"]


def test_logout_ends_the_session_and_returns_to_the_registered_uri(platform, client, browser, wallet_rp) -> None:
    request = wallet_rp.authorization_request()
    sign_in = wallet_rp.finish(browser.pick_account(browser.open(request.url), MINJI).headers["location"], request)
    assert client.cookies.get("idp_session")
    post_logout = f"{platform.settings.public_url}/wallet"
    query = urlencode({"id_token_hint": sign_in.id_token, "post_logout_redirect_uri": post_logout, "state": "bye"})
    response = browser.open(f"{wallet_rp.metadata['end_session_endpoint']}?{query}")
    assert response.status_code == 302
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == post_logout
    assert parse_qs(location.query) == {"state": ["bye"]}
    assert not client.cookies.get("idp_session")
    # Signed out: the next authorization request shows the sign-in page again.
    assert browser.open(wallet_rp.authorization_request().url).status_code == 200


def test_logout_without_a_hint_asks_the_citizen_first(client, browser, wallet_rp) -> None:
    request = wallet_rp.authorization_request()
    browser.pick_account(browser.open(request.url), MINJI)
    page = browser.open(wallet_rp.metadata["end_session_endpoint"])
    assert page.status_code == 200 and client.cookies.get("idp_session")  # a link alone signs no one out
    confirm = next(f for f in forms_of(page.text) if f.action.endswith("/logout/confirm"))
    done = browser.submit(confirm)
    assert done.status_code == 200 and "로그아웃되었습니다" in done.text
    assert not client.cookies.get("idp_session")
