"""The officers' consoles in an officer's browser (the TestClient keeps her cookies): she signs in
through the platform's provider as any officer would, and submits the forms as they are on the
page, with their CSRF token. Each officer gets her own browser (TestClient)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from tests.auth.conftest import DEMO_PASSWORD
from tests.auth.spec_rp import Browser, Form, forms_of
from tests.wallet.test_wallet_app import on_this_site

MOIS_OFFICER = "officer-mois-0001"
SSIS_OFFICER = "officer-ssis-0001"
YOUTH_OFFICER = "officer-youth-0001"
LEARN_OFFICER = "officer-learn-0001"
RESIDENT = {
    "claim.birth_date": "1999-05-01",
    "claim.nationality_status": "citizen",
    "claim.resident_sido": "11",
    "claim.resident_sigungu": "11110",
    "claim.as_of": "2026-11-01",
}


def sign_in(client: TestClient, account: str, start: str = "/consoles") -> TestClient:
    """Open `start` signed out, sign in at the provider with her password, and land back where the
    consoles send her."""
    first = client.get(start, follow_redirects=False)
    if first.status_code == 200:  # the landing page: its sign-in button
        first = client.get("/consoles/auth/login", follow_redirects=False)
    else:
        assert first.status_code == 303 and first.headers["location"].startswith("/consoles/auth/login")
        first = client.get(first.headers["location"], follow_redirects=False)
    assert first.status_code in (302, 303), first.text
    assert (
        "/idp/authorize" in first.headers["location"] and "client_id=seoul-wallet-consoles" in first.headers["location"]
    )
    browser = Browser(client)
    redirect = browser.sign_in_with_password(browser.open(first.headers["location"]), account, DEMO_PASSWORD)
    assert redirect.status_code in (302, 303), redirect.text
    back = client.get(on_this_site(redirect.headers["location"]), follow_redirects=False)
    assert back.status_code == 303, back.text
    return client


@pytest.fixture
def officer(app) -> Iterator[Callable[[str], TestClient]]:
    """`officer(account)`: a browser of its own, signed in as that account."""
    opened: list[TestClient] = []

    def open_as(account: str) -> TestClient:
        client = TestClient(app)
        client.__enter__()
        opened.append(client)
        return sign_in(client, account)

    yield open_as
    for client in opened:
        client.__exit__(None, None, None)


def form_at(page: str, action: str) -> Form:
    (form,) = [f for f in forms_of(page) if f.action == action]
    return form


HIDDEN = ("csrftoken", "type", "next")


def submit(client: TestClient, page: str, action: str, **values: str):
    """Post the form with this action as the page has it (its CSRF token and hidden fields), with
    `values` typed in or chosen (what a browser sends for the inputs it fills in)."""
    form = form_at(page, action)
    hidden = {name: value for name, value in form.fields.items() if name in HIDDEN}
    return client.post(action, data={**hidden, **values}, follow_redirects=False)


def path_of(location: str) -> str:
    return urlsplit(location).path
