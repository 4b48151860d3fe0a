"""Each rule of the built-in OpenID provider, with the bad input it refuses."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlencode, urlsplit

from auth.oidc_clients import register_oidc_client
from tests.auth.conftest import DEMO_PASSWORD, MINJI
from tests.auth.spec_rp import RelyingParty, b64url, forms_of


def _error_redirect(response, rp: RelyingParty, state: str) -> dict[str, list[str]]:
    """An OAuth error response to the registered redirect URI (RFC 6749 §4.1.2.1)."""
    assert response.status_code in (302, 303), response.text
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == rp.redirect_uri
    params = parse_qs(location.query)
    assert params["state"] == [state] and "code" not in params
    return params


def _code(browser, rp: RelyingParty, **extra: str):
    request = rp.authorization_request(**extra)
    response = browser.open(request.url)
    redirect = browser.pick_account(response, MINJI) if response.status_code == 200 else response
    return rp.callback_params(redirect.headers["location"], request)["code"], request


def test_pkce_is_required(browser, wallet_rp) -> None:
    request = wallet_rp.authorization_request(code_challenge=None, code_challenge_method=None)
    params = _error_redirect(browser.open(request.url), wallet_rp, request.state)
    assert params["error"] == ["invalid_request"] and "code_challenge" in params["error_description"][0]


def test_plain_pkce_is_refused(browser, wallet_rp) -> None:
    request = wallet_rp.authorization_request(code_challenge="A" * 43, code_challenge_method="plain")
    params = _error_redirect(browser.open(request.url), wallet_rp, request.state)
    assert params["error"] == ["invalid_request"] and "S256" in params["error_description"][0]


def test_nonce_is_required(browser, wallet_rp) -> None:
    request = wallet_rp.authorization_request(nonce=None)
    assert _error_redirect(browser.open(request.url), wallet_rp, request.state)["error"] == ["invalid_request"]


def test_a_service_cannot_ask_for_the_citizens_platform_scopes(browser, service_rp) -> None:
    rp = service_rp("seoul-youth")
    request = rp.authorization_request("openid wallet")
    assert _error_redirect(browser.open(request.url), rp, request.state)["error"] == ["invalid_scope"]


def test_a_wrong_code_verifier_gets_no_token_and_spends_the_code(browser, wallet_rp) -> None:
    code, request = _code(browser, wallet_rp)
    wrong = wallet_rp.exchange(code, request, verifier=b64url(b"x" * 32))
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    # No second guess: the right verifier no longer helps.
    assert wallet_rp.exchange(code, request).json()["error"] == "invalid_grant"


def test_a_code_works_once(browser, wallet_rp) -> None:
    code, request = _code(browser, wallet_rp)
    assert wallet_rp.exchange(code, request).status_code == 200
    reused = wallet_rp.exchange(code, request)
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"


def test_a_code_is_bound_to_its_client(browser, wallet_rp, service_rp) -> None:
    code, request = _code(browser, wallet_rp)
    thief = service_rp("seoul-youth")
    stolen = thief.exchange(code, request)
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"
    # The other client's attempt does not spend the citizen's sign-in.
    assert wallet_rp.exchange(code, request).status_code == 200


def test_a_code_is_bound_to_its_redirect_uri(platform, browser, wallet_rp) -> None:
    code, request = _code(browser, wallet_rp)
    request.redirect_uri = f"{platform.settings.public_url}/elsewhere"
    assert wallet_rp.exchange(code, request).json()["error"] == "invalid_grant"


def test_a_wrong_client_secret_is_invalid_client(browser, wallet_rp) -> None:
    code, request = _code(browser, wallet_rp)
    wallet_rp.client_secret = "guess"
    response = wallet_rp.exchange(code, request)
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_an_unregistered_redirect_uri_is_shown_not_followed(platform, browser, wallet_rp) -> None:
    wallet_rp.redirect_uri = "https://attacker.example/callback"
    response = browser.open(wallet_rp.authorization_request().url)
    assert response.status_code == 400 and "location" not in response.headers
    assert "text/html" in response.headers["content-type"] and "attacker.example" not in response.text
    assert "invalid_request" in response.text


def test_an_unknown_client_is_shown_not_followed(browser, wallet_rp) -> None:
    wallet_rp.client_id = "no-such-client"
    response = browser.open(wallet_rp.authorization_request().url)
    assert response.status_code == 400 and "location" not in response.headers and "invalid_client" in response.text


def test_a_wrong_password_gives_no_code(client, browser, wallet_rp) -> None:
    page = browser.open(wallet_rp.authorization_request().url)
    for platform_id in (MINJI, "citizen-nobody-0009"):
        response = browser.sign_in_with_password(page, platform_id, "not-the-password")
        assert response.status_code == 400 and "location" not in response.headers
        assert "플랫폼 ID 또는 비밀번호가 맞지 않습니다" in response.text
    assert not client.cookies.get("idp_session")


def test_a_form_post_without_the_csrf_token_is_refused(client, browser, wallet_rp) -> None:
    page = browser.open(wallet_rp.authorization_request().url)
    form = next(f for f in forms_of(page.text) if "password" in f.fields)
    for token in ("", "forged"):
        fields = {**form.fields, "csrftoken": token, "platform_id": MINJI, "password": DEMO_PASSWORD}
        response = client.post(form.action, data=fields, follow_redirects=False)
        assert response.status_code == 403 and "location" not in response.headers
    # Also with no cookie at all (a cross-site post carries no SameSite=Lax cookie): login CSRF.
    client.cookies.clear()
    response = client.post(form.action, data={**form.fields, "platform_id": MINJI, "password": DEMO_PASSWORD})
    assert response.status_code == 403
    assert not client.cookies.get("idp_session")


def test_logout_to_an_unregistered_uri_is_refused(client, browser, wallet_rp) -> None:
    request = wallet_rp.authorization_request()
    sign_in = wallet_rp.finish(browser.pick_account(browser.open(request.url), MINJI).headers["location"], request)
    query = urlencode({"id_token_hint": sign_in.id_token, "post_logout_redirect_uri": "https://attacker.example/"})
    response = browser.open(f"{wallet_rp.metadata['end_session_endpoint']}?{query}")
    assert response.status_code == 400 and "location" not in response.headers
    assert "post_logout_redirect_uri is not registered" in response.text


def test_logout_with_a_forged_hint_is_refused(browser, wallet_rp) -> None:
    forged = "eyJhbGciOiJub25lIn0.eyJhdWQiOiJzZW91bC13YWxsZXQtYXBwIn0."
    query = urlencode({"id_token_hint": forged, "post_logout_redirect_uri": "http://127.0.0.1:8000/wallet"})
    response = browser.open(f"{wallet_rp.metadata['end_session_endpoint']}?{query}")
    assert response.status_code == 400 and "location" not in response.headers


def test_userinfo_needs_a_token_of_this_provider(client, wallet_rp) -> None:
    assert wallet_rp.userinfo("not-a-token").status_code == 401
    missing = client.get(wallet_rp.metadata["userinfo_endpoint"])
    assert missing.status_code == 401 and "www-authenticate" in missing.headers
    # An agency's client-credentials token is a valid platform token, but not a sign-in.
    from tests.conftest import bearer_for

    agency = bearer_for(client, client.app.state.platform, "agency:mois", ["credentials:offer"])
    assert client.get(wallet_rp.metadata["userinfo_endpoint"], headers=agency).status_code == 401


def test_registering_a_client_refuses_what_would_be_unsafe(platform) -> None:
    engine = platform.engine
    base = {"name": "Test RP", "redirect_uris": ["https://rp.example/cb"], "scopes": ["openid"]}
    refusals = [
        ({**base, "subject_type": "pairwise"}, "verifier"),
        ({**base, "subject_type": "public", "redirect_uris": ["http://rp.example/cb"]}, "https"),
        ({**base, "subject_type": "public", "redirect_uris": ["https://rp.example/cb#x"]}, "fragment"),
        ({**base, "subject_type": "pairwise", "verifier_slug": "x", "scopes": ["openid", "wallet"]}, "wallet"),
        ({**base, "subject_type": "public", "scopes": ["profile"]}, "openid"),
        ({**base, "subject_type": "sometimes"}, "subject type"),
    ]
    for arguments, reason in refusals:
        try:
            register_oidc_client(engine, client_id="rp-test", **arguments)
        except ValueError as exc:
            assert reason in str(exc)
        else:
            raise AssertionError(f"registered {arguments}")
    registered = register_oidc_client(engine, client_id="rp-test", subject_type="public", **base)
    assert registered.client_id == "rp-test" and len(registered.client_secret) >= 43


def test_a_form_nobody_can_read_is_a_client_error_not_a_crash(client, browser, wallet_rp) -> None:
    browser.open(wallet_rp.authorization_request().url)  # the browser now holds a CSRF cookie
    login = wallet_rp.issuer + "/login"
    bodies = [
        (b"csrftoken=\xff\xfe", "application/x-www-form-urlencoded"),
        (b"--x\r\n", "multipart/form-data"),  # no boundary parameter
        (b"{}", "application/json"),
    ]
    for body, content_type in bodies:
        response = client.post(login, content=body, headers={"content-type": content_type})
        assert 400 <= response.status_code < 500, (content_type, response.status_code)


def test_prompt_none_without_a_session_is_login_required(browser, wallet_rp) -> None:
    request = wallet_rp.authorization_request(prompt="none")
    assert _error_redirect(browser.open(request.url), wallet_rp, request.state)["error"] == ["login_required"]


def test_max_age_asks_for_a_fresh_sign_in(browser, wallet_rp) -> None:
    _code(browser, wallet_rp)  # signed in at the provider now
    assert browser.open(wallet_rp.authorization_request().url).status_code == 302
    assert browser.open(wallet_rp.authorization_request(max_age="0").url).status_code == 200
    for malformed in ("soon", "²", "9" * 5000):
        request = wallet_rp.authorization_request(max_age=malformed)
        assert _error_redirect(browser.open(request.url), wallet_rp, request.state)["error"] == ["invalid_request"]


def test_malformed_client_credentials_are_invalid_client_at_both_token_endpoints(client, wallet_rp) -> None:
    for header in ("Basic ", "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode()):
        for url, grant in ((wallet_rp.metadata["token_endpoint"], "authorization_code"), ("/oauth/token", None)):
            form = {"grant_type": grant or "client_credentials", "code": "x"}
            response = client.post(url, data=form, headers={"Authorization": header})
            assert response.status_code == 401 and response.json()["error"] == "invalid_client", url


def test_an_authorization_request_no_error_can_describe_is_shown_not_crashed(browser, wallet_rp) -> None:
    response = browser.open(wallet_rp.authorization_request(response_type="codé").url)
    assert response.status_code == 400 and "location" not in response.headers and "invalid_request" in response.text
