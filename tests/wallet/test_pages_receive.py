"""The receive pages: an offer sent to the wallet's offer endpoint is received after sign-in."""

from __future__ import annotations

from tests.auth.conftest import MINJI
from tests.auth.spec_rp import Browser, forms_of
from tests.conftest import bearer_for
from tests.verifiers.conftest import youth_claims
from tests.wallet.test_wallet_app import offer_links
from tests.wallet.test_wallet_pages import sign_in, wallet_link


def test_an_offer_sent_to_the_wallet_page_is_received_after_sign_in(client, platform, browser) -> None:
    (link,) = offer_links(client, platform, MINJI, {"resident_registration": youth_claims()["resident_registration"]})
    page_url = wallet_link(link, "/wallet/receive")
    assert sign_in(client, browser, page_url) == page_url  # back where the issuer sent her
    page = client.get(page_url)
    assert page.status_code == 200 and "/issuers/mois" in page.text and 'lang="ko"' in page.text
    (form,) = [f for f in forms_of(page.text) if f.action == "/wallet/receive"]
    assert client.post("/wallet/receive", data={"credential_offer": form.fields["credential_offer"]}).status_code == 403
    done = Browser(client).submit(form)
    assert done.status_code == 200 and "증명서를 받았습니다" in done.text
    wallet = bearer_for(client, platform, f"citizen:{MINJI}", ["wallet"])
    assert len(client.get("/wallet/api/credentials", headers=wallet).json()["credentials"]) == 1
    again = Browser(client).submit(form)  # the code is spent: the issuer's refusal, in her words
    assert again.status_code == 400 and "아무것도 저장되지 않았습니다" in again.text
