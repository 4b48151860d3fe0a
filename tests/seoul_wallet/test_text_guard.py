"""No JSON or form body holding a NUL character, an unpaired surrogate or invalid UTF-8 reaches an
endpoint (issue 14 defect 9): they answered 500 in several endpoints (offer subjects, claim values,
verifier registration, presentation grants), one after committing its row. Each is now a 400 in the
endpoint's own error format, nothing is written, and the lists still answer."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from tests.conftest import bearer_for
from tests.verifiers.conftest import youth_claims

SURROGATE = "\ud800"
NUL = "a\x00b"


def _post_json(client, path: str, body: object, headers: dict[str, str]):
    raw = json.dumps(body)  # ensure_ascii: the surrogate and the NUL travel as \\ud800 and \\u0000
    return client.post(path, content=raw, headers={**headers, "content-type": "application/json"})


def _offer(subject: str, claims: dict | None = None) -> dict:
    return {
        "subject": subject,
        "credential_type": "resident_registration",
        "claims": claims or youth_claims()["resident_registration"],
    }


@pytest.mark.parametrize("bad", [SURROGATE, NUL], ids=["surrogate", "nul"])
def test_an_offer_with_bad_text_is_refused_and_nothing_is_stored(client, platform, bad) -> None:
    agency = bearer_for(client, platform, "agency:mois", ["credentials:offer"])
    resident = youth_claims()["resident_registration"]
    # A claim value with a lone surrogate was a 500 (UnicodeEncodeError sealing the claims).
    for body in (
        _offer("citizen-text-0001", {**resident, "resident_sigungu": bad}),
        _offer("citizen-text-0001", {**resident, bad: "x"}),
        _offer(f"citizen-{bad}-0001"),
    ):
        answer = _post_json(client, "/issuers/mois/offers", body, agency)
        assert answer.status_code == 400, answer.text
        assert answer.headers["content-type"] == "application/problem+json" and answer.json()["title"] == "Invalid text"
    with platform.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM issuer_offers")).scalar() == 0


def test_a_verifier_registration_with_a_surrogate_is_refused(client, platform) -> None:
    admin = bearer_for(client, platform, "platform:admin", ["verifiers:admin"])
    body = {"slug": "text-guard", "name": {"ko": SURROGATE, "en": "Guard"}, "services": ["seoul_youth_allowance"]}
    answer = _post_json(client, "/admin/verifiers", body, admin)
    assert answer.status_code == 400, answer.text
    assert client.get("/admin/verifiers", headers=admin).status_code == 200
    assert "text-guard" not in client.get("/admin/verifiers", headers=admin).text


def test_a_presentation_grant_with_a_surrogate_is_refused(client, platform) -> None:
    verifier = bearer_for(client, platform, "verifier:seoul-youth", ["consent:record"])
    body = {"request_id": "abcdefgh1234", "client_id": "x", "verifier_name_ko": SURROGATE}
    assert _post_json(client, "/consent/presentation-grants", body, verifier).status_code == 400


def test_protocol_endpoints_refuse_in_their_own_format(client, platform) -> None:
    token = client.post(
        "/oauth/token",
        content=b"grant_type=client_credentials&client_id=a%00b",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert token.status_code == 400 and token.json()["error"] == "invalid_request"
    answer = client.post(
        "/verifiers/seoul-youth/response",
        content=b"vp_token=%ED%A0%80&state=x",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"


def test_a_body_that_is_not_utf8_is_refused(client, platform) -> None:
    agency = bearer_for(client, platform, "agency:mois", ["credentials:offer"])
    answer = client.post(
        "/issuers/mois/offers", content=b'{"subject": "\xff"}', headers={**agency, "content-type": "application/json"}
    )
    # json.loads cannot read it: the endpoint's own clean refusal, never a 500.
    assert answer.status_code in (400, 422) and answer.headers["content-type"] == "application/problem+json"


def test_good_bodies_pass_through_whole(client, platform) -> None:
    agency = bearer_for(client, platform, "agency:mois", ["credentials:offer"])
    answer = _post_json(client, "/issuers/mois/offers", _offer("citizen-text-0001"), agency)
    assert answer.status_code == 201, answer.text
    korean = {**youth_claims()["resident_registration"], "resident_sigungu": "종로구 😀"}
    assert _post_json(client, "/issuers/mois/offers", _offer("citizen-text-0002", korean), agency).status_code == 201


def _claims_with(bad: str) -> dict:
    return _offer("citizen-text-0001", {**youth_claims()["resident_registration"], "resident_sigungu": bad})


@pytest.mark.parametrize(
    ("content_type", "encode"),
    [
        ("Application/JSON", lambda text: text.encode()),
        ("application/json; charset=utf-8", lambda text: b"\xef\xbb\xbf" + text.encode()),
        ("application/json", lambda text: text.encode("utf-16-le")),
        ("", lambda text: text.encode()),
    ],
    ids=["upper-case type", "bom", "utf-16", "no content type"],
)
def test_no_spelling_of_a_json_body_slips_past(client, platform, content_type, encode) -> None:
    agency = bearer_for(client, platform, "agency:mois", ["credentials:offer"])
    headers = {**agency, **({"content-type": content_type} if content_type else {})}
    answer = client.post("/issuers/mois/offers", content=encode(json.dumps(_claims_with(SURROGATE))), headers=headers)
    assert answer.status_code == 400, answer.text
    with platform.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM issuer_offers")).scalar() == 0


def test_upper_case_forms_multipart_and_addresses_are_checked_too(client, platform) -> None:
    upper = client.post(
        "/verifiers/seoul-youth/response",
        content=b"state=x%00y&vp_token=%7B%7D",
        headers={"content-type": "APPLICATION/X-WWW-FORM-URLENCODED"},
    )
    assert upper.status_code == 400 and upper.json()["error"] == "invalid_request"
    multipart = client.post(
        "/verifiers/seoul-youth/response", data={"state": "x\x00y", "vp_token": "{}"}, files={"f": ("a", b"x")}
    )
    assert multipart.status_code == 400
    wallet = bearer_for(client, platform, "citizen:citizen-text-0001", ["wallet"])
    for path in (
        "/wallet/api/credentials/a%00b",
        "/wallet/api/credentials/a%ED%A0%80b",
        "/wallet/api/credentials?x=%00",
    ):
        answer = client.get(path, headers=wallet)
        assert answer.status_code == 400 and answer.json()["title"] == "Invalid text", path
    assert client.get("/wallet/api/credentials/no-such-id", headers=wallet).status_code == 404
