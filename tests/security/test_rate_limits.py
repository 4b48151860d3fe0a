"""Rate limits (issue 14, defect 13 and net 6): the token endpoint per client and per address, PINs
of credential offers per address, sign-in per account and per address, request creation per client.
Each answers 429 with Retry-After once its budget is spent, never before; a counter holds across
the two workers of a live server, in the database and in Redis; a window ends and the budget is back.

The limits here are small (set through the environment, as an operator would); each test speaks
from an address of its own (TestClient's `client`), so no test spends another's budget.
"""

from __future__ import annotations

import base64
import concurrent.futures
import os
import time
import uuid

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from auth.clients import register_client
from auth.oidc_clients import development_wallet_client
from tests.auth.conftest import DEMO_PASSWORD, JUNHO, MINJI
from tests.auth.spec_rp import Browser, RelyingParty, forms_of
from tests.conftest import bearer_for

PRE_AUTH = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
LIMITS = {
    "TOKEN_CLIENT": "3/minute",
    "TOKEN_ADDRESS": "6/minute",
    "PIN_ADDRESS": "3/minute",
    "SIGNIN_ACCOUNT": "3/minute",
    "SIGNIN_ADDRESS": "5/minute",
    "REQUEST_CLIENT": "3/minute",
}
REDIS_URL = "redis://127.0.0.1:6379/7"


@pytest.fixture(autouse=True)
def small_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before `settings` (autouse runs first): the app under test and a live server read these."""
    for rule, limit in LIMITS.items():
        monkeypatch.setenv(f"SEOUL_WALLET_RATE_LIMIT_{rule}", limit)
    monkeypatch.delenv("SEOUL_WALLET_REDIS_URL", raising=False)


def from_address(app, address: str) -> TestClient:
    return TestClient(app, client=(address, 50000))


def assert_too_many(response: httpx.Response, window: int = 60) -> int:
    assert response.status_code == 429, response.text
    retry_after = response.headers["retry-after"]
    assert retry_after.isdigit() and 1 <= int(retry_after) <= window, retry_after
    return int(retry_after)


def token(http: httpx.Client, client_id: str, secret: str) -> httpx.Response:
    return http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))


# -- the token endpoint --------------------------------------------------------------------------------


def test_the_token_endpoint_refuses_a_client_past_its_limit_even_with_the_right_secret(app, platform) -> None:
    http = from_address(app, "198.51.100.1")
    mois = register_client(platform.engine, "agency:mois", ["credentials:offer"])
    # Wrong secrets and right ones spend the same budget: three answers as usual…
    assert [token(http, mois.client_id, "guess").status_code for _ in range(2)] == [401, 401]
    assert token(http, mois.client_id, mois.client_secret).status_code == 200
    # …then 429 in the endpoint's OAuth error format, whatever the secret: a guess learns nothing.
    refused = token(http, mois.client_id, mois.client_secret)
    assert_too_many(refused)
    assert refused.json()["error"] == "temporarily_unavailable"
    assert refused.headers["content-type"].startswith("application/json")
    assert refused.headers["cache-control"] == "no-store"
    assert "access_token" not in refused.json()
    # Another client from the same address still gets its token: the limit is this client's.
    other = register_client(platform.engine, "agency:ssis", ["credentials:offer"])
    assert token(http, other.client_id, other.client_secret).status_code == 200


def test_the_token_endpoint_refuses_an_address_past_its_limit(app, platform) -> None:
    sprayer = from_address(app, "198.51.100.2")
    # Six requests, each naming a client id of its own (none exists): each spends the address's budget.
    for attempt in range(6):
        assert token(sprayer, f"unknown-client-{attempt}", "guess").status_code == 401
    mois = register_client(platform.engine, "agency:mois", ["credentials:offer"])
    assert token(sprayer, mois.client_id, mois.client_secret).json()["error"] == "temporarily_unavailable"
    assert_too_many(token(sprayer, mois.client_id, mois.client_secret))
    # The client itself is not locked out: from its own address it gets a token.
    assert token(from_address(app, "198.51.100.3"), mois.client_id, mois.client_secret).status_code == 200


def test_a_malformed_basic_header_is_refused_and_counted_never_a_500(app) -> None:
    http = from_address(app, "198.51.100.5")
    undecodable = "Basic " + base64.b64encode(b"\xff\xfe:\xfd").decode()
    for authorization in ("Basic", "Basic !!!", undecodable, "Basic " + base64.b64encode(b"no-colon").decode()):
        answer = http.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": authorization}
        )
        assert answer.status_code == 401, (authorization, answer.text)
    # Four of the address's six: two more, then 429.
    for _ in range(2):
        assert http.post("/oauth/token", data={"grant_type": "client_credentials"}).status_code == 401
    assert_too_many(http.post("/oauth/token", data={"grant_type": "client_credentials"}))


@pytest.fixture
def short_token_window(monkeypatch: pytest.MonkeyPatch) -> None:
    # A window of a few seconds (configured, as an operator may), so the test waits seconds, not a minute.
    monkeypatch.setenv("SEOUL_WALLET_RATE_LIMIT_TOKEN_CLIENT", "2 per 4 seconds")


def test_a_spent_limit_is_back_after_its_window(short_token_window, app, platform) -> None:
    short = from_address(app, "198.51.100.4")
    mois = register_client(platform.engine, "agency:mois", ["credentials:offer"])
    assert [token(short, mois.client_id, mois.client_secret).status_code for _ in range(2)] == [200, 200]
    wait = assert_too_many(token(short, mois.client_id, mois.client_secret), window=4)
    time.sleep(wait + 0.3)
    assert token(short, mois.client_id, mois.client_secret).status_code == 200


# -- PINs of credential offers ---------------------------------------------------------------------------


def _offer(client: TestClient, headers: dict[str, str], **extra) -> dict:
    body = {
        "subject": "citizen-rl-1",
        "credential_type": "resident_registration",
        "claims": {
            "birth_date": "2001-03-04",
            "nationality_status": "citizen",
            "resident_sido": "11",
            "resident_sigungu": "11110",
            "as_of": "2026-11-01",
        },
        **extra,
    }
    response = client.post("/issuers/mois/offers", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def _redeem(http: httpx.Client, offer: dict, **form: str) -> httpx.Response:
    code = offer["credential_offer"]["grants"][PRE_AUTH]["pre-authorized_code"]
    return http.post("/issuers/mois/token", data={"grant_type": PRE_AUTH, "pre-authorized_code": code, **form})


def test_wrong_pins_from_one_address_over_several_offers_stop_it_guessing(app, client, platform) -> None:
    mois = bearer_for(client, platform, "agency:mois", ["credentials:offer"])
    first, second = (_offer(client, mois, tx_code={"length": 4}) for _ in range(2))
    without_pin = _offer(client, mois)
    guesser = from_address(app, "198.51.100.10")

    def wrong(offer: dict) -> str:
        return "0000" if offer["tx_code"] != "0000" else "1111"

    # Each offer locks after five wrong PINs of its own; the address is stopped after three, all offers together.
    for offer in (first, first, second):
        answer = _redeem(guesser, offer, tx_code=wrong(offer))
        assert answer.status_code == 400 and "wrong transaction code" in answer.json()["error_description"]
    refused = _redeem(guesser, second, tx_code=second["tx_code"])  # the right PIN: not even checked
    assert_too_many(refused)
    assert refused.json()["error"] == "temporarily_unavailable" and "access_token" not in refused.json()
    assert refused.headers["cache-control"] == "no-store"
    # Only PIN entry is limited: an offer without a PIN is redeemed from the same address.
    assert _redeem(guesser, without_pin).status_code == 200
    # The citizen's wallet, elsewhere, redeems with the right PIN: the refusal spent none of the offer's attempts.
    assert _redeem(from_address(app, "198.51.100.11"), second, tx_code=second["tx_code"]).status_code == 200


# -- sign-in at the platform's OpenID provider and at the consoles -------------------------------------------


def _sign_in_page(app, platform, browser: Browser) -> httpx.Response:
    issuer = f"{platform.settings.public_url}/idp"
    client_id, secret = development_wallet_client(platform.settings, platform.master_key)
    relying_party = RelyingParty(
        TestClient(app), issuer, client_id, secret, f"{platform.settings.public_url}/wallet/auth/callback"
    )
    page = browser.open(relying_party.authorization_request().url)
    assert page.status_code == 200 and forms_of(page.text)
    return page


def test_wrong_passwords_for_one_account_stop_its_sign_in_for_a_while(app, platform) -> None:
    browser = Browser(from_address(app, "198.51.100.20"))
    page = _sign_in_page(app, platform, browser)
    for _ in range(3):
        answer = browser.sign_in_with_password(page, MINJI, "not-her-password")
        assert answer.status_code == 400 and "비밀번호가 맞지 않습니다" in answer.text
    refused = browser.sign_in_with_password(page, MINJI, DEMO_PASSWORD)
    assert_too_many(refused)
    # The form again, with a message in plain words, Korean first; nobody is signed in.
    assert refused.headers["content-type"].startswith("text/html")
    assert "로그인 시도가 너무 많았습니다" in refused.text and "too many sign-in attempts" in refused.text
    assert any("password" in form.fields for form in forms_of(refused.text))
    assert "location" not in refused.headers and "idp_session" not in refused.headers.get("set-cookie", "")
    # Another account signs in from the same address; Minji's account stays limited from anywhere.
    assert browser.sign_in_with_password(page, JUNHO, DEMO_PASSWORD).status_code == 303
    elsewhere = Browser(from_address(app, "198.51.100.21"))
    assert_too_many(elsewhere.sign_in_with_password(_sign_in_page(app, platform, elsewhere), MINJI, DEMO_PASSWORD))


def test_wrong_passwords_from_one_address_over_many_accounts_stop_it(app, platform) -> None:
    browser = Browser(from_address(app, "198.51.100.22"))
    page = _sign_in_page(app, platform, browser)
    for attempt in range(5):
        assert browser.sign_in_with_password(page, f"citizen-nobody-{attempt}", "guess").status_code == 400
    assert_too_many(browser.sign_in_with_password(page, JUNHO, DEMO_PASSWORD))
    other = Browser(from_address(app, "198.51.100.23"))
    assert other.sign_in_with_password(_sign_in_page(app, platform, other), JUNHO, DEMO_PASSWORD).status_code == 303


def test_failed_console_sign_ins_from_one_address_are_limited(app) -> None:
    forger = from_address(app, "198.51.100.30")
    forged = "/consoles/auth/callback?code=forged&state=forged"
    for _ in range(5):
        assert forger.get(forged, follow_redirects=False).status_code == 400
    refused = forger.get(forged, follow_redirects=False)
    assert_too_many(refused)
    assert refused.headers["content-type"].startswith("text/html")
    assert from_address(app, "198.51.100.31").get(forged, follow_redirects=False).status_code == 400


# -- presentation request creation ---------------------------------------------------------------------------


def test_request_creation_is_limited_per_client(client, platform) -> None:
    youth = bearer_for(client, platform, "verifier:seoul-youth", ["presentations:request"])
    housing = bearer_for(client, platform, "verifier:seoul-housing", ["presentations:request"])
    body = {"service_id": "seoul_youth_allowance"}
    assert [client.post("/verifiers/requests", json=body, headers=youth).status_code for _ in range(3)] == [201] * 3
    refused = client.post("/verifiers/requests", json=body, headers=youth)
    assert_too_many(refused)
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["status"] == 429 and problem["reason"] == "rate_limited"
    # Another backend's budget is its own.
    created = client.post("/verifiers/requests", json={"service_id": "seoul_youth_rent"}, headers=housing)
    assert created.status_code == 201, created.text


@pytest.fixture
def unreachable_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEOUL_WALLET_REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens on port 1


def test_with_its_counters_unreachable_the_platform_serves_unlimited(unreachable_redis, app, platform, caplog) -> None:
    http = from_address(app, "198.51.100.6")
    mois = register_client(platform.engine, "agency:mois", ["credentials:offer"])
    assert [token(http, mois.client_id, mois.client_secret).status_code for _ in range(5)] == [200] * 5
    assert "rate limit storage unavailable" in caplog.text


# -- across workers: the database (a live server's two workers) and Redis -----------------------------------


@pytest.fixture
def client_limit_of_eight(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEOUL_WALLET_RATE_LIMIT_TOKEN_CLIENT", "8/minute")
    monkeypatch.setenv("SEOUL_WALLET_RATE_LIMIT_TOKEN_ADDRESS", "1000/minute")  # this test is about the client


@pytest.mark.parametrize("live_server", [2], indirect=True)
def test_a_client_limit_holds_across_the_two_workers_of_a_live_server(
    client_limit_of_eight, live_server, platform
) -> None:
    mois = register_client(platform.engine, "agency:mois", ["credentials:offer"])

    def attempt(_: int) -> httpx.Response:
        # A connection per request, many at once: the two workers each accept some of them.
        return httpx.post(
            f"{live_server}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(mois.client_id, mois.client_secret),
            timeout=60,
        )

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(attempt, range(24)))
    # Eight in all, not eight per worker (counters of each worker's own let 9 to 16 through).
    assert sorted(answer.status_code for answer in answers) == [200] * 8 + [429] * 16
    for answer in answers:
        if answer.status_code == 429:
            assert_too_many(answer)


@pytest.fixture
def redis_counters(monkeypatch: pytest.MonkeyPatch):
    """SEOUL_WALLET_REDIS_URL set, under a key prefix of this test's own; yields its keys' lister."""
    import redis

    try:
        connection = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        connection.ping()
    except redis.RedisError as exc:
        if os.environ.get("CI"):  # as for PostgreSQL: CI fails, never skips
            pytest.fail(f"Redis at {REDIS_URL} is unreachable: {exc}")
        pytest.skip(f"Redis at {REDIS_URL} is unreachable")
    prefix = f"sw-test-{uuid.uuid4().hex}"
    monkeypatch.setenv("SEOUL_WALLET_REDIS_URL", REDIS_URL)
    monkeypatch.setenv("SEOUL_WALLET_REDIS_KEY_PREFIX", prefix)
    try:
        yield lambda: connection.keys(f"{prefix}:*")
    finally:
        for key in connection.scan_iter(f"{prefix}:*"):
            connection.delete(key)
        connection.close()


def test_in_redis_a_client_limit_holds_across_workers(redis_counters, app, platform) -> None:
    from seoul_wallet.app import create_app

    # Two apps over the same settings: two workers, each with its own connection to Redis.
    workers = [from_address(app, "198.51.100.50"), from_address(create_app(platform=platform), "198.51.100.50")]
    mois = register_client(platform.engine, "agency:mois", ["credentials:offer"])
    statuses = [token(workers[n % 2], mois.client_id, mois.client_secret).status_code for n in range(6)]
    assert statuses == [200, 200, 200, 429, 429, 429]
    with platform.engine.connect() as connection:
        in_database = connection.execute(text("SELECT count(*) FROM rate_limit_counters")).scalar_one()
    assert redis_counters() and in_database == 0  # counted in Redis, under this test's prefix only


def test_the_counters_hold_no_address_or_account_in_clear(app, platform) -> None:
    browser = Browser(from_address(app, "198.51.100.40"))
    browser.sign_in_with_password(_sign_in_page(app, platform, browser), MINJI, "not-her-password")
    with platform.engine.connect() as connection:
        keys = [row[0] for row in connection.execute(text("SELECT key FROM rate_limit_counters"))]
    assert keys and not any("198.51.100.40" in key or MINJI in key for key in keys)
