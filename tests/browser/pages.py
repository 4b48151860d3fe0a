"""Every page of the contract, and how a citizen gets to it: the registry the accessibility checks
and the screenshots walk. Each page is opened afresh in its own browser context, in the state a
citizen would see it in (an error state by making the error, a result by doing what leads to it).

Two demo citizens: Minji's wallet is prepared once and never changed (her lists stay the same
from page to page and run to run); Junho is the one who acts (receives, shares), so what he does
never changes what Minji's pages show."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from playwright.sync_api import Browser, Page

from tests.browser.helpers import (
    JUNHO,
    MINJI,
    PHONE,
    Site,
    follow,
    offer_endpoint,
    present_endpoint,
    sign_in,
    wrong_code,
)
from tests.verifiers.conftest import youth_claims


@dataclass
class Wallets:
    """The prepared state: Minji's credential ids and consent, each citizen's signed-in browser state."""

    site: Site
    credential_ids: list[str]
    record_id: str
    signed_in: dict[str, dict[str, Any]]


# Junho's own date of birth: a page of his that showed Minji's would be caught (tests/browser/test_security.py).
JUNHO_CLAIMS = youth_claims(resident_registration={"birth_date": "2001-02-03"})


def prepare_wallets(site: Site, chromium: Browser) -> Wallets:
    stored = site.seed_wallet(MINJI)
    site.seed_wallet(JUNHO, JUNHO_CLAIMS)
    _, link = site.open_check(MINJI)
    record_id = site.share_by_api(MINJI, link)["consent_record_id"]
    signed_in = {}
    for citizen in (MINJI, JUNHO):
        context = chromium.new_context(base_url=site.base, viewport=PHONE, locale="ko-KR")
        sign_in(context.new_page(), citizen)
        signed_in[citizen] = context.storage_state()
        context.close()
    return Wallets(site, [c["id"] for c in stored], record_id, signed_in)


@dataclass(frozen=True)
class PageCase:
    name: str  # also the screenshot's file name: NN-name.png
    title: str  # what docs/screenshots/README.md says it shows
    citizen: str | None  # signed in as, or signed out
    open: Callable[[Page, Wallets], None]


def _go(path: str) -> Callable[[Page, Wallets], None]:
    return lambda page, wallets: page.goto(path)


def _sign_in_page(page: Page, wallets: Wallets) -> None:
    page.goto("/wallet")
    follow(page, 'a.button[href="/wallet/auth/login"]')
    assert "/idp/" in page.url, page.url


def _credential(suffix: str = "") -> Callable[[Page, Wallets], None]:
    return lambda page, wallets: page.goto(f"/wallet/credentials/{wallets.credential_ids[0]}{suffix}")


def _consent(suffix: str = "") -> Callable[[Page, Wallets], None]:
    return lambda page, wallets: page.goto(f"/wallet/consents/{wallets.record_id}{suffix}")


def _pin_offer(page: Page, wallets: Wallets) -> dict[str, Any]:
    offer = wallets.site.offer(JUNHO, "resident_registration", JUNHO_CLAIMS["resident_registration"], pin=True)
    page.goto(offer_endpoint(offer["offer_link_by_reference"]))
    assert page.locator("#tx_code").count() == 1, "the offer page asks for no code"
    return offer


def _pin_error(page: Page, wallets: Wallets) -> None:
    offer = _pin_offer(page, wallets)
    page.fill("#tx_code", wrong_code(offer["tx_code"]))
    follow(page, "button[name=action][value=accept]")
    assert page.locator(".error-summary").count() == 1, "a wrong code shows no error summary"


def _receive_result(page: Page, wallets: Wallets) -> None:
    # A credential no service of the youth policy asks for: his consent screens stay the same.
    claims = {"compulsory_service_completed": True, "service_days": 548}
    offer = wallets.site.offer(JUNHO, "military_service", claims)
    page.goto(offer_endpoint(offer["offer_link"]))
    follow(page, "button[name=action][value=accept]")


def _consent_screen(page: Page, wallets: Wallets) -> None:
    _, link = wallets.site.open_check(JUNHO)
    page.goto(present_endpoint(link))


def _outcome(page: Page, wallets: Wallets) -> None:
    _consent_screen(page, wallets)
    follow(page, "button[name=action][value=share]")


def _receipt_check(page: Page, wallets: Wallets) -> None:
    page.goto(f"/wallet/consents/{wallets.record_id}")
    follow(page, 'form[action$="/receipt-check"] button')


def _delete_error(page: Page, wallets: Wallets) -> None:
    page.goto("/wallet/my-data/delete")
    page.fill("#confirm", "아니요")  # not the word shown: nothing is deleted
    follow(page, "button[name=action][value=delete]")
    assert page.locator(".error-summary").count() == 1, "a wrong word shows no error summary"


PAGES = [
    PageCase("home-signed-out", "Home, signed out: what the wallet is, and Sign in", None, _go("/wallet")),
    PageCase("sign-in", "The development OpenID provider's sign-in page (/idp)", None, _sign_in_page),
    PageCase("home", "Home, signed in: the inbox and the shortcuts", MINJI, _go("/wallet")),
    PageCase("receive-paste", "Receive: the form to paste an agency's link", JUNHO, _go("/wallet/receive")),
    PageCase("offer-pin", "An offer that asks for the code the agency sent", JUNHO, _pin_offer),
    PageCase("offer-pin-error", "The same offer after a wrong code: the error summary", JUNHO, _pin_error),
    PageCase("receive-result", "What was stored, after accepting an offer", JUNHO, _receive_result),
    PageCase("credentials", "My credentials: the list", MINJI, _go("/wallet/credentials")),
    PageCase("credential", "One credential: claims, issuer, dates, status", MINJI, _credential()),
    PageCase("credential-remove", "Remove a credential: the confirmation", MINJI, _credential("/remove")),
    PageCase("services", "Services for me: eligible, close, not eligible", MINJI, _go("/wallet/services")),
    PageCase("consent-screen", "The consent screen of an application", JUNHO, _consent_screen),
    PageCase("sharing-outcome", "After sharing: what the verifier answered", JUNHO, _outcome),
    PageCase("consents", "My consents: the list", MINJI, _go("/wallet/consents")),
    PageCase("consent", "One consent: its history, data items, receipt", MINJI, _consent()),
    PageCase("consent-withdraw", "Withdraw a consent: the confirmation", MINJI, _consent("/withdraw")),
    PageCase(
        "consents-withdraw-all", "Withdraw all consents: the confirmation", MINJI, _go("/wallet/consents/withdraw-all")
    ),
    PageCase("receipt-check", "A consent receipt checked against the public ledger", MINJI, _receipt_check),
    PageCase("history", "History: every credential received and shared", MINJI, _go("/wallet/history")),
    PageCase("inbox", "Inbox: every message", MINJI, _go("/wallet/inbox")),
    PageCase("my-data", "My data: the export, and deleting the account", MINJI, _go("/wallet/my-data")),
    PageCase("delete-account", "Delete my account: the confirmation", MINJI, _go("/wallet/my-data/delete")),
    PageCase("delete-account-error", "The same after typing the wrong word", MINJI, _delete_error),
]


def screenshot_name(case: PageCase) -> str:
    return f"{PAGES.index(case) + 1:02d}-{case.name}.png"
