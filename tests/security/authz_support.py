"""The authorization matrix's world (tests/security/test_authorization_matrix.py), built once per
module: a platform over the test database, the eight roles with their real credentials, and real
resources owned by the A roles, so that "B asks for A's id" is a question about a thing that exists.

Credentials are the ones each party really holds:
- citizens sign in through the platform's OpenID provider, as the wallet's browser (a session cookie)
  and as a mobile app (the wallet client's access token: `wallet consent:read consent:withdraw`); they
  also sign in to the officers' consoles, which must turn them away;
- agencies and verifiers hold an OAuth client each (client credentials at `POST /oauth/token`, with
  the scopes their demo clients hold), and their officers sign in to the consoles;
- the admin holds a client with `agencies:admin verifiers:admin`; anonymous holds nothing.

A is `citizen-minji-0001`, agency `mois`, verifier `seoul-youth`; B is `citizen-junho-0002`, agency
`ssis`, verifier `seoul-learn`. Each resource some route deletes or changes for good (a credential, a
consent, an offer's status, a batch) has a copy of its own, so no cell depends on another route's
cells; within a route the A roles come last (ROLES), and the routes that sweep a whole account
(withdraw all, erase) run after every other route.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from auth.clients import register_client
from auth.oidc_clients import development_wallet_client
from consoles.clients import AGENCY_SCOPES, VERIFIER_SCOPES
from keys.jwk import b64url_encode
from seoul_wallet.app import Platform, build_platform, create_app
from seoul_wallet.bootstrap import prepare
from seoul_wallet.settings import Settings
from tests.auth.conftest import DEMO_PASSWORD, JUNHO, MINJI
from tests.auth.spec_rp import Browser, RelyingParty
from tests.conftest import AppTransport
from tests.consoles.conftest import RESIDENT, sign_in
from tests.issuers.spec_wallet import receive as spec_wallet_receive
from tests.live_servers import empty_all_tables
from tests.wallet.test_wallet_app import on_this_site, share

ROLES = ("anonymous", "citizen_b", "agency_b", "verifier_b", "admin", "citizen_a", "agency_a", "verifier_a")
# Every role but these may see none of A's resources (the leak check of test_authorization_matrix).
A_SIDE = frozenset({"citizen_a", "agency_a", "verifier_a"})
CITIZENS = {"citizen_a": MINJI, "citizen_b": JUNHO}
AGENCIES = {"agency_a": "mois", "agency_b": "ssis"}
VERIFIERS = {"verifier_a": "seoul-youth", "verifier_b": "seoul-learn"}
OFFICERS = {
    "agency_a": "officer-mois-0001",
    "agency_b": "officer-ssis-0001",
    "verifier_a": "officer-youth-0001",
    "verifier_b": "officer-learn-0001",
}
ADMIN_SCOPES = ("agencies:admin", "verifiers:admin")
# What the wallet's sign-in asks for (wallet/signin.py SCOPES), besides openid and profile.
CITIZEN_SCOPES = ("wallet", "consent:read", "consent:withdraw")
# Two credentials, one from each agency: the cheapest check of seoul-youth (verifier A) to answer.
SERVICE = "seoul_youth_mental_health"
CLAIMS = {
    "resident_registration": {key.removeprefix("claim."): value for key, value in RESIDENT.items()},
    "program_participation": {"active_programs": [], "past_programs": []},
}
ISSUER_OF = {"resident_registration": "mois", "program_participation": "ssis"}


@dataclass
class Role:
    name: str
    headers: dict[str, str] = field(default_factory=dict)  # its bearer token, for the APIs
    cookies: httpx.Cookies = field(default_factory=httpx.Cookies)  # its browser's sessions
    client: tuple[str, str] | None = None  # its OAuth client (id, secret), if it has one
    subject: str = ""  # whom its token acts for
    scopes: tuple[str, ...] = ()  # the platform scopes its token holds

    def csrf_token(self, host: str) -> str:
        """The signed csrftoken cookie this browser holds for `host` (one per host, like a browser)."""
        return self.cookies.get("csrftoken", domain="testserver.local" if host == "testserver" else host) or ""


@dataclass
class World:
    app: FastAPI
    platform: Platform
    http: TestClient  # the setup's own client: no role's cookies
    cells: TestClient  # the cells' client (see client_as)
    roles: dict[str, Role]
    ids: dict[str, str] = field(default_factory=dict)  # named resources of the A roles (and a few spares)
    markers: set[str] = field(default_factory=set)  # ids of A's resources, for the leak check
    wallet_rp: RelyingParty | None = None  # the wallet's client at the provider (citizens' tokens)
    _narrowed: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)

    @property
    def public_url(self) -> str:
        return self.platform.settings.public_url

    def client_as(self, role: str, *, browser: bool) -> TestClient:
        """The cells' own client, as the role: its browser holds a fresh copy of the role's cookies
        (a cell that signs out or sets a cookie changes nothing for the next one); a client's call
        holds none."""
        self.cells.cookies = httpx.Cookies(self.roles[role].cookies if browser else None)
        return self.cells

    def without(self, role: str, scope: str) -> dict[str, str]:
        """Bearer headers of the same party with every scope of the role but `scope`, obtained the
        way the role obtains its own: a citizen's app signs in asking for fewer scopes, a party's
        operator registers a client with fewer."""
        if (role, scope) not in self._narrowed:
            who = self.roles[role]
            scopes = tuple(s for s in who.scopes if s != scope)
            if role in CITIZENS:
                assert self.wallet_rp is not None
                headers = _citizen_token(self.app, self.wallet_rp, CITIZENS[role], scopes)
            else:
                headers = _client_token(self.http, self.platform, who.subject, scopes).headers
            self._narrowed[role, scope] = headers
        return self._narrowed[role, scope]

    def keep(self, name: str, value: str) -> str:
        """Name one of A's resources, and watch for its id in what the other roles are served."""
        self.ids[name] = value
        self.markers.add(value)
        return value

    # -- what the parties do, through their own APIs ------------------------------------------------

    def offer(self, agency: str, subject: str, type_id: str = "resident_registration") -> dict[str, Any]:
        body = {"subject": subject, "credential_type": type_id, "claims": CLAIMS[type_id]}
        created = self.http.post(f"/issuers/{agency}/offers", json=body, headers=self.agency_headers(agency))
        assert created.status_code == 201, created.text
        return created.json()

    def agency_headers(self, slug: str) -> dict[str, str]:
        role = next(name for name, agency in AGENCIES.items() if agency == slug)
        return self.roles[role].headers

    def receive(self, citizen: str, link: str) -> str:
        """The citizen's wallet accepts an offer; the stored credential's id."""
        stored = self.http.post("/wallet/api/credentials", json={"offer": link}, headers=self.roles[citizen].headers)
        assert stored.status_code == 201, stored.text
        return stored.json()["credentials"][0]["id"]

    def check(self, *, applicant: str | None = None) -> dict[str, Any]:
        """Verifier A opens a check for its service (bound to the citizen role `applicant`, if given)."""
        body: dict[str, Any] = {"service_id": SERVICE}
        if applicant:
            body["applicant"] = self.platform.subjects.for_verifier(VERIFIERS["verifier_a"], CITIZENS[applicant])
        created = self.http.post("/verifiers/requests", json=body, headers=self.roles["verifier_a"].headers)
        assert created.status_code == 201, created.text
        return created.json()

    def answered_check(self, citizen: str) -> tuple[str, str]:
        """A check of verifier A that the citizen answered from her wallet: (request id, consent id)."""
        created = self.check(applicant=citizen)
        outcome = share(self.http, self.roles[citizen].headers, created["link"])
        assert outcome["consent_record_id"], outcome
        return created["request_id"], outcome["consent_record_id"]


# -- signing in ---------------------------------------------------------------------------------------


def _citizen_token(app: FastAPI, wallet_rp: RelyingParty, citizen: str, scopes: tuple[str, ...]) -> dict[str, str]:
    """The citizen's platform token, from the provider's sign-in as a mobile app would get it."""
    request = wallet_rp.authorization_request(scope=" ".join(("openid", "profile", *scopes)))
    browser = Browser(TestClient(app))
    redirect = browser.sign_in_with_password(browser.open(request.url), citizen, DEMO_PASSWORD)
    return {"Authorization": f"Bearer {wallet_rp.finish(redirect.headers['location'], request).access_token}"}


def _client_token(world_http: TestClient, platform: Platform, subject: str, scopes: tuple[str, ...]) -> Role:
    credentials = register_client(platform.engine, subject, list(scopes))
    answer = world_http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": " ".join(scopes)},
        auth=(credentials.client_id, credentials.client_secret),
    )
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    client = (credentials.client_id, credentials.client_secret)
    return Role("", {"Authorization": f"Bearer {token}"}, client=client, subject=subject, scopes=scopes)


def _wallet_session(app: FastAPI, citizen: str) -> TestClient:
    client = TestClient(app)
    start = client.get("/wallet/auth/login", follow_redirects=False)
    browser = Browser(client)
    redirect = browser.sign_in_with_password(browser.open(start.headers["location"]), citizen, DEMO_PASSWORD)
    back = client.get(on_this_site(redirect.headers["location"]), follow_redirects=False)
    assert back.status_code == 303 and back.headers["location"] == "/wallet", back.text
    return client


def _with_csrf_cookie(app: FastAPI, cookies: httpx.Cookies, public_url: str) -> httpx.Cookies:
    """Every browser holds the signed csrftoken cookie a page sets, on this site and on the
    provider's host, so its form posts reach the route (asgi-csrf refuses a post without one
    before any route runs)."""
    client = TestClient(app, cookies=cookies)
    for home in ("/wallet", f"{public_url}/wallet"):
        assert client.get(home).status_code == 200
    return client.cookies


def _merged(*clients: TestClient) -> httpx.Cookies:
    jar = httpx.Cookies()
    for client in clients:
        for cookie in client.cookies.jar:
            jar.jar.set_cookie(cookie)
    return jar


def _wallet_rp(app: FastAPI, platform: Platform) -> RelyingParty:
    settings = platform.settings
    client_id, secret = development_wallet_client(settings, platform.master_key)
    callback = f"{settings.public_url}/wallet/auth/callback"
    return RelyingParty(TestClient(app), f"{settings.public_url}/idp", client_id, secret, callback)


def _roles(app: FastAPI, platform: Platform, http: TestClient, wallet_rp: RelyingParty) -> dict[str, Role]:
    settings = platform.settings
    roles: dict[str, Role] = {}
    for name, citizen in CITIZENS.items():
        headers = _citizen_token(app, wallet_rp, citizen, CITIZEN_SCOPES)
        # The wallet's session and the consoles' in one browser (each signed in from a fresh one).
        jar = _merged(_wallet_session(app, citizen), sign_in(TestClient(app), citizen))
        roles[name] = Role(name, headers, jar, subject=f"citizen:{citizen}", scopes=CITIZEN_SCOPES)
    for name, slug in AGENCIES.items():
        roles[name] = _client_token(http, platform, f"agency:{slug}", AGENCY_SCOPES)
    for name, slug in VERIFIERS.items():
        roles[name] = _client_token(http, platform, f"verifier:{slug}", VERIFIER_SCOPES)
    for name, account in OFFICERS.items():
        roles[name].cookies = sign_in(TestClient(app), account).cookies
    roles["admin"] = _client_token(http, platform, "platform:admin", ADMIN_SCOPES)
    roles["anonymous"] = Role("anonymous")
    for name, role in roles.items():
        role.name = name
        role.cookies = _with_csrf_cookie(app, role.cookies, settings.public_url)
    return roles


# -- A's resources ---------------------------------------------------------------------------------------


def _citizen_resources(world: World) -> None:
    offers = {type_id: world.offer(ISSUER_OF[type_id], MINJI, type_id) for type_id in CLAIMS}
    world.keep("offer_a", offers["resident_registration"]["offer_id"])
    for type_id, offer in offers.items():
        world.keep(f"credential_a_{type_id}", world.receive("citizen_a", offer["offer_link"]))
    world.ids["credential_a"] = world.ids["credential_a_resident_registration"]
    for copy in ("credential_a_delete_api", "credential_a_remove_page"):
        world.keep(copy, world.receive("citizen_a", world.offer("mois", MINJI)["offer_link"]))
    for type_id in CLAIMS:  # B holds credentials too: her own answers are real ones
        world.receive("citizen_b", world.offer(ISSUER_OF[type_id], JUNHO, type_id)["offer_link"])
    inbox = world.http.get("/wallet/api/inbox", headers=world.roles["citizen_a"].headers)
    assert inbox.status_code == 200 and inbox.json()["items"], inbox.text
    for item in inbox.json()["items"]:
        world.keep(f"inbox_item_{item['id']}", item["id"])
    world.ids["inbox_item_a"] = inbox.json()["items"][0]["id"]
    # Consents of A to verifier A: one kept, one per route that withdraws a single consent.
    request_id, consent_id = world.answered_check("citizen_a")
    world.keep("request_a_answered", request_id)
    world.keep("consent_a", consent_id)
    for copy in ("consent_a_withdraw_ledger", "consent_a_withdraw_api", "consent_a_withdraw_page"):
        world.keep(copy, world.answered_check("citizen_a")[1])
    pending = world.check()
    world.keep("request_a_pending", pending["request_id"])
    world.ids["request_a_pending_link"] = pending["link"]
    world.ids.update({f"request_a_pending_{k}": v for k, v in query_of(pending["link"]).items()})


def _agency_resources(world: World) -> None:
    pending = world.offer("mois", MINJI)
    world.keep("offer_a_pending", pending["offer_id"])
    world.ids["offer_a_pending_link"] = pending["offer_link"]
    world.keep("offer_reference_a", pending["credential_offer_uri"].rsplit("/", 1)[1])
    world.keep("offer_a_revoke", world.offer("mois", MINJI)["offer_id"])
    mois = world.agency_headers("mois")
    for copy in ("offer_a_suspend", "offer_a_reinstate", "offer_a_console_suspend"):
        created = world.offer("mois", MINJI)
        spec_wallet_receive(created["offer_link"], world.http)  # another wallet redeemed it
        world.keep(copy, created["offer_id"])
    suspended = world.http.post(f"/issuers/mois/credentials/{world.ids['offer_a_reinstate']}/suspend", headers=mois)
    assert suspended.status_code == 200, suspended.text
    state = world.http.get(f"/issuers/mois/offers/{world.ids['offer_a']}", headers=mois).json()
    world.ids["status_list_a"] = urlsplit(state["status_list_uri"]).path.rsplit("/", 1)[1]
    for copy in ("batch_a", "batch_a_close"):
        opened = world.http.post(
            "/issuers/mois/batches", json={"credential_type": "resident_registration"}, headers=mois
        )
        assert opened.status_code == 201, opened.text
        world.keep(copy, opened.json()["batch_id"])
    malformed = world.http.post(
        f"/issuers/mois/batches/{world.ids['batch_a']}/rows",
        content=b'{"subject": "x"}\n',
        headers={**mois, "Content-Type": "application/jsonl"},
    )
    assert malformed.status_code == 200, malformed.text


def _admin_resources(world: World) -> None:
    trusted = world.http.post(
        "/admin/trusted-issuers",
        json={"issuer": f"{world.public_url}/issuers/authz-distrusted", "vcts": ["urn:example:authz"]},
        headers=world.roles["admin"].headers,
    )
    assert trusted.status_code == 200, trusted.text
    world.ids["trusted_issuer_disposable"] = trusted.json()["issuer"]


def _provider_inputs(world: World) -> None:
    """What the wallet's authorization request at the provider names (wallet_authorization)."""
    settings = world.platform.settings
    world.ids["wallet_client_id"] = development_wallet_client(settings, world.platform.master_key)[0]
    world.ids["wallet_redirect_uri"] = f"{world.public_url}/wallet/auth/callback"


def build_world(app: FastAPI, platform: Platform, http: TestClient, cells: TestClient) -> World:
    wallet_rp = _wallet_rp(app, platform)
    world = World(app, platform, http, cells, _roles(app, platform, http, wallet_rp), wallet_rp=wallet_rp)
    _provider_inputs(world)
    _citizen_resources(world)
    _agency_resources(world)
    _admin_resources(world)
    return world


def query_of(link: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(link).query).items()}


def module_world(
    tmp_path_factory: pytest.TempPathFactory, database_url: str, migrated_engine: Engine
) -> Iterator[World]:
    """For a module-scoped fixture: the `platform` and `app` fixtures of tests/conftest.py, once per
    module instead of per test, and the world over them."""
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("authz"),
        database_url=database_url,
        master_key=b64url_encode(secrets.token_bytes(32)),
        public_url="http://127.0.0.1:8000",
        development=True,
        callback_worker=False,
        wallet_status_refresh_seconds=0,
    )
    empty_all_tables(migrated_engine)
    platform = build_platform(settings, migrated_engine)
    transport = AppTransport()
    platform.http = httpx.Client(transport=transport)
    prepare(platform)
    app = create_app(platform=platform)
    transport.client = TestClient(app)
    platform.provider_transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    with TestClient(app) as http, TestClient(app) as cells:
        yield build_world(app, platform, http, cells)
    platform.http.close()
