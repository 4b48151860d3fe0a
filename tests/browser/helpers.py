"""What the browser tests share: the live site's back offices (agencies issuing offers, the youth
verifier reading its decisions and consents, all over HTTP with OAuth tokens), signing in at the
development OpenID provider, what a page must never show, the policy's claims as the consent
screen must list them, axe-core, and moving through pages with the keyboard only."""

from __future__ import annotations

import base64
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from axe_playwright_python.base import AXE_SCRIPT
from playwright.sync_api import Locator, Page

import catalog
from auth.clients import register_client
from eligibility.dcql import derive_dcql
from eligibility.policies import load_policies
from keys.jwk import load_public_jwk
from seoul_wallet.app import Platform
from tests.verifiers.conftest import AGENCY_OF, youth_claims
from vc.status_list import verify_status_list_token
from wallet.web.messages import translations

PHONE = {"width": 375, "height": 667}
DESKTOP = {"width": 1280, "height": 800}
NARROW = {"width": 320, "height": 640}
# The development provider's demo accounts (README, "Signing in"); every one has this password.
DEMO_PASSWORD = "seoul-demo"
MINJI, JUNHO, SEOYEON, DOHYUN, JIWOO = (
    "citizen-minji-0001",
    "citizen-junho-0002",
    "citizen-seoyeon-0003",
    "citizen-dohyun-0004",
    "citizen-jiwoo-0005",
)
YOUTH_SERVICE = "seoul_youth_allowance"
YOUTH_VERIFIER = "seoul-youth"
PIN_TYPE = "resident_registration"  # the one of the six offers that asks for a code
NEVER_ON_A_PAGE = ("Traceback", "Internal Server Error", 'File "/')


def say(language: str, english: str) -> str:
    """What the page says for an English message id, through the wallet's own catalog."""
    return translations(language).gettext(english)


# -- the live site's back offices ------------------------------------------------------------------


@dataclass
class Site:
    """The live server and the parties around it, as their back offices reach it over HTTP."""

    base: str
    platform: Platform
    http: httpx.Client
    _tokens: dict[tuple[str, tuple[str, ...]], dict[str, str]] = field(default_factory=dict)

    def bearer(self, subject: str, scopes: list[str]) -> dict[str, str]:
        """An access token for a new OAuth client acting for `subject` (client credentials grant)."""
        key = (subject, tuple(scopes))
        if key not in self._tokens:
            creds = register_client(self.platform.engine, subject, scopes)
            answer = self.http.post(
                "/oauth/token",
                data={"grant_type": "client_credentials", "scope": " ".join(scopes)},
                auth=(creds.client_id, creds.client_secret),
            )
            assert answer.status_code == 200, answer.text
            self._tokens[key] = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        return self._tokens[key]

    def offer(self, citizen: str, type_id: str, claims: dict, *, pin: bool = False) -> dict[str, Any]:
        """An offer from the agency that issues `type_id` (with a 6-digit code when `pin`); the
        answer carries the code for the agency to send the citizen by another channel."""
        agency = AGENCY_OF[type_id]
        body: dict[str, Any] = {"subject": citizen, "credential_type": type_id, "claims": claims}
        if pin:
            body["tx_code"] = {"length": 6}
        headers = self.bearer(f"agency:{agency}", ["credentials:offer"])
        answer = self.http.post(f"/issuers/{agency}/offers", json=body, headers=headers)
        assert answer.status_code == 201, answer.text
        return {**answer.json(), "type_id": type_id}

    def youth_offers(self, citizen: str, claims: dict[str, dict] | None = None) -> list[dict[str, Any]]:
        """The six offers of the youth allowance's credentials; the first (PIN_TYPE) asks for a code."""
        claims = claims or youth_claims()
        ordered = [PIN_TYPE, *(t for t in claims if t != PIN_TYPE)]
        return [self.offer(citizen, t, claims[t], pin=t == PIN_TYPE) for t in ordered]

    # The citizen's own JSON API, used only to prepare state for tests about other pages.
    def wallet_api(self, citizen: str) -> dict[str, str]:
        return self.bearer(f"citizen:{citizen}", ["wallet", "consent:read", "consent:withdraw"])

    def seed_wallet(self, citizen: str, claims: dict[str, dict] | None = None) -> list[dict[str, Any]]:
        """Her credentials, received through the wallet's JSON API (not the pages under test)."""
        stored = []
        for offer in self.youth_offers(citizen, claims):
            body = {"offer": offer["offer_link"], "tx_code": offer.get("tx_code")}
            answer = self.http.post("/wallet/api/credentials", json=body, headers=self.wallet_api(citizen))
            assert answer.status_code == 201, answer.text
            stored += answer.json()["credentials"]
        return stored

    def open_check(self, applicant: str) -> tuple[str, str]:
        """The youth verifier opens a check for `applicant`: (request id, openid4vp:// link)."""
        body = {
            "service_id": YOUTH_SERVICE,
            "applicant": self.platform.subjects.for_verifier(YOUTH_VERIFIER, applicant),
        }
        answer = self.http.post("/verifiers/requests", json=body, headers=self.backend())
        assert answer.status_code == 201, answer.text
        return answer.json()["request_id"], answer.json()["link"]

    def share_by_api(self, citizen: str, link: str) -> dict[str, Any]:
        """She approves a request through the JSON API; the answer names the consent record."""
        headers = self.wallet_api(citizen)
        view = self.http.post("/wallet/api/sharing-requests", json={"request": link}, headers=headers)
        assert view.status_code == 200, view.text
        body = {"request": link, "notice_sha256": view.json()["notice_sha256"], "choices": {}}
        outcome = self.http.post("/wallet/api/sharing-requests/approve", json=body, headers=headers)
        assert outcome.status_code == 200, outcome.text
        return outcome.json()

    def credentials_of(self, citizen: str) -> list[dict[str, Any]]:
        answer = self.http.get("/wallet/api/credentials", headers=self.wallet_api(citizen))
        assert answer.status_code == 200, answer.text
        return answer.json()["credentials"]

    def consent_of(self, citizen: str, record_id: str) -> dict[str, Any]:
        answer = self.http.get(f"/wallet/api/consents/{record_id}", headers=self.wallet_api(citizen))
        assert answer.status_code == 200, answer.text
        return answer.json()

    # The youth verifier's backend.
    def backend(self) -> dict[str, str]:
        return self.bearer(f"verifier:{YOUTH_VERIFIER}", ["presentations:request"])

    def decision(self, request_id: str) -> dict[str, Any]:
        answer = self.http.get(f"/verifiers/requests/{request_id}", headers=self.backend())
        assert answer.status_code == 200, answer.text
        return answer.json()

    def granted(self, record_id: str) -> dict[str, Any]:
        """The consent as the verifier's own list of granted consents shows it."""
        headers = self.bearer(f"verifier:{YOUTH_VERIFIER}", ["consent:verifier-read"])
        answer = self.http.get("/consent/granted", headers=headers)
        assert answer.status_code == 200, answer.text
        (mine,) = [c for c in answer.json()["consents"] if c["id"] == record_id]
        return mine

    def consent_status(self, granted: dict[str, Any]) -> int:
        """The consent's entry in the verifier's served status list (signature checked)."""
        token = self.http.get(f"/consent/status/{YOUTH_VERIFIER}").text
        keys = self.http.get("/consent/jwks.json").json()["keys"]
        kid = _jws_kid(token)
        (jwk,) = [k for k in keys if k.get("kid") == kid] or keys[:1]
        public = load_public_jwk({k: v for k, v in jwk.items() if k in ("kty", "crv", "x", "y")})
        verified = verify_status_list_token(
            token, public, expected_uri=granted["status_list_uri"], now=int(time.time())
        )
        return verified.status(granted["status_index"])


def _jws_kid(token: str) -> str | None:
    header = token.split(".", 1)[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))).get("kid")


def offer_endpoint(link: str) -> str:
    """An openid-credential-offer:// link as the wallet's own offer endpoint (the same query)."""
    return f"/wallet/receive?{urlsplit(link).query}"


def present_endpoint(link: str) -> str:
    """An openid4vp:// link as the wallet's consent screen (the same query)."""
    return f"/wallet/present?{urlsplit(link).query}"


def request_id_of(url: str) -> str:
    """The verifier's request id in a consent screen's URL (its request_uri names the request)."""
    (request_uri,) = parse_qs(urlsplit(url).query)["request_uri"]
    match = re.search(r"/requests/([^/]+)/object$", urlsplit(request_uri).path)
    assert match, request_uri
    return match.group(1)


def wrong_code(code: str) -> str:
    return "".join(str((int(d) + 1) % 10) for d in code)


# -- signing in ---------------------------------------------------------------------------------------


def sign_in(page: Page, account: str, start: str = "/wallet") -> None:
    """Open `start` signed out and sign in with the provider's username and password form; the
    wallet brings her back to `start` (or home)."""
    page.goto(start)
    if urlsplit(page.url).path == "/wallet":
        page.click('a.button[href="/wallet/auth/login"]')
    page.wait_for_url(re.compile(r"/idp/"))
    page.fill("#platform_id", account)
    page.fill("#password", DEMO_PASSWORD)
    page.click("form:has(#password) button[type=submit]")
    page.wait_for_url(lambda url: "/idp/" not in url and "/wallet/auth/" not in url)
    check_page(page)
    assert page.locator('form[action="/wallet/auth/logout"]').count() == 1, "not signed in"


def follow(page: Page, target: str | Locator) -> None:
    """Click a link or a submit button and wait for the page it leads to."""
    locator = page.locator(target) if isinstance(target, str) else target
    with page.expect_navigation():
        locator.click()


def switch_language(page: Page, language: str) -> None:
    """The header's language form (a POST with its CSRF token, back to the same page)."""
    follow(page, f'header form[action="/wallet/language"] button[name=lang][value={language}]')
    assert page.locator("html").get_attribute("lang") == language, f"{page.url} did not switch to {language}"


# -- what every page must be ---------------------------------------------------------------------------


def check_page(page: Page, language: str | None = None) -> None:
    """One h1, a title, the page's language, and never a stack trace or a server error page."""
    text = page.locator("body").inner_text()
    shown = [bad for bad in NEVER_ON_A_PAGE if bad in text]
    assert not shown, f"{page.url} shows {shown}: {text[:500]}"
    assert page.locator("h1").count() == 1, f"{page.url} has {page.locator('h1').count()} h1 elements"
    assert page.title().strip(), f"{page.url} has no title"
    if language:
        assert page.locator("html").get_attribute("lang") == language, f"{page.url} is not lang={language}"


def main_text(page: Page) -> str:
    return page.locator("main").inner_text()


# -- the claims a service asks for ----------------------------------------------------------------------


def policy_claims(service_id: str = YOUTH_SERVICE, held: dict[str, dict] | None = None) -> dict[str, list[str]]:
    """The claims of each credential the service's policy asks for, derived as the verifier derives
    its DCQL query (eligibility/dcql.py), without `sub`. Where the query offers claim_sets, the one
    the wallet answers is the first that the held credential (`held`, youth_claims()) can satisfy."""
    held = held or youth_claims()
    types = catalog.credential_types()
    policy = load_policies(catalog.services(), types)[service_id]
    query = derive_dcql(policy, types)
    type_of_vct = {t.vct: t.id for t in types.values()}
    asked: dict[str, list[str]] = {}
    for credential in query["credentials"]:
        type_id = type_of_vct[credential["meta"]["vct_values"][0]]
        name_of = {c["id"]: c["path"][-1] for c in credential["claims"]}
        names = list(name_of.values())
        for claim_set in credential.get("claim_sets", []):
            wanted = [name_of[i] for i in claim_set if name_of[i] != "sub"]
            if all(name in held[type_id] for name in wanted):
                names = wanted
                break
        asked[type_id] = [n for n in names if n != "sub"]
    return asked


def claim_names_shown(text: str, type_ids: list[str], language: str) -> set[tuple[str, str]]:
    """Which claims of these credential types a page's text names, by their catalog display names
    in `language`. Longest names first, each found occurrence removed, so a name inside a longer
    one is not counted twice."""
    types = catalog.credential_types()
    names = sorted(
        (
            (spec.display[language], (type_id, claim))
            for type_id in type_ids
            for claim, spec in types[type_id].claims.items()
        ),
        key=lambda item: -len(item[0]),
    )
    found: set[tuple[str, str]] = set()
    seen_names: dict[str, bool] = {}
    for name, key in names:
        if name in seen_names:  # the same display name in two types (household_scope): counted once per type
            if seen_names[name]:
                found.add(key)
            continue
        seen_names[name] = name in text
        if seen_names[name]:
            found.add(key)
            text = text.replace(name, "\u2063")
    return found


def names_in(language: str, keys: set[tuple[str, str]]) -> list[str]:
    types = catalog.credential_types()
    return sorted(types[t].claims[c].display[language] for t, c in keys)


# -- axe-core ------------------------------------------------------------------------------------------


def axe_violations(page: Page) -> tuple[list[str], list[str]]:
    """(serious or critical, moderate or minor) violations of axe-core's rules (all of them, the
    best practices too) on the page as it is now, each as "rule (impact): target, target".
    axe.min.js is the one axe-playwright-python bundles, injected once per page with page.evaluate
    (which the page's CSP does not govern: see the `new_context` fixture)."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(AXE_SCRIPT)
    results = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    serious, other = [], []
    for violation in results["violations"]:
        targets = ", ".join(" ".join(map(str, node["target"])) for node in violation["nodes"])
        line = f"{violation['id']} ({violation['impact']}): {targets}"
        (serious if violation["impact"] in ("serious", "critical") else other).append(line)
    return serious, other


def horizontal_overflow(page: Page) -> int:
    """How many CSS pixels the page is wider than its viewport (0: no horizontal scroll)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


# -- the keyboard only -------------------------------------------------------------------------------------

_FOCUSED = """(selector) => {
  const e = document.activeElement;
  if (!e || e === document.body || e === document.documentElement) return null;
  const s = getComputedStyle(e);
  const r = e.getBoundingClientRect();
  const text = (e.innerText || e.value || '').trim().replace(/\\s+/g, ' ').slice(0, 40);
  return {
    matches: selector ? e.matches(selector) : false,
    element: e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
      + (e.getAttribute('name') ? `[name=${e.getAttribute('name')}]` : '')
      + (e.getAttribute('value') && e.tagName === 'BUTTON' ? `[value=${e.getAttribute('value')}]` : '')
      + (e.getAttribute('href') ? `[href=${e.getAttribute('href')}]` : '') + ` "${text}"`,
    outline: s.outlineStyle !== 'none' && (parseFloat(s.outlineWidth) || 0) >= 2,
    shadow: !!s.boxShadow && s.boxShadow !== 'none',
    style: `outline: ${s.outlineStyle} ${s.outlineWidth}; box-shadow: ${s.boxShadow}`,
    onScreen: r.width > 0 && r.height > 0 && r.right > 0 && r.left < window.innerWidth,
    skipLink: e.classList.contains('skip-link'),
  };
}"""


class KeyboardOnly:
    """A citizen who uses only the keyboard: Tab and Shift+Tab to move, Enter and Space to act, and
    typing. Every focus stop is checked for a visible focus indicator (a 2 px or wider outline, or
    a box-shadow ring, on an element on screen); what lacks one is collected in `problems`."""

    def __init__(self, page: Page, max_stops: int = 80) -> None:
        self.page = page
        self.max_stops = max_stops
        self.problems: list[str] = []
        self.stops = 0

    def focused(self, selector: str | None = None) -> dict[str, Any] | None:
        return self.page.evaluate(_FOCUSED, selector)

    def tab(self, backwards: bool = False) -> dict[str, Any] | None:
        self.page.keyboard.press("Shift+Tab" if backwards else "Tab")
        self.stops += 1
        info = self.focused()
        if info is not None and not ((info["outline"] or info["shadow"]) and info["onScreen"]):
            where = urlsplit(self.page.url).path
            problem = f"{where}: {info['element']} has no visible focus indicator ({info['style']})"
            if problem not in self.problems:
                self.problems.append(problem)
        return info

    def tab_to(self, selector: str, backwards: bool = False) -> None:
        """Tab (or Shift+Tab) until the element matching `selector` has the focus."""
        visited = []
        for _ in range(self.max_stops):
            info = self.tab(backwards)
            if info is not None and self.focused(selector)["matches"]:  # type: ignore[index]
                return
            visited.append(info["element"] if info else "(page)")
        raise AssertionError(f"{self.page.url}: {selector} never took the focus; stops: {visited}")

    def skip_link_first(self) -> None:
        """On a freshly loaded page the first Tab stop is the skip link."""
        info = self.tab()
        assert info is not None and info["skipLink"], f"{self.page.url}: first Tab stop is {info}"

    def press(self, key: str, navigates: bool = True) -> None:
        """Enter or Space on the focused element; waits for the page it leads to."""
        if navigates:
            with self.page.expect_navigation():
                self.page.keyboard.press(key)
        else:
            self.page.keyboard.press(key)

    def type(self, text: str) -> None:
        self.page.keyboard.type(text)

    def clear_and_type(self, text: str) -> None:
        self.page.keyboard.press("Control+A")
        self.page.keyboard.press("Delete")
        self.page.keyboard.type(text)
