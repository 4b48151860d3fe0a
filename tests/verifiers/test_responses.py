"""The direct_post response endpoint: a complete presentation yields a signed decision; every check
refuses its own bad input with its own reason, and no refused response ever reads "eligible"."""

from __future__ import annotations

import hashlib
import json
import time

import pytest
import rfc8785
from sqlmodel import Session

from keys import jws
from keys.jwk import generate_private_key, public_jwk, thumbprint
from tests.conftest import bearer_for
from tests.verifiers.conftest import GANGNAM, birth_date_for_age, youth_claims
from tests.verifiers.spec_vp_wallet import HeldCredential, answer, b64url, fetch_request, present, respond, select
from verifiers.models import PresentationRequest


@pytest.fixture
def check(client, youth_backend):
    """Start a youth-allowance check; returns (request id, the wallet's view of the request)."""

    def start(service_id: str = "seoul_youth_allowance", headers=None):
        created = client.post("/verifiers/requests", json={"service_id": service_id}, headers=headers or youth_backend)
        assert created.status_code == 201, created.text
        body = created.json()
        request = fetch_request(body["link"], client, client.get("/verifiers/rp-ca.pem").content)
        return body["request_id"], request

    return start


def result_of(client, headers, request_id: str) -> dict:
    return client.get(f"/verifiers/requests/{request_id}", headers=headers).json()


def refused(response, reason: str) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "invalid_request"
    assert body["error_description"].split(":")[0] == reason, body


def assert_refused(client, youth_backend, request_id: str, response, reason: str) -> None:
    """Refused with `reason`, recorded for the backend, and nothing decided. The request ends
    ("rejected") only when the holder's key binding to it verified; otherwise it stays pending, so a
    stranger who saw the QR code cannot end the citizen's check with garbage."""
    refused(response, reason)
    result = result_of(client, youth_backend, request_id)
    assert result["status"] in ("rejected", "pending")
    assert result.get("eligible") is not True
    assert result["failure"]["reason"] == reason
    assert "decision" not in result


def test_eligible_citizen_gets_a_signed_eligible_decision(client, youth_backend, credentials, check, platform) -> None:
    wallet = credentials.wallet(youth_claims())
    request_id, request = check()
    response = answer(request, wallet, client)
    assert response.status_code == 200, response.text
    result = result_of(client, youth_backend, request_id)
    assert result["status"] == "answered" and result["eligible"] is True
    assert "values" not in result  # the youth allowance needs no claim values
    decision = jws.verify(result["decision"], platform.keyring.resolver("verifiers"), typ="eligibility-decision+jwt")
    claims = decision.payload
    assert claims["eligible"] is True and claims["outcome"] == "held"
    assert claims["policy"] == {"id": "seoul_youth_allowance", "version": "2026.1"}
    assert claims["request_id"] == request_id and claims["consent"]["record_id"] == result["consent_record_id"]
    assert {e["iss"] for e in claims["evidence"]} >= {"http://127.0.0.1:8000/issuers/mois"}
    assert all(e["status"] == "valid" for e in claims["evidence"])
    # The decision carries no claim value: no birth date, no income level.
    assert "1999-05-01" not in json.dumps(claims) and "120" not in json.dumps(claims["conditions"])


def test_one_year_too_old_is_not_eligible_with_the_condition_named(client, youth_backend, credentials, check) -> None:
    wallet = credentials.wallet(youth_claims(resident_registration={"birth_date": birth_date_for_age(35)}))
    request_id, request = check()
    assert answer(request, wallet, client).status_code == 200
    result = result_of(client, youth_backend, request_id)
    assert result["eligible"] is False
    claims = jws.read_unverified(result["decision"])[1]
    failing = [c for c in claims["conditions"] if c["outcome"] == "not_held"]
    assert [(c["credential"], c["claim"]) for c in failing] == [("resident_registration", "birth_date")]


def _resign(platform, held: HeldCredential, owner: str, **changes) -> HeldCredential:
    """The same credential re-signed by `owner`'s real key with changed claims (None deletes)."""
    payload = {**held.payload, **changes}
    payload = {k: v for k, v in payload.items() if v is not None}
    issuer_jwt = platform.keyring.sign(owner, payload, typ="dc+sd-jwt")
    return HeldCredential(issuer_jwt + held.sd_jwt[len(held.issuer_jwt) :], held.holder)


def _vp(request, chosen, replace=None, **kb) -> dict[str, list[str]]:
    replace = replace or {}
    return {
        query_id: [
            present(
                replace.get(query_id, held),
                names,
                aud=kb.get("aud", request.client_id),
                nonce=kb.get("nonce", request.claims["nonce"]),
                iat=kb.get("iat"),
            )
        ]
        for query_id, (held, names) in chosen.items()
    }


@pytest.fixture
def youth_case(client, credentials, check):
    """An eligible citizen's wallet and an open youth-allowance request, with the wallet's choice."""
    wallet = credentials.wallet(youth_claims())
    request_id, request = check()
    return request_id, request, select(request.claims["dcql_query"], wallet)


def test_forged_issuer_signature(client, youth_backend, youth_case) -> None:
    request_id, request, chosen = youth_case
    held, _ = chosen["resident_registration"]
    forger = generate_private_key("ES256")
    kid = jws.read_header(held.issuer_jwt)["kid"]  # claims to be MOIS's key
    forged_jwt = jws.sign({**held.payload, "birth_date": "2001-01-01"}, forger, typ="dc+sd-jwt", kid=kid)
    forged = HeldCredential(forged_jwt + held.sd_jwt[len(held.issuer_jwt) :], held.holder)
    vp = _vp(request, chosen, replace={"resident_registration": forged})
    assert_refused(client, youth_backend, request_id, respond(request, vp, client), "issuer_signature_invalid")


def test_issuer_not_in_the_registry(client, youth_backend, youth_case) -> None:
    request_id, request, chosen = youth_case
    held, _ = chosen["resident_registration"]
    stranger_key = generate_private_key("ES256")
    payload = {**held.payload, "iss": "https://issuer.example/seoul"}
    issuer_jwt = jws.sign(payload, stranger_key, typ="dc+sd-jwt", kid=thumbprint(public_jwk(stranger_key)))
    stranger = HeldCredential(issuer_jwt + held.sd_jwt[len(held.issuer_jwt) :], held.holder)
    vp = _vp(request, chosen, replace={"resident_registration": stranger})
    assert_refused(client, youth_backend, request_id, respond(request, vp, client), "issuer_not_trusted")


def test_issuer_trusted_but_not_for_that_vct(client, youth_backend, youth_case, platform) -> None:
    # NTS is a trusted issuer, but only of personal income: a resident registration it signs is refused.
    request_id, request, chosen = youth_case
    held, _ = chosen["resident_registration"]
    platform.keyring.ensure_key("agency:nts")
    nts = _resign(platform, held, "agency:nts", iss="http://127.0.0.1:8000/issuers/nts")
    vp = _vp(request, chosen, replace={"resident_registration": nts})
    assert_refused(client, youth_backend, request_id, respond(request, vp, client), "issuer_not_trusted_for_vct")


def test_expired_credential(client, youth_backend, youth_case, platform) -> None:
    request_id, request, chosen = youth_case
    held, _ = chosen["resident_registration"]
    expired = _resign(platform, held, "agency:mois", exp=int(time.time()) - 3600)
    vp = _vp(request, chosen, replace={"resident_registration": expired})
    assert_refused(client, youth_backend, request_id, respond(request, vp, client), "expired")


def test_not_yet_valid_credential(client, youth_backend, youth_case, platform) -> None:
    request_id, request, chosen = youth_case
    held, _ = chosen["resident_registration"]
    future = _resign(platform, held, "agency:mois", nbf=int(time.time()) + 3600)
    vp = _vp(request, chosen, replace={"resident_registration": future})
    assert_refused(client, youth_backend, request_id, respond(request, vp, client), "not_yet_valid")


@pytest.mark.parametrize(("action", "reason"), [("revoke", "credential_revoked"), ("suspend", "credential_suspended")])
def test_revoked_and_suspended_credentials(client, youth_backend, youth_case, credentials, action, reason) -> None:
    request_id, request, chosen = youth_case
    credentials.set_status("education_status", action)
    assert_refused(client, youth_backend, request_id, respond(request, _vp(request, chosen), client), reason)


def test_status_list_unreachable(client, youth_backend, youth_case, platform) -> None:
    request_id, request, chosen = youth_case
    held, _ = chosen["resident_registration"]
    status = {"status_list": {"idx": 7, "uri": "http://127.0.0.1:8000/issuers/mois/status-lists/does-not-exist"}}
    moved = _resign(platform, held, "agency:mois", status=status)
    vp = _vp(request, chosen, replace={"resident_registration": moved})
    assert_refused(client, youth_backend, request_id, respond(request, vp, client), "status_unavailable")


def test_key_binding_missing(client, youth_backend, youth_case) -> None:
    request_id, request, chosen = youth_case
    vp = _vp(request, chosen)
    vp["resident_registration"] = [vp["resident_registration"][0].rsplit("~", 1)[0] + "~"]
    assert_refused(client, youth_backend, request_id, respond(request, vp, client), "kb_missing")


@pytest.mark.parametrize(
    ("kb", "reason"),
    [
        ({"aud": "x509_san_dns:attacker.example"}, "kb_wrong_aud"),
        ({"aud": "127.0.0.1"}, "kb_wrong_aud"),  # the client id without its prefix is another identifier
        ({"nonce": "not-the-request-nonce"}, "kb_wrong_nonce"),
        ({"iat": int(time.time()) - 3600}, "kb_iat_invalid"),
        ({"iat": int(time.time()) + 3600}, "kb_iat_invalid"),
    ],
)
def test_key_binding_checks(client, youth_backend, youth_case, kb, reason) -> None:
    request_id, request, chosen = youth_case
    vp = _vp(request, chosen, **kb)
    assert_refused(client, youth_backend, request_id, respond(request, vp, client), reason)


def test_wrong_sd_hash(client, youth_backend, youth_case) -> None:
    request_id, request, chosen = youth_case
    vp = _vp(request, chosen)
    held, names = chosen["resident_registration"]
    # A KB-JWT made for a different selection of disclosures, attached to this one.
    other = present(held, names[:1], aud=request.client_id, nonce=request.claims["nonce"])
    presented = vp["resident_registration"][0].rsplit("~", 1)[0] + "~"
    vp["resident_registration"] = [presented + other.rsplit("~", 1)[1]]
    assert_refused(client, youth_backend, request_id, respond(request, vp, client), "kb_sd_hash_mismatch")


def test_kb_signed_by_another_key(client, youth_backend, youth_case) -> None:
    request_id, request, chosen = youth_case
    held, _ = chosen["resident_registration"]
    thief = HeldCredential(held.sd_jwt, generate_private_key("ES256"))
    vp = _vp(request, chosen, replace={"resident_registration": thief})
    assert_refused(client, youth_backend, request_id, respond(request, vp, client), "kb_signature_invalid")


def test_disclosure_the_issuer_never_signed(client, youth_backend, youth_case) -> None:
    request_id, request, chosen = youth_case
    held, names = chosen["resident_registration"]
    fake = b64url(json.dumps(["c2FsdHNhbHRzYWx0c2FsdA", "is_household_head", True]).encode())
    tampered = HeldCredential(held.sd_jwt + fake + "~", held.holder)
    vp = _vp(request, chosen, replace={"resident_registration": tampered})
    # The holder's wallet presents the extra disclosure; its KB-JWT even covers it.
    vp["resident_registration"] = [
        present(tampered, [*names, "is_household_head"], aud=request.client_id, nonce=request.claims["nonce"])
    ]
    assert_refused(client, youth_backend, request_id, respond(request, vp, client), "unreferenced_disclosure")


def test_claim_the_query_needs_is_missing(client, youth_backend, youth_case) -> None:
    request_id, request, chosen = youth_case
    held, names = chosen["resident_registration"]
    vp = _vp(request, chosen)
    vp["resident_registration"] = [
        present(held, [n for n in names if n != "birth_date"], aud=request.client_id, nonce=request.claims["nonce"])
    ]
    response = respond(request, vp, client)
    assert_refused(client, youth_backend, request_id, response, "presentation_does_not_match_query")


def test_a_missing_credential_is_refused(client, youth_backend, youth_case) -> None:
    request_id, request, chosen = youth_case
    vp = _vp(request, chosen)
    del vp["welfare_status"]
    response = respond(request, vp, client)
    assert_refused(client, youth_backend, request_id, response, "presentation_does_not_match_query")


def test_extra_credential_not_asked_for(client, youth_backend, youth_case, credentials) -> None:
    request_id, request, chosen = youth_case
    lease = credentials.issue("lease", {"monthly_rent": 500000, "lessee_is_holder": True})
    vp = _vp(request, chosen)
    vp["lease"] = [present(lease, ["monthly_rent"], aud=request.client_id, nonce=request.claims["nonce"])]
    assert_refused(client, youth_backend, request_id, respond(request, vp, client), "unrequested_credential")


def test_response_to_an_expired_request(client, youth_backend, youth_case, platform) -> None:
    request_id, request, chosen = youth_case
    with Session(platform.engine) as session:
        row = session.get(PresentationRequest, request_id)
        row.expires_at = int(time.time()) - 1
        session.add(row)
        session.commit()
    assert_refused(client, youth_backend, request_id, respond(request, _vp(request, chosen), client), "request_expired")


@pytest.mark.parametrize(
    ("form", "reason"),
    [
        ({"vp_token": "not json"}, "malformed_vp_token"),
        ({"vp_token": "[]"}, "malformed_vp_token"),
        ({"vp_token": json.dumps({"resident_registration": "x"})}, "malformed_vp_token"),
        ({}, "missing_vp_token"),
    ],
)
def test_malformed_responses(client, youth_backend, youth_case, form, reason) -> None:
    request_id, request, _ = youth_case
    response = client.post(request.claims["response_uri"], data={"state": request.claims["state"], **form})
    assert_refused(client, youth_backend, request_id, response, reason)


def test_no_500_on_garbage_presentations(client, youth_backend, youth_case) -> None:
    request_id, request, chosen = youth_case
    vp = {query_id: ["~~~not an sd-jwt~"] for query_id in chosen}
    response = respond(request, vp, client)
    assert response.status_code == 400
    assert result_of(client, youth_backend, request_id).get("eligible") is not True


def test_replayed_response_is_refused_and_the_decision_stands(client, youth_backend, youth_case) -> None:
    request_id, request, chosen = youth_case
    vp = _vp(request, chosen)
    assert respond(request, vp, client).status_code == 200
    refused(respond(request, vp, client), "request_already_answered")
    result = result_of(client, youth_backend, request_id)
    assert result["status"] == "answered" and result["eligible"] is True


def test_the_same_presentation_is_not_accepted_for_another_request(client, youth_backend, youth_case, check) -> None:
    _, request, chosen = youth_case
    vp = _vp(request, chosen)
    assert respond(request, vp, client).status_code == 200
    other_id, other = check()
    response = client.post(
        other.claims["response_uri"], data={"vp_token": json.dumps(vp), "state": other.claims["state"]}
    )
    assert_refused(client, youth_backend, other_id, response, "kb_wrong_nonce")


def _wallet_grant(
    platform, request_id: str, verifier: str = "verifier:seoul-youth", citizen: str = "citizen:citizen-1"
) -> tuple:
    """What the citizen's own wallet does before posting: record, grant and link the consent."""
    import datetime as dt

    from consent.presentations import link_presentation
    from consent.schemas import ConsentRecordIn
    from seoul_wallet.app import consent_ledger

    ledger = consent_ledger(platform)
    now = dt.datetime.now(dt.UTC)
    record = ConsentRecordIn.model_validate(
        {
            "citizen": citizen,
            "recipient": verifier,
            "controller": {"id": "seoul-youth", "name_ko": "서울시 청년사업담당관", "name_en": "Seoul Youth"},
            "service": {"id": "seoul_youth_allowance", "name_ko": "서울 청년수당", "name_en": "Seoul Youth Allowance"},
            "purpose": {"code": "ServiceAccessDetermination", "text_ko": "자격 확인", "text_en": "eligibility"},
            "legal_basis": {"type": "consent"},
            "data_items": [["resident_registration", "birth_date"]],
            "disclosure": "predicate_only",
            "retention_days": 0,
            "validity": {"start": now.isoformat(), "end": (now + dt.timedelta(days=1)).isoformat()},
            "frequency": {"kind": "one_time"},
            "notice": {"sha256": "0" * 64, "version": "2026.1"},
            "method": "wallet_app",
            "actor": {"role": "citizen"},
            "language": "ko",
        }
    )
    record_id = ledger.request(record)
    ledger.grant(record_id)
    link_presentation(ledger, record_id, verifier, request_id)
    return ledger, record_id


def test_wallet_recorded_grant_is_used(client, youth_backend, youth_case, platform) -> None:
    request_id, request, chosen = youth_case
    _, record_id = _wallet_grant(platform, request_id)
    assert respond(request, _vp(request, chosen), client).status_code == 200
    assert result_of(client, youth_backend, request_id)["consent_record_id"] == record_id


def test_consent_withdrawn_between_grant_and_presentation(client, youth_backend, youth_case, platform) -> None:
    request_id, request, chosen = youth_case
    ledger, record_id = _wallet_grant(platform, request_id)
    ledger.withdraw(record_id, "citizen:citizen-1")
    response = respond(request, _vp(request, chosen), client)
    assert_refused(client, youth_backend, request_id, response, "consent_withdrawn")


def test_verifier_recorded_grant_is_in_the_ledger(client, youth_backend, youth_case, platform) -> None:
    from tests.conftest import bearer_for

    request_id, request, chosen = youth_case
    assert respond(request, _vp(request, chosen), client).status_code == 200
    record_id = result_of(client, youth_backend, request_id)["consent_record_id"]
    reader = bearer_for(client, platform, "verifier:seoul-youth", ["consent:verifier-read"])
    consents = client.get("/consent/granted", headers=reader).json()["consents"]
    mine = next(c for c in consents if c["id"] == record_id)
    assert mine["state"] == "used_up"
    assert ["resident_registration", "birth_date"] in mine["record"]["data_items"]
    assert ["resident_registration", "nationality_status"] not in mine["record"]["data_items"]
    assert mine["record"]["disclosure"] == "predicate_only"
    assert ["resident_registration", "sub"] in mine["record"]["data_items"]  # the binding claim is named
    # Recorded for the citizen the credentials are about, named as the verifier knows her (her pairwise
    # subject there: never the platform id that would link her across services), with every holder
    # key as evidence.
    assert mine["record"]["citizen"] == f"pairwise:{platform.subjects.for_verifier('seoul-youth', 'citizen-1')}"
    assert "citizen-1" not in json.dumps(mine)
    holder_keys = {"holder-key:" + thumbprint(held.payload["cnf"]["jwk"]) for held, _ in chosen.values()}
    assert set(mine["record"]["evidence"]["holder_keys"]) == holder_keys and len(holder_keys) > 1
    # So it is in her own list of consents, though no wallet of ours took part.
    citizen = bearer_for(client, platform, "citizen:citizen-1", ["consent:read"])
    assert record_id in {c["id"] for c in client.get("/consent/me", headers=citizen).json()["consents"]}


def test_values_reach_the_backend_only_where_the_policy_declares_them(
    client, housing_backend, credentials, check
) -> None:
    wallet = credentials.wallet(
        {
            "resident_registration": {
                "birth_date": "1998-02-03",
                "nationality_status": "citizen",
                "resident_sido": "11",
                "registered_household_size": 1,
                "as_of": "2026-11-01",
            },
            "household_property": {"household_scope": "own", "owns_housing": False, "property_value": 1000000},
            "household_income": {
                "income_basis": "nhis_premium",
                "household_scope": "own",
                "household_size": 1,
                "income_pct_median": 90,
                "median_year": 2026,
                "assessed_month": "2026-10",
            },
            "lease": {"monthly_rent": 550000, "lessee_is_holder": True, "deposit": 10000000},
        }
    )
    request_id, request = check("seoul_youth_rent", headers=housing_backend)
    assert answer(request, wallet, client).status_code == 200
    result = result_of(client, housing_backend, request_id)
    assert result["eligible"] is True
    assert result["values"] == {"lease.monthly_rent": 550000}
    decision = jws.read_unverified(result["decision"])[1]
    # The decision is stored and pushed in the clear: it carries only a digest of the values.
    assert "values" not in decision and "550000" not in json.dumps(decision)
    assert decision["values_sha256"] == hashlib.sha256(rfc8785.dumps(result["values"])).hexdigest()
    assert "1998-02-03" not in json.dumps(result)


def test_a_strangers_garbage_does_not_end_the_check(client, youth_backend, youth_case) -> None:
    request_id, request, chosen = youth_case
    stranger = client.post(request.claims["response_uri"], data={"vp_token": "{}", "state": request.claims["state"]})
    refused(stranger, "malformed_vp_token")
    assert result_of(client, youth_backend, request_id)["status"] == "pending"
    assert respond(request, _vp(request, chosen), client).status_code == 200
    result = result_of(client, youth_backend, request_id)
    assert result["status"] == "answered" and result["eligible"] is True


@pytest.mark.parametrize(
    ("reason", "make"),
    [
        ("credential_revoked", "revoke"),
        ("presentation_does_not_match_query", "drop_claim"),
    ],
)
def test_a_holder_bound_refusal_ends_the_check(client, youth_backend, youth_case, credentials, reason, make) -> None:
    request_id, request, chosen = youth_case
    vp = _vp(request, chosen)
    if make == "revoke":
        credentials.set_status("education_status", "revoke")
    else:
        held, names = chosen["resident_registration"]
        vp["resident_registration"] = [
            present(held, [n for n in names if n != "birth_date"], aud=request.client_id, nonce=request.claims["nonce"])
        ]
    refused(respond(request, vp, client), reason)
    assert result_of(client, youth_backend, request_id)["status"] == "rejected"
    refused(respond(request, _vp(request, chosen), client), "request_already_answered")


def test_deeply_nested_vp_token_is_a_clean_refusal(client, youth_backend, youth_case) -> None:
    request_id, request, _ = youth_case
    response = client.post(
        request.claims["response_uri"], data={"vp_token": "[" * 200_000, "state": request.claims["state"]}
    )
    assert_refused(client, youth_backend, request_id, response, "malformed_vp_token")


def test_same_device_redirect_carries_a_fresh_response_code(client, credentials, platform, verifier_admin) -> None:
    from tests.conftest import bearer_for

    registered = client.post("/admin/verifiers", json=GANGNAM, headers=verifier_admin)
    assert registered.status_code == 201
    backend = bearer_for(client, platform, "verifier:gangnam-youth", ["presentations:request"])
    created = client.post("/verifiers/requests", json={"service_id": "k_pass_youth"}, headers=backend).json()
    request = fetch_request(created["link"], client, client.get("/verifiers/rp-ca.pem").content)
    wallet = credentials.wallet({"resident_registration": youth_claims()["resident_registration"]})
    response = answer(request, wallet, client)
    assert response.status_code == 200
    redirect = response.json()["redirect_uri"]
    assert redirect.startswith("https://gangnam.example/done#response_code=")
    code = redirect.split("=", 1)[1]
    assert len(code) >= 40 and code not in created["link"] and code != created["request_id"]
    url = f"/verifiers/requests/{created['request_id']}"
    assert client.get(url, params={"response_code": code}, headers=backend).json()["eligible"] is True
    assert client.get(url, params={"response_code": "guess"}, headers=backend).status_code == 404
    # Without the code the backend's own token does not get the result (OpenID4VP §13.3): a result
    # stays bound to the browser that was redirected.
    bare = client.get(url, headers=backend)
    assert bare.status_code == 403 and bare.json()["reason"] == "response_code_required"
    assert "decision" not in bare.text and "eligible" not in bare.json()


def test_vp_token_is_dropped_by_default_and_purged_after_a_configured_retention(
    client, youth_backend, youth_case, app, platform
) -> None:
    import dataclasses

    request_id, request, chosen = youth_case
    service = app.state.verifiers
    assert service.settings.vp_token_retention == 0
    service.settings = dataclasses.replace(service.settings, vp_token_retention=3600)
    vp = _vp(request, chosen)
    assert respond(request, vp, client).status_code == 200
    kept = service.retained_vp_token("seoul-youth", request_id)
    assert json.loads(kept) == vp
    with Session(platform.engine) as session:
        row = session.get(PresentationRequest, request_id)
        assert b"resident_registration" not in row.vp_token_encrypted  # encrypted at rest
    assert service.purge_retained_vp_tokens(now=int(time.time()) + 60) == 0  # still within retention
    assert service.purge_retained_vp_tokens(now=int(time.time()) + 3601) == 1
    assert service.retained_vp_token("seoul-youth", request_id) is None


def test_no_vp_token_is_kept_without_retention(client, youth_backend, youth_case, app, platform) -> None:
    request_id, request, chosen = youth_case
    assert respond(request, _vp(request, chosen), client).status_code == 200
    with Session(platform.engine) as session:
        row = session.get(PresentationRequest, request_id)
    assert row.vp_token_encrypted is None and row.vp_token_purge_at is None
    assert app.state.verifiers.retained_vp_token("seoul-youth", request_id) is None


def test_unsigned_redirect_uri_requests_in_development_only(client, youth_backend, credentials, app) -> None:
    from urllib.parse import parse_qs, urlsplit

    body = {"service_id": "seoul_youth_allowance", "client_id_prefix": "redirect_uri"}
    created = client.post("/verifiers/requests", json=body, headers=youth_backend)
    assert created.status_code == 201, created.text
    created = created.json()
    assert created["client_id"].startswith("redirect_uri:") and created.get("request_uri") is None
    # OpenID4VP 1.0 §5.9.3: passed by value, unsigned; the client id is the response URI itself.
    params = {k: v[0] for k, v in parse_qs(urlsplit(created["link"]).query).items()}
    assert params["client_id"] == "redirect_uri:" + params["response_uri"]
    assert "request_uri" not in params and "request" not in params
    claims = {**params, "dcql_query": json.loads(params["dcql_query"])}
    wallet = credentials.wallet(youth_claims())
    from tests.verifiers.spec_vp_wallet import Request

    request = Request(client_id=params["client_id"], claims=claims, leaf=None, raw="")  # type: ignore[arg-type]
    assert answer(request, wallet, client).status_code == 200
    result = result_of(client, youth_backend, created["request_id"])
    assert result["eligible"] is True
    # There is no signed request object for it.
    assert client.get(f"/verifiers/seoul-youth/requests/{created['request_id']}/object").status_code == 404

    object.__setattr__(app.state.verifiers.settings, "development", False)
    refused_in_production = client.post("/verifiers/requests", json=body, headers=youth_backend)
    assert refused_in_production.status_code == 422
    assert refused_in_production.json()["reason"] == "unsigned_requests_not_allowed"


def test_a_request_made_under_an_older_policy_version_is_not_decided(
    client, youth_backend, youth_case, platform
) -> None:
    request_id, request, chosen = youth_case
    with Session(platform.engine) as session:
        row = session.get(PresentationRequest, request_id)
        row.policy_version = "2025.2"  # as if the rule was updated after the QR code was shown
        session.add(row)
        session.commit()
    response = respond(request, _vp(request, chosen), client)
    assert_refused(client, youth_backend, request_id, response, "policy_changed")
    assert result_of(client, youth_backend, request_id)["status"] == "rejected"


def test_the_same_response_posted_at_once_is_accepted_once(client, youth_backend, youth_case) -> None:
    # Four posts of one response race: one is accepted, the others get a clear error, never a 500.
    import threading

    request_id, request, chosen = youth_case
    vp = _vp(request, chosen)
    barrier = threading.Barrier(4)
    statuses: list[int] = []

    def post() -> None:
        barrier.wait()
        statuses.append(respond(request, vp, client).status_code)

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 400, 400, 400], statuses
    assert result_of(client, youth_backend, request_id)["eligible"] is True


@pytest.mark.parametrize("typ", [["dc+sd-jwt"], {"typ": "dc+sd-jwt"}])
def test_an_unsigned_forgery_with_a_typ_of_the_wrong_type_is_a_recorded_refusal(
    client, youth_backend, check, typ
) -> None:
    request_id, request = check()
    header = b64url(json.dumps({"alg": "ES256", "typ": typ, "kid": "k"}).encode())
    payload = b64url(json.dumps({"iss": "http://127.0.0.1:8000/issuers/mois", "vct": "x"}).encode())
    kb = b64url(json.dumps({"alg": "ES256", "typ": "kb+jwt"}).encode())
    forgery = f"{header}.{payload}.{b64url(bytes(64))}~{kb}.{payload}.{b64url(bytes(64))}"
    response = respond(request, {"resident_registration": [forgery]}, client)
    assert_refused(client, youth_backend, request_id, response, "issuer_jwt_wrong_typ")


def test_a_presentation_that_discloses_more_than_asked_is_refused(client, youth_backend, youth_case) -> None:
    """The youth allowance never asks for nationality_status: a wallet that sends it anyway is
    refused, so the verifier never receives or decides on what it did not ask for."""
    request_id, request, chosen = youth_case
    held, names = chosen["resident_registration"]
    assert "nationality_status" not in names and "nationality_status" in held.disclosures
    chosen["resident_registration"] = (held, [*names, "nationality_status"])
    response = respond(request, _vp(request, chosen), client)
    assert_refused(client, youth_backend, request_id, response, "over_disclosure")


def test_a_declined_request_is_recorded_and_stays_open(client, youth_backend, youth_case) -> None:
    """OpenID4VP §8.5: the wallet posts error=access_denied. The backend sees it; the check does not
    end, because anyone who saw the QR code knows the state and could post the same."""
    request_id, request, chosen = youth_case
    declined = client.post(
        request.claims["response_uri"], data={"error": "access_denied", "state": request.claims["state"]}
    )
    assert declined.status_code == 200, declined.text
    result = result_of(client, youth_backend, request_id)
    assert result["status"] == "pending" and result["failure"]["reason"] == "access_denied"
    assert "eligible" not in result
    odd = client.post(request.claims["response_uri"], data={"error": "<b>x</b>", "state": request.claims["state"]})
    assert (
        odd.status_code == 200 and result_of(client, youth_backend, request_id)["failure"]["reason"] == "wallet_error"
    )
    unknown = client.post(request.claims["response_uri"], data={"error": "access_denied", "state": "nope"})
    assert unknown.status_code == 400
    assert respond(request, _vp(request, chosen), client).status_code == 200  # she answers after all
    assert result_of(client, youth_backend, request_id)["eligible"] is True


def test_a_link_to_another_citizens_consent_does_not_cover_the_presentation(
    client, youth_backend, youth_case, platform
) -> None:
    """Another citizen's wallet linked its consent to this check (its answer was then refused). The
    presentation of citizen-1 is recorded under a consent of her own, never under his."""
    request_id, request, chosen = youth_case
    ledger, stranger = _wallet_grant(platform, request_id, citizen="citizen:stranger-0099")
    assert respond(request, _vp(request, chosen), client).status_code == 200
    record = result_of(client, youth_backend, request_id)["consent_record_id"]
    assert record != stranger
    citizen = bearer_for(client, platform, "citizen:citizen-1", ["consent:read"])
    assert record in {c["id"] for c in client.get("/consent/me", headers=citizen).json()["consents"]}
    his = ledger.get_for_citizen(stranger, "citizen:stranger-0099")
    assert [e.type for e in his.history] == ["requested", "granted"]  # never used for her presentation
