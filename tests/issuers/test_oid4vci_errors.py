"""Done-when #2: every bad input gets the spec's error code, and nothing in the database changes."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from tests.issuers.conftest import RESIDENT, snapshot
from tests.issuers.spec_wallet import PRE_AUTH, HolderKey

ISSUER = "http://127.0.0.1:8000/issuers/mois"


def make_offer(client, headers, **extra: Any) -> dict[str, Any]:
    body = {"subject": "citizen-s1", "credential_type": "resident_registration", "claims": RESIDENT, **extra}
    response = client.post("/issuers/mois/offers", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def code_of(offer: dict[str, Any]) -> str:
    return offer["credential_offer"]["grants"][PRE_AUTH]["pre-authorized_code"]


def redeem(client, offer: dict[str, Any], **form: str):
    return client.post(
        "/issuers/mois/token", data={"grant_type": PRE_AUTH, "pre-authorized_code": code_of(offer), **form}
    )


def access_token(client, headers, **offer_extra: Any) -> str:
    response = redeem(client, make_offer(client, headers, **offer_extra))
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def nonce(client) -> str:
    return client.post("/issuers/mois/nonce").json()["c_nonce"]


def credential(client, token: str, body: Any):
    return client.post("/issuers/mois/credential", json=body, headers={"Authorization": f"Bearer {token}"})


def body_with(proof: str, config: str = "resident_registration") -> dict[str, Any]:
    return {"credential_configuration_id": config, "proofs": {"jwt": [proof]}}


def assert_error(response, error: str, status: int = 400) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    assert response.json()["error"] == error


# -- token endpoint ------------------------------------------------------------------------------


def test_expired_offer_is_invalid_grant(client, mois, platform) -> None:
    offer = make_offer(client, mois)
    with platform.engine.begin() as connection:
        connection.execute(text("UPDATE issuer_offers SET expires_at = :t"), {"t": int(time.time()) - 1})
    before = snapshot(platform.engine)
    assert_error(redeem(client, offer), "invalid_grant")
    assert snapshot(platform.engine) == before


def test_offer_redeemed_twice_is_invalid_grant(client, mois, platform) -> None:
    offer = make_offer(client, mois)
    assert redeem(client, offer).status_code == 200
    before = snapshot(platform.engine)
    assert_error(redeem(client, offer), "invalid_grant")
    assert snapshot(platform.engine) == before


def test_unknown_or_forged_code_is_invalid_grant(client, mois, platform) -> None:
    offer = make_offer(client, mois)
    before = snapshot(platform.engine)
    offer_id = code_of(offer).split(".")[0]
    for code in ("nonsense", f"{offer_id}.AAAA", code_of(offer) + "x", "." * 200):
        response = client.post("/issuers/mois/token", data={"grant_type": PRE_AUTH, "pre-authorized_code": code})
        assert_error(response, "invalid_grant")
    # The right code at another issuer's token endpoint is not valid there either.
    other = client.post("/issuers/ssis/token", data={"grant_type": PRE_AUTH, "pre-authorized_code": code_of(offer)})
    assert_error(other, "invalid_grant")
    assert snapshot(platform.engine) == before


def test_wrong_pin_then_lock_after_five(client, mois, platform) -> None:
    offer = make_offer(client, mois, tx_code={"value": "246810"})
    assert offer["credential_offer"]["grants"][PRE_AUTH]["tx_code"]["length"] == 6
    before = snapshot(platform.engine)
    response = redeem(client, offer, tx_code="000000")
    assert_error(response, "invalid_grant")
    # Only the attempt counter moved: no token, the offer still redeemable.
    with platform.engine.connect() as connection:
        state, attempts, token = connection.execute(
            text("SELECT state, tx_attempts, access_token_hash FROM issuer_offers")
        ).one()
    assert (state, attempts, token) == ("offered", 1, None)
    after = snapshot(platform.engine)
    assert {t: rows for t, rows in after.items() if t != "issuer_offers"} == {
        t: rows for t, rows in before.items() if t != "issuer_offers"
    }
    for _ in range(4):
        assert_error(redeem(client, offer, tx_code="111111"), "invalid_grant")
    locked = snapshot(platform.engine)
    # Locked: even the right code no longer works, and nothing changes any more.
    response = redeem(client, offer, tx_code="246810")
    assert_error(response, "invalid_grant")
    assert "locked" in response.json()["error_description"]
    assert snapshot(platform.engine) == locked


def test_missing_pin_or_unexpected_pin_is_invalid_request(client, mois, platform) -> None:
    with_pin = make_offer(client, mois, tx_code={"length": 4})
    assert with_pin["tx_code"] and len(with_pin["tx_code"]) == 4
    without_pin = make_offer(client, mois)
    before = snapshot(platform.engine)
    assert_error(redeem(client, with_pin), "invalid_request")
    assert_error(redeem(client, without_pin, tx_code="1234"), "invalid_request")
    assert snapshot(platform.engine) == before
    assert redeem(client, with_pin, tx_code=with_pin["tx_code"]).status_code == 200


def test_token_request_shape_errors(client, mois, platform) -> None:
    offer = make_offer(client, mois)
    before = snapshot(platform.engine)
    assert_error(client.post("/issuers/mois/token", data={"pre-authorized_code": code_of(offer)}), "invalid_request")
    assert_error(client.post("/issuers/mois/token", data={"grant_type": PRE_AUTH}), "invalid_request")
    assert_error(
        client.post("/issuers/mois/token", data={"grant_type": "authorization_code", "code": "x"}),
        "unsupported_grant_type",
    )
    assert_error(client.post("/issuers/mois/token", json={"grant_type": PRE_AUTH}), "invalid_request")
    repeated = client.post(
        "/issuers/mois/token",
        content=f"grant_type={PRE_AUTH}&pre-authorized_code=a&pre-authorized_code=b",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_error(repeated, "invalid_request")
    assert snapshot(platform.engine) == before


def test_token_endpoint_ignores_unknown_parameters(client, mois) -> None:
    offer = make_offer(client, mois)
    response = redeem(client, offer, resource="https://rs.example", user_pin="x", client_id="wallet")
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"


# -- credential endpoint ---------------------------------------------------------------------------


def test_replayed_and_unknown_nonce_are_invalid_nonce(client, mois, platform) -> None:
    holder = HolderKey.generate()
    used = nonce(client)
    first = credential(client, access_token(client, mois), body_with(holder.proof(ISSUER, used)))
    assert first.status_code == 200, first.text
    token = access_token(client, mois)
    before = snapshot(platform.engine)
    assert_error(credential(client, token, body_with(holder.proof(ISSUER, used))), "invalid_nonce")
    assert_error(credential(client, token, body_with(holder.proof(ISSUER, "never-issued"))), "invalid_nonce")
    assert snapshot(platform.engine) == before


def test_nonce_of_another_issuer_is_invalid_nonce(client, mois, platform) -> None:
    other = client.post("/issuers/ssis/nonce").json()["c_nonce"]
    token = access_token(client, mois)
    before = snapshot(platform.engine)
    assert_error(credential(client, token, body_with(HolderKey.generate().proof(ISSUER, other))), "invalid_nonce")
    assert snapshot(platform.engine) == before


def _forged_proofs(n: str) -> dict[str, str]:
    holder, other = HolderKey.generate(), HolderKey.generate()
    now = int(time.time())
    foreign_signed = jwt.encode(
        {"aud": ISSUER, "iat": now, "nonce": n},
        other.private,
        algorithm="ES256",
        headers={"typ": "openid4vci-proof+jwt", "jwk": holder.public_jwk},
    )
    header = jwt.utils.base64url_encode(
        b'{"alg":"none","typ":"openid4vci-proof+jwt","jwk":' + str(holder.public_jwk).replace("'", '"').encode() + b"}"
    ).decode()
    body = jwt.utils.base64url_encode(f'{{"aud":"{ISSUER}","iat":{now},"nonce":"{n}"}}'.encode()).decode()
    return {
        "signed by a key other than the header's": foreign_signed,
        "wrong aud": holder.proof("http://127.0.0.1:8000/issuers/ssis", n),
        "aud with a trailing slash": holder.proof(ISSUER + "/", n),
        "wrong typ": holder.proof(ISSUER, n, typ="JWT"),
        "alg none": f"{header}.{body}.",
        "no nonce": holder.proof(ISSUER, None),
        "stale iat": jwt.encode(
            {"aud": ISSUER, "iat": now - 3600, "nonce": n},
            holder.private,
            algorithm="ES256",
            headers={"typ": "openid4vci-proof+jwt", "jwk": holder.public_jwk},
        ),
        "kid instead of jwk": jwt.encode(
            {"aud": ISSUER, "iat": now, "nonce": n},
            holder.private,
            algorithm="ES256",
            headers={"typ": "openid4vci-proof+jwt", "kid": "k1"},
        ),
        "not a JWS": "abc",
    }


def test_bad_proofs_are_invalid_proof(client, mois, platform) -> None:
    token = access_token(client, mois)
    n = nonce(client)
    before = snapshot(platform.engine)
    for label, proof in _forged_proofs(n).items():
        response = credential(client, token, body_with(proof))
        assert response.status_code == 400, label
        assert response.json()["error"] == "invalid_proof", label
    assert_error(credential(client, token, {"credential_configuration_id": "resident_registration"}), "invalid_proof")
    assert_error(
        credential(client, token, {"credential_configuration_id": "resident_registration", "proofs": {"ldp_vp": [{}]}}),
        "invalid_proof",
    )
    # None of it consumed the nonce or the token: the honest request still succeeds.
    assert snapshot(platform.engine) == before
    good = credential(client, token, body_with(HolderKey.generate().proof(ISSUER, n)))
    assert good.status_code == 200, good.text


def test_unknown_credential_configuration(client, mois, platform) -> None:
    token = access_token(client, mois)
    n = nonce(client)
    before = snapshot(platform.engine)
    for config in ("no_such_type", "household_income", 42):
        response = credential(client, token, body_with(HolderKey.generate().proof(ISSUER, n), config))
        assert_error(response, "unknown_credential_configuration")
    assert snapshot(platform.engine) == before


def test_malformed_credential_requests(client, mois, platform) -> None:
    token = access_token(client, mois)
    n = nonce(client)
    proof = HolderKey.generate().proof(ISSUER, n)
    before = snapshot(platform.engine)
    bad_bodies = [
        {"proofs": {"jwt": [proof]}},
        {"credential_identifier": "x", "proofs": {"jwt": [proof]}},
        {"credential_configuration_id": "resident_registration", "proofs": {"jwt": [proof, proof]}},
        {"credential_configuration_id": "resident_registration", "proofs": {"jwt": proof}},
        [1, 2],
    ]
    for body in bad_bodies:
        assert_error(credential(client, token, body), "invalid_credential_request")
    raw = client.post("/issuers/mois/credential", content=b"{not json", headers={"Authorization": f"Bearer {token}"})
    assert_error(raw, "invalid_credential_request")
    assert snapshot(platform.engine) == before


def test_bad_access_tokens_are_401(client, mois, platform) -> None:
    n = nonce(client)
    before = snapshot(platform.engine)
    body = body_with(HolderKey.generate().proof(ISSUER, n))
    missing = client.post("/issuers/mois/credential", json=body)
    assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
    assert_error(credential(client, "made-up", body), "invalid_token", 401)
    assert snapshot(platform.engine) == before
    # A token is spent by its credential.
    token = access_token(client, mois)
    assert credential(client, token, body).status_code == 200
    again = credential(client, token, body_with(HolderKey.generate().proof(ISSUER, nonce(client))))
    assert_error(again, "invalid_token", 401)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.sampled_from(["credential_configuration_id", "proofs", "jwt", "x"]), inner, max_size=3)
        ),
        max_leaves=10,
    )
)
def test_no_request_body_yields_a_500(client, mois, body) -> None:
    token = access_token(client, mois)
    response = credential(client, token, body)
    assert response.status_code in (400, 401)
    form = client.post("/issuers/mois/token", data={"grant_type": PRE_AUTH, "pre-authorized_code": str(body)[:300]})
    assert form.status_code == 400


# -- agency API ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("claims", "field"),
    [
        ({**RESIDENT, "birth_date": 20010304}, "claims.birth_date"),
        ({**RESIDENT, "birth_date": "2001-02-30"}, "claims.birth_date"),
        ({k: v for k, v in RESIDENT.items() if k != "as_of"}, "claims.as_of"),
        ({**RESIDENT, "blood_type": "A"}, "claims.blood_type"),
        ({**RESIDENT, "nationality_status": "martian"}, "claims.nationality_status"),
        ({**RESIDENT, "registered_household_size": 0}, "claims.registered_household_size"),
        ({**RESIDENT, "is_household_head": "yes"}, "claims.is_household_head"),
    ],
)
def test_claims_are_validated_against_the_type(client, mois, platform, claims, field) -> None:
    before = snapshot(platform.engine)
    body = {"subject": "citizen-s", "credential_type": "resident_registration", "claims": claims}
    response = client.post("/issuers/mois/offers", json=body, headers=mois)
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == field
    assert field in response.json()["detail"]
    assert snapshot(platform.engine) == before


@pytest.mark.parametrize(
    "subject",
    ["990501-1234567", "citizen-9905011234567", "S-1", "citizen 0001", "x" * 65, 12345678, None],
)
def test_the_subject_is_a_pseudonymous_platform_id(client, mois, platform, subject) -> None:
    """The subject becomes the credential's `sub`: a resident registration number (anywhere in it),
    a short, spaced, over-long or non-string value is refused before anything is stored."""
    before = snapshot(platform.engine)
    body = {"subject": subject, "credential_type": "resident_registration", "claims": RESIDENT}
    response = client.post("/issuers/mois/offers", json=body, headers=mois)
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] in ("subject", "body.subject")
    assert "9905011234567" not in response.text and "990501-1234567" not in response.text
    assert snapshot(platform.engine) == before


def test_agency_cannot_offer_a_type_it_may_not_issue(client, mois, platform) -> None:
    before = snapshot(platform.engine)
    body = {"subject": "citizen-s", "credential_type": "household_income", "claims": {}}
    response = client.post("/issuers/mois/offers", json=body, headers=mois)
    assert response.status_code == 403 and response.headers["content-type"] == "application/problem+json"
    assert snapshot(platform.engine) == before


def test_agency_cannot_act_as_another_agency(client, mois, ssis, platform) -> None:
    before = snapshot(platform.engine)
    body = {"subject": "citizen-s", "credential_type": "household_income", "claims": {}}
    assert client.post("/issuers/ssis/offers", json=body, headers=mois).status_code == 403
    assert client.post("/issuers/mois/offers", json=body).status_code == 401
    assert snapshot(platform.engine) == before
