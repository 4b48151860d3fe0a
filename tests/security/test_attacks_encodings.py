"""Encoding attacks: bytes that are not UTF-8 (stray, overlong), NUL characters, unpaired UTF-16
surrogates, and identifiers that look like real ones but are other characters (homoglyphs,
full-width forms, invisible joiners, look-alike punctuation) — in JSON and form bodies, paths,
queries, headers, and inside what a presentation carries (disclosures and issuer JWT payloads,
signed by MOIS's own key where the attack needs a signature).

Each is refused with a 4xx in the endpoint's own error format (Problem Details, or OAuth's
`{"error": …}` on the protocol endpoints), nothing is written, and the honest request succeeds next.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.security.attack_support import (
    QUERY_ID,
    SERVICE,
    World,
    digest_of,
    disclosure,
    es256_raw,
    issue_honest_credential,
    open_world,
    presentation_refused,
    problem,
    refused,
    still_serving,
)
from tests.verifiers.conftest import youth_claims
from tests.verifiers.spec_vp_wallet import b64url

SURROGATE = "\ud800"
NUL = "\x00"


@pytest.fixture(scope="module")
def world(tmp_path_factory, database_url, migrated_engine) -> Iterator[World]:
    for opened in open_world(tmp_path_factory, database_url, migrated_engine):
        opened.held = issue_honest_credential(opened)
        yield opened


def _offer(subject: str = "citizen-enc-0001", **claim_changes: Any) -> dict[str, Any]:
    claims = {**youth_claims()["resident_registration"], **claim_changes}
    return {"subject": subject, "credential_type": "resident_registration", "claims": claims}


def _post_json(world: World, path: str, body: bytes | Any, headers: dict[str, str]):
    # json.dumps escapes (ensure_ascii): a surrogate and a NUL travel as \ud800 and \u0000, as an attacker sends them.
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return world.client.post(path, content=raw, headers={**headers, "content-type": "application/json"})


def _offer_refused(world: World, body: bytes | Any, *statuses: int) -> None:
    agency = world.bearer("agency:mois", "credentials:offer")
    before = _offer_count(world)
    problem(_post_json(world, "/issuers/mois/offers", body, agency), *(statuses or (400,)))
    assert _offer_count(world) == before  # nothing written
    honest = _post_json(world, "/issuers/mois/offers", _offer(), agency)
    assert honest.status_code == 201, honest.text


def _offer_count(world: World) -> int:
    from sqlalchemy import text

    with world.platform.engine.connect() as connection:
        return connection.execute(text("SELECT count(*) FROM issuer_offers")).scalar_one()


def _admin(world: World) -> dict[str, str]:
    return world.bearer("platform:admin", "verifiers:admin")


def _registration(slug: str = "enc-verifier", **changes: Any) -> dict[str, Any]:
    return {"slug": slug, "name": {"ko": "서울 교통", "en": "Seoul Transport"}, "services": [SERVICE], **changes}


def _registration_refused(world: World, body: bytes | Any, *statuses: int) -> None:
    response = _post_json(world, "/admin/verifiers", body, _admin(world))
    problem(response, *(statuses or (400, 422)))
    listed = world.client.get("/admin/verifiers", headers=_admin(world))
    assert listed.status_code == 200
    assert not any(v["slug"] not in _DEMO_VERIFIERS for v in listed.json()), "a refused registration was stored"


_DEMO_VERIFIERS = {"seoul-youth", "seoul-housing", "seoul-learn", "seoul-transport"}


def _response_form_refused(world: World, form: bytes) -> None:
    _, request = world.check()
    response = world.client.post(
        request.claims["response_uri"], content=form, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    refused(response)
    still_serving(world)


def _token_form_refused(world: World, form: bytes) -> None:
    response = world.client.post(
        "/oauth/token", content=form, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_request", response.text
    assert world.bearer("platform:admin", "verifiers:admin")  # the token endpoint still issues tokens


def _presentation_refused(world: World, make, *reasons: str) -> None:
    request_id, request = world.check()
    presentation_refused(world, request_id, world.post(request, make(request)), *reasons)
    still_serving(world)


def _with_disclosure(world: World, encoded: str, *names: str) -> tuple[str, list[str]]:
    """The issuer JWT re-signed by MOIS with `encoded` referenced from `_sd`, and what to present."""
    issuer_jwt = world.resign(_sd=[*world.held.payload["_sd"], digest_of(encoded)])
    return issuer_jwt, [*world.disclosures(*names), encoded]


# -- not UTF-8 --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [b"\xff\xfe", b"\xc0\x80", b"\xed\xa0\x80", b"\xe2\x82"],
    ids=["stray", "overlong_nul", "cesu_surrogate", "cut"],
)
def test_a_json_body_that_is_not_utf8(world, raw) -> None:
    _registration_refused(world, b'{"slug": "enc-' + raw + b'", "name": {"ko": "a", "en": "b"}, "services": ["x"]}')


def test_a_form_that_is_not_utf8_at_the_response_endpoint(world) -> None:
    _response_form_refused(world, b"state=%ff%fe&vp_token=%7B%7D")


def test_a_raw_byte_that_is_not_utf8_at_the_token_endpoint(world) -> None:
    _token_form_refused(world, b"grant_type=client_credentials&client_id=\xff")


def test_a_path_id_that_is_not_utf8(world) -> None:
    response = world.client.get("/verifiers/requests/%ff%fe", headers=world.backend)
    problem(response, 400, 404)
    still_serving(world)


def test_a_disclosure_that_is_not_utf8(world) -> None:
    broken = b64url(b'["salt", "birth_date", "\xff\xfe"]')
    issuer_jwt, chosen = _with_disclosure(world, broken, "sub")
    _presentation_refused(world, lambda r: world.bind(r, issuer_jwt, chosen), "malformed_disclosure")


def test_an_issuer_jwt_payload_that_is_not_utf8(world) -> None:
    payload = json.dumps(world.held.payload).encode()[:-1] + b', "note": "\xff"}'
    issuer_jwt = es256_raw({"typ": "dc+sd-jwt", "kid": world.mois_kid()}, payload, world.mois_private_key())
    _presentation_refused(world, lambda r: world.bind(r, issuer_jwt), "malformed_issuer_jwt")


def test_a_bearer_token_that_is_not_utf8(world) -> None:
    response = world.client.get("/admin/verifiers", headers={"Authorization": b"Bearer \xff\xfe\xfd"})
    problem(response, 401)
    assert world.client.get("/admin/verifiers", headers=_admin(world)).status_code == 200


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(b"Basic ", id="empty"),
        pytest.param(b"Basic !!!not-base64!!!", id="not_base64"),
        pytest.param(b"Basic " + base64.b64encode(b"no-colon"), id="no_colon"),
        pytest.param(b"Basic /w==", id="not_utf8_inside"),
        pytest.param(b"Basic \xff", id="not_ascii_outside"),
    ],
)
def test_a_malformed_basic_authorization_at_the_token_endpoint(world, authorization) -> None:
    # Issue 14 defect 9: a malformed `Authorization: Basic` header answered 500.
    response = world.client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": authorization}
    )
    assert response.status_code in (400, 401), response.text
    assert response.json()["error"] in ("invalid_client", "invalid_request"), response.text
    assert world.bearer("platform:admin", "verifiers:admin")


def test_markup_in_a_credential_query_id_never_reaches_the_backend(world) -> None:
    # Issue 14 defect 15: what a stranger posts is neutralised before a backend reads it as detail.
    request_id, request = world.check()
    markup = '<img src=x onerror="alert(1)">'
    response = world.post(request, world.honest(request), query_id=markup)
    body = refused(response)
    detail = world.result(request_id)["failure"]["detail"]
    for text in (detail, body["error_description"]):
        assert not set('<>"&') & set(text), text
    still_serving(world)


# -- NUL ------------------------------------------------------------------------------------------------


def test_a_nul_in_an_offer_subject(world) -> None:
    _offer_refused(world, _offer(f"citizen{NUL}0001"))


def test_a_nul_in_a_claim_value(world) -> None:
    _offer_refused(world, _offer(resident_sigungu=f"11110{NUL}"))


def test_a_nul_in_a_form_field_at_the_response_endpoint(world) -> None:
    _response_form_refused(world, b"state=x%00y&vp_token=%7B%7D")


def test_a_nul_in_a_client_id_at_the_token_endpoint(world) -> None:
    _token_form_refused(world, b"grant_type=client_credentials&client_id=a%00b")


@pytest.mark.parametrize(
    "path", ["/issuers/mo%00is/nonce", "/consent/status/seoul%00-youth", "/verifiers/jwks.json?x=%00"]
)
def test_a_nul_in_the_address(world, path) -> None:
    if path.endswith("/nonce"):  # an OpenID4VCI endpoint: refused in its own format
        response = world.client.post(path)
        assert response.status_code == 400 and response.json()["error"] == "invalid_request", response.text
    else:
        problem(world.client.get(path), 400)
    assert world.client.post("/issuers/mois/nonce").status_code == 200


def test_a_nul_in_a_signed_sub(world) -> None:
    # MOIS signed a sub with a NUL in it: the verifier refuses the subject, never stores it.
    issuer_jwt, chosen = _with_disclosure(world, disclosure("salt-nul", "sub", f"citizen{NUL}1"), "birth_date")
    _presentation_refused(world, lambda r: world.bind(r, issuer_jwt, chosen), "subject_malformed")


# -- unpaired surrogates -----------------------------------------------------------------------------------


def test_a_surrogate_in_a_claim_value(world) -> None:
    _offer_refused(world, _offer(resident_sigungu=SURROGATE))


def test_a_surrogate_as_a_claim_name(world) -> None:
    _offer_refused(world, {**_offer(), "claims": {**_offer()["claims"], SURROGATE: "x"}})


def test_a_surrogate_in_a_verifier_name(world) -> None:
    _registration_refused(world, _registration(name={"ko": SURROGATE, "en": "x"}), 400)


def test_a_surrogate_in_a_presentation_grant(world) -> None:
    recorder = world.bearer(f"verifier:{'seoul-transport'}", "consent:record")
    body = {"request_id": "abcdefgh1234", "client_id": "x", "verifier_name_ko": SURROGATE}
    problem(_post_json(world, "/consent/presentation-grants", body, recorder), 400)
    still_serving(world)  # which records its grant through the same endpoint


def test_a_surrogate_in_a_utf16_json_body(world) -> None:
    _offer_refused(world, json.dumps(_offer(resident_sigungu=SURROGATE)).encode("utf-16-le"))


def test_a_surrogate_in_a_form_at_the_token_endpoint(world) -> None:
    _token_form_refused(world, b"grant_type=client_credentials&client_id=%ED%A0%80")


def test_a_surrogate_in_a_path_id(world) -> None:
    response = world.client.get("/verifiers/requests/a%ED%A0%80b", headers=world.backend)
    problem(response, 400)
    still_serving(world)


def test_a_surrogate_in_a_signed_sub(world) -> None:
    issuer_jwt, chosen = _with_disclosure(world, disclosure("salt-sur", "sub", SURROGATE), "birth_date")
    _presentation_refused(world, lambda r: world.bind(r, issuer_jwt, chosen), "subject_malformed")


# -- look-alike identifiers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "slug",
    ["seoul-trаnsport", "ｓｅｏｕｌ-bus", "seoul\u200dbus", "seoul\u2010bus", "SEOUL-BUS"],
    ids=["cyrillic_a", "fullwidth", "zero_width_joiner", "unicode_hyphen", "upper_case"],
)
def test_a_verifier_slug_that_only_looks_right(world, slug) -> None:
    _registration_refused(world, _registration(slug), 422)


def test_a_dns_name_with_a_cyrillic_letter(world) -> None:
    _registration_refused(world, _registration(dns_name="seoul.exаmple"), 422)


@pytest.mark.parametrize(
    "slug",
    ["mоis", "ｍｏｉｓ", "mois\u200b", "MOIS"],
    ids=["cyrillic_o", "fullwidth", "zero_width_space", "upper_case"],
)
def test_an_agency_slug_that_only_looks_right(world, slug) -> None:
    from urllib.parse import quote

    agency = world.bearer("agency:mois", "credentials:offer")
    response = _post_json(world, f"/issuers/{quote(slug)}/offers", _offer(), agency)
    problem(response, 403, 404)
    assert world.client.get(f"/.well-known/jwt-vc-issuer/issuers/{quote(slug)}").status_code == 404
    assert _post_json(world, "/issuers/mois/offers", _offer(), agency).status_code == 201


def test_an_oauth_client_id_with_a_homoglyph(world) -> None:
    from auth.clients import register_client

    real = register_client(world.platform.engine, "verifier:seoul-transport", ["presentations:request"])
    look_alike = real.client_id.replace("a", "а", 1) if "a" in real.client_id else "а" + real.client_id[1:]
    form = {"grant_type": "client_credentials", "scope": "presentations:request"}
    response = world.client.post("/oauth/token", data=form, auth=(look_alike, real.client_secret))
    assert response.status_code in (400, 401) and response.json()["error"] in ("invalid_client", "invalid_request")
    honest = world.client.post("/oauth/token", data=form, auth=(real.client_id, real.client_secret))
    assert honest.status_code == 200, honest.text


def test_a_claim_name_with_a_cyrillic_letter_in_an_offer(world) -> None:
    claims = {k: v for k, v in _offer()["claims"].items() if k != "birth_date"} | {"birth_dаte": "1999-05-01"}
    _offer_refused(world, {**_offer(), "claims": claims}, 422)


def test_a_credential_type_with_a_look_alike_letter(world) -> None:
    _offer_refused(world, {**_offer(), "credential_type": "resіdent_registration"}, 404, 422)


def test_a_subject_with_a_unicode_hyphen(world) -> None:
    _offer_refused(world, _offer("citizen\u2010enc-0001"), 422)


def test_a_service_id_with_a_look_alike_letter(world) -> None:
    response = world.client.post("/verifiers/requests", json={"service_id": "k_pаss_youth"}, headers=world.backend)
    problem(response, 403, 404, 422)
    still_serving(world)


def test_a_signed_claim_name_with_a_cyrillic_letter(world) -> None:
    # MOIS signed `birth_dаte`: not the claim the query asked for, so it is over-disclosure.
    issuer_jwt, chosen = _with_disclosure(
        world, disclosure("salt-cyr", "birth_dаte", "1999-05-01"), "birth_date", "sub"
    )
    _presentation_refused(world, lambda r: world.bind(r, issuer_jwt, chosen), "over_disclosure")


def test_a_credential_query_id_with_a_look_alike_letter(world) -> None:
    request_id, request = world.check()
    look_alike = QUERY_ID.replace("i", "і", 1)
    presentation_refused(
        world,
        request_id,
        world.post(request, world.honest(request), query_id=look_alike),
        "unrequested_credential",
        "presentation_does_not_match_query",
    )
    still_serving(world)
