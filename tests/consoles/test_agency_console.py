"""The agency console: an officer of the Ministry of the Interior and Safety issues one credential
(the citizen's wallet receives it from the link the page shows), sees a wrong value put back at its
field, and revokes, suspends and reinstates (the issuer's status list says so)."""

from __future__ import annotations

import re
import time

from keys import jws
from keys.jwk import load_public_jwk
from tests.auth.conftest import MINJI
from tests.conftest import bearer_for
from tests.consoles.conftest import MOIS_OFFICER, RESIDENT, form_at, submit
from vc.status_list import INVALID, SUSPENDED, VALID, verify_status_list_token


def issue(client, **values: str):
    page = client.get("/consoles/agency/issue")
    assert page.status_code == 200, page.text
    return submit(
        client, page.text, "/consoles/agency/issue", **{"subject": MINJI, "pin": "none", **RESIDENT, **values}
    )


def offer_id_of(page: str) -> str:
    (offer_id,) = re.findall(r'href="/consoles/agency/credentials/([^"/]+)"', page)
    return offer_id


def status_in_list(client, state: dict) -> int:
    """The credential's entry in the issuer's served status list, its signature checked."""
    token = client.get(state["status_list_uri"].removeprefix("http://127.0.0.1:8000")).text
    keys = client.get("/.well-known/jwt-vc-issuer/issuers/mois").json()["jwks"]["keys"]
    kid = jws.read_header(token).get("kid")
    (jwk,) = [k for k in keys if k.get("kid") == kid]
    public = load_public_jwk({k: v for k, v in jwk.items() if k in ("kty", "crv", "x", "y")})
    verified = verify_status_list_token(token, public, expected_uri=state["status_list_uri"], now=int(time.time()))
    return verified.status(state["status_index"])


def test_an_officer_issues_one_credential_and_the_citizen_receives_it(client, platform, officer) -> None:
    mois = officer(MOIS_OFFICER)
    home = mois.get("/consoles/agency")
    assert home.status_code == 200 and 'lang="ko"' in home.text and "행정안전부" in home.text
    form = mois.get("/consoles/agency/issue").text
    # One typed input per claim of the catalog's credential type; the agency is nowhere in the form.
    assert 'type="date" id="claim-birth_date"' in form and '<select id="claim-nationality_status"' in form
    assert 'type="number" id="claim-registered_household_size"' in form and 'min="1"' in form
    names = set(form_at(form, "/consoles/agency/issue").fields)
    assert {n for n in names if not n.startswith("claim.")} == {"csrftoken", "type", "subject", "pin", "pin_value"}
    issued = issue(mois, pin="generated")
    assert issued.status_code == 200, issued.text
    (link,) = re.findall(r'<code class="identifier">(openid-credential-offer://[^<]+)</code>', issued.text)
    (pin,) = re.findall(r'<p class="identifier"><strong>(\d{6})</strong></p>', issued.text)
    assert '<div class="qr" role="img"' in issued.text and "<svg" in issued.text
    assert 'href="/wallet/receive?credential_offer_uri=' in issued.text
    wallet = bearer_for(client, platform, f"citizen:{MINJI}", ["wallet"])
    received = client.post(
        "/wallet/api/credentials", json={"offer": link.replace("&amp;", "&"), "tx_code": pin}, headers=wallet
    )
    assert received.status_code == 201, received.text
    assert received.json()["credentials"][0]["vct"] == "urn:seoul-wallet:vct:resident-registration:1"
    # The console remembers it: its status page says it was received.
    offer_id = offer_id_of(issued.text)
    assert f"/consoles/agency/credentials/{offer_id}" in mois.get("/consoles/agency").text
    state_page = mois.get(f"/consoles/agency/credentials/{offer_id}")
    assert state_page.status_code == 200 and "tag--valid" in state_page.text and MINJI in state_page.text


def test_a_wrong_value_is_shown_at_its_field(officer) -> None:
    mois = officer(MOIS_OFFICER)
    # The issuer refuses a date that is not one: its Problem Details name claims.birth_date.
    refused = issue(mois, **{"claim.birth_date": "2001-13-45"})
    assert refused.status_code == 400 and "<title>오류: " in refused.text
    assert 'class="error-summary"' in refused.text and 'href="#claim-birth_date"' in refused.text
    assert 'id="claim-birth_date-error"' in refused.text and "YYYY-MM-DD" in refused.text
    assert 'aria-describedby="claim-birth_date-error" aria-invalid="true"' in refused.text
    assert 'value="2001-13-45"' in refused.text and f'value="{MINJI}"' in refused.text  # nothing typed is lost
    # A number that is not one is refused before anything is sent; a missing claim by the issuer.
    local = issue(mois, **{"claim.registered_household_size": "three"})
    assert local.status_code == 400 and 'href="#claim-registered_household_size"' in local.text
    missing = issue(mois, **{"claim.as_of": ""})
    assert missing.status_code == 400 and 'href="#claim-as_of"' in missing.text
    rrn = issue(mois, subject="900101-1234567")
    assert rrn.status_code == 400 and 'href="#subject"' in rrn.text and "주민등록번호" in rrn.text


def test_revoke_suspend_and_reinstate_after_a_confirmation(client, platform, officer) -> None:
    mois = officer(MOIS_OFFICER)
    issued = issue(mois)
    (link,) = re.findall(r'<code class="identifier">(openid-credential-offer://[^<]+)</code>', issued.text)
    wallet = bearer_for(client, platform, f"citizen:{MINJI}", ["wallet"])
    assert (
        client.post("/wallet/api/credentials", json={"offer": link.replace("&amp;", "&")}, headers=wallet).status_code
        == 201
    )
    offer_id = offer_id_of(issued.text)
    agency = bearer_for(client, platform, "agency:mois", ["credentials:offer"])
    state = client.get(f"/issuers/mois/offers/{offer_id}", headers=agency).json()
    assert status_in_list(client, state) == VALID

    # Found by its offer ID; each action asks first.
    found = mois.get("/consoles/agency/credentials", params={"offer_id": offer_id}, follow_redirects=False)
    assert found.status_code == 303 and found.headers["location"] == f"/consoles/agency/credentials/{offer_id}"
    for action, expected, shown in (("suspend", SUSPENDED, "tag--suspended"), ("reinstate", VALID, "tag--valid")):
        confirm = mois.get(f"/consoles/agency/credentials/{offer_id}/{action}")
        assert confirm.status_code == 200 and "<h1>정말 " in confirm.text
        done = submit(mois, confirm.text, f"/consoles/agency/credentials/{offer_id}/{action}")
        assert done.status_code == 303 and done.headers["location"].endswith(f"?done={action}")
        assert shown in mois.get(done.headers["location"]).text
        assert status_in_list(client, state) == expected
    confirm = mois.get(f"/consoles/agency/credentials/{offer_id}/revoke")
    assert "되돌릴 수 없습니다" in confirm.text
    done = submit(mois, confirm.text, f"/consoles/agency/credentials/{offer_id}/revoke")
    page = mois.get(done.headers["location"])
    assert "tag--revoked" in page.text and f"/credentials/{offer_id}/revoke" not in page.text  # final
    assert status_in_list(client, state) == INVALID
    assert client.get(f"/issuers/mois/offers/{offer_id}", headers=agency).json()["status"] == "revoked"
    # Revoked is final: asking again is refused in words, not a crash.
    again = mois.post(f"/consoles/agency/credentials/{offer_id}/reinstate", data={"csrftoken": _token(page.text)})
    assert again.status_code == 409 and "revocation is final" in again.text


def test_an_offer_not_yet_received_can_only_be_cancelled(officer) -> None:
    mois = officer(MOIS_OFFICER)
    offer_id = offer_id_of(issue(mois).text)
    page = mois.get(f"/consoles/agency/credentials/{offer_id}")
    assert f"/credentials/{offer_id}/revoke" in page.text and f"/credentials/{offer_id}/suspend" not in page.text
    # Suspending what was never issued is not offered; its confirmation page sends her back.
    assert mois.get(f"/consoles/agency/credentials/{offer_id}/suspend", follow_redirects=False).status_code == 303
    confirm = mois.get(f"/consoles/agency/credentials/{offer_id}/revoke")
    assert "더 이상 받을 수 없습니다" in confirm.text
    done = submit(mois, confirm.text, f"/consoles/agency/credentials/{offer_id}/revoke")
    assert "취소됨" in mois.get(done.headers["location"]).text


def test_an_unknown_offer_id_is_said_plainly(officer) -> None:
    mois = officer(MOIS_OFFICER)
    assert mois.get("/consoles/agency/credentials/nosuchoffer").status_code == 404
    bad = mois.get("/consoles/agency/credentials", params={"offer_id": "../etc"})
    assert bad.status_code == 400 and 'href="#offer_id"' in bad.text


def _token(page: str) -> str:
    (token,) = set(re.findall(r'name="csrftoken" value="([^"]+)"', page))
    return token
