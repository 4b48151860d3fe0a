"""The wallet's entry pages in a citizen's browser (the TestClient keeps her cookies): an issuer's
page sends her to /wallet/receive, a service's to /wallet/present. Signed out, she signs in first and
comes back to the same page. Forms are submitted as a browser would, with their CSRF token."""

from __future__ import annotations

from urllib.parse import urlsplit

from tests.auth.conftest import DEMO_PASSWORD, MINJI
from tests.auth.spec_rp import Browser, forms_of
from tests.conftest import bearer_for
from tests.verifiers.conftest import youth_claims
from tests.wallet.test_wallet_app import offer_links, on_this_site, open_check, receive_all


def sign_in(client, browser: Browser, start: str) -> str:
    """Open `start` signed out, sign in at the provider, and return where the wallet brought her back."""
    first = client.get(start, follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"].startswith("/wallet/auth/login?return_to=")
    login = client.get(first.headers["location"], follow_redirects=False)
    redirect = browser.sign_in_with_password(browser.open(login.headers["location"]), MINJI, DEMO_PASSWORD)
    back = client.get(on_this_site(redirect.headers["location"]), follow_redirects=False)
    assert back.status_code == 303
    return back.headers["location"]


def wallet_link(link: str, path: str) -> str:
    """An openid-credential-offer:// or openid4vp:// link as a link to the wallet's own endpoint."""
    return f"{path}?{urlsplit(link).query}"


def test_a_request_sent_to_the_wallet_page_shows_everything_and_shares_on_approval(client, platform, browser) -> None:
    token = bearer_for(client, platform, f"citizen:{MINJI}", ["wallet"])
    receive_all(client, token, offer_links(client, platform, MINJI, youth_claims()))
    request_id, link, backend = open_check(client, platform, applicant_of=MINJI)
    page_url = wallet_link(link, "/wallet/present")
    sign_in(client, browser, page_url)
    page = client.get(page_url)
    assert page.status_code == 200
    assert "x509_san_dns:" in page.text and "확인됨" in page.text  # the full client id, verified
    # Each claim with the value that leaves the wallet, and that the service itself learns only yes/no.
    assert "1999-05-01" in page.text and "예/아니오만 전달됩니다" in page.text
    (form,) = [f for f in forms_of(page.text) if f.action == "/wallet/present"]
    assert [b for b in form.buttons] == [("action", "share"), ("action", "decline")]  # equal choices
    done = Browser(client).submit(form, action="share")
    assert done.status_code == 200 and "보냈습니다" in done.text, done.text
    assert client.get(f"/verifiers/requests/{request_id}", headers=backend).json()["eligible"] is True


def test_declining_on_the_page_tells_the_verifier(client, platform, browser) -> None:
    token = bearer_for(client, platform, f"citizen:{MINJI}", ["wallet"])
    receive_all(client, token, offer_links(client, platform, MINJI, youth_claims()))
    request_id, link, backend = open_check(client, platform)
    page_url = wallet_link(link, "/wallet/present")
    sign_in(client, browser, page_url)
    (form,) = [f for f in forms_of(client.get(page_url).text) if f.action == "/wallet/present"]
    done = Browser(client).submit(form, action="decline")
    assert done.status_code == 200 and "거절했습니다" in done.text
    result = client.get(f"/verifiers/requests/{request_id}", headers=backend).json()
    assert result["status"] == "pending" and result["failure"]["reason"] == "access_denied"


def test_a_broken_link_is_a_clear_page_not_an_error(client, browser) -> None:
    sign_in(client, browser, "/wallet/receive?credential_offer=%7Bbroken")
    page = client.get("/wallet/receive?credential_offer=%7Bbroken")
    assert page.status_code == 400 and "아무것도 저장되지 않았습니다" in page.text
    page = client.get("/wallet/present?client_id=x509_san_dns%3Anowhere.example")
    assert page.status_code == 400 and "아무것도 보내지 않았습니다" in page.text
