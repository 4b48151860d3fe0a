"""One applicant, one decision: every credential of a response is about the same citizen (`sub`), a
check made for an applicant accepts only her, and services see pairwise subjects, never `sub`.

Credentials come from the demo agencies over OpenID4VCI; the wallet is the one written from the
specs alone (tests/verifiers/spec_vp_wallet.py), which discloses `sub` because the query asks for it.
"""

from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import select as sql_select
from sqlmodel import SQLModel

import verifiers.service  # noqa: F401  (imports every verifier module that defines a table)
from keys import jws
from tests.conftest import bearer_for
from tests.verifiers.conftest import birth_date_for_age, youth_claims
from tests.verifiers.spec_vp_wallet import HeldCredential, answer, fetch_request, present, respond, select

MINJI = "citizen-minji-0001"  # the applicant
STRANGER = "citizen-stranger-02"


def open_check(client, backend, applicant: str | None = None, service_id: str = "seoul_youth_allowance"):
    body = {"service_id": service_id, **({"applicant": applicant} if applicant else {})}
    created = client.post("/verifiers/requests", json=body, headers=backend)
    assert created.status_code == 201, created.text
    request = fetch_request(created.json()["link"], client, client.get("/verifiers/rp-ca.pem").content)
    return created.json()["request_id"], request


def result_of(client, backend, request_id: str) -> dict:
    return client.get(f"/verifiers/requests/{request_id}", headers=backend).json()


def refused(response, reason: str) -> None:
    assert response.status_code == 400, response.text
    assert response.json()["error_description"].split(":")[0] == reason, response.json()


def vp_from(request, chosen, *, without_sub: set[str] = frozenset()) -> dict[str, list[str]]:
    """The presentations for `chosen`; credential queries in `without_sub` leave `sub` undisclosed."""
    return {
        query_id: [
            present(
                held,
                [n for n in names if not (n == "sub" and query_id in without_sub)],
                aud=request.client_id,
                nonce=request.claims["nonce"],
            )
        ]
        for query_id, (held, names) in chosen.items()
    }


def mixed(request, minji: list[HeldCredential], stranger: list[HeldCredential]) -> dict:
    """Minji's credentials, except the stranger's household income (each with its own KB-JWT)."""
    chosen = select(request.claims["dcql_query"], minji)
    chosen["household_income_own"] = select(request.claims["dcql_query"], stranger)["household_income_own"]
    return chosen


@pytest.fixture
def people(credentials):
    """Minji is a year too old for the youth allowance; the stranger qualifies."""
    minji = credentials.wallet(youth_claims(resident_registration={"birth_date": birth_date_for_age(35)}), MINJI)
    stranger = credentials.wallet(youth_claims(), STRANGER)
    return minji, stranger


def test_a_stranger_cannot_answer_a_check_made_for_the_applicant(client, youth_backend, people, platform) -> None:
    minji, stranger = people
    applicant = platform.subjects.for_verifier("seoul-youth", MINJI)
    request_id, request = open_check(client, youth_backend, applicant)

    refused(answer(request, stranger, client), "wrong_applicant")
    result = result_of(client, youth_backend, request_id)
    assert result["status"] == "pending" and "eligible" not in result and "decision" not in result
    assert result["failure"]["reason"] == "wrong_applicant"

    # The check stayed open for her: she answers it, and the decision is about her.
    assert answer(request, minji, client).status_code == 200
    result = result_of(client, youth_backend, request_id)
    assert result["status"] == "answered" and result["eligible"] is False  # she is 35
    assert result["subject"] == applicant
    claims = jws.verify(result["decision"], platform.keyring.resolver("verifiers")).payload
    assert claims["subject"] == applicant and claims["applicant_bound"] is True


def test_garbage_and_wrong_subject_posts_never_end_the_applicants_check(
    client, youth_backend, people, platform
) -> None:
    minji, stranger = people
    request_id, request = open_check(client, youth_backend, platform.subjects.for_verifier("seoul-youth", MINJI))
    own = select(request.claims["dcql_query"], stranger)
    bare = present(own["resident_registration"][0], [], aud=request.client_id, nonce=request.claims["nonce"])
    # Garbage; the stranger's own credentials; one of his credentials with no disclosures at all
    # (the reviewers' first attack); Minji's credentials with his household income.
    attempts = {
        "malformed_vp_token": {"resident_registration": "garbage"},
        "wrong_applicant": vp_from(request, own),
        "subject_missing": {"resident_registration": [bare]},
        "subject_mismatch": vp_from(request, mixed(request, minji, stranger)),
    }
    for reason, vp_token in attempts.items():
        response = client.post(
            request.claims["response_uri"], data={"vp_token": json.dumps(vp_token), "state": request.claims["state"]}
        )
        refused(response, reason)
        result = result_of(client, youth_backend, request_id)
        assert result["status"] == "pending", reason
        assert result.get("eligible") is not True and "decision" not in result
    assert answer(request, minji, client).status_code == 200
    assert result_of(client, youth_backend, request_id)["status"] == "answered"


def test_two_citizens_credentials_never_make_one_decision(client, youth_backend, people) -> None:
    """Minji's residency and age with the stranger's household income: refused, and for a check
    made for no one in particular the holder has answered, so it ends, not eligible."""
    minji, stranger = people
    request_id, request = open_check(client, youth_backend)
    refused(respond(request, vp_from(request, mixed(request, minji, stranger)), client), "subject_mismatch")
    result = result_of(client, youth_backend, request_id)
    assert result["eligible"] is False and result["status"] == "rejected" and "decision" not in result
    assert result["failure"]["reason"] == "subject_mismatch"


def test_a_credential_without_sub_is_refused(client, youth_backend, people) -> None:
    _, stranger = people
    request_id, request = open_check(client, youth_backend)
    chosen = select(request.claims["dcql_query"], stranger)
    assert len(chosen) > 1
    vp_token = vp_from(request, chosen, without_sub={"household_income_own"})
    refused(respond(request, vp_token, client), "subject_missing")
    result = result_of(client, youth_backend, request_id)
    assert result["eligible"] is False and "decision" not in result


def test_a_resident_registration_number_as_sub_is_refused_before_the_ledger(
    client, youth_backend, people, platform
) -> None:
    """A credential naming its subject by resident registration number (signed by a trusted issuer's
    real key) is refused: the number never reaches the consent ledger or a decision."""
    _, stranger = people
    request_id, request = open_check(client, youth_backend)
    chosen = select(request.claims["dcql_query"], stranger)
    held, names = chosen["resident_registration"]
    issuer_jwt = platform.keyring.sign("agency:mois", {**held.payload, "sub": "990501-1234567"}, typ="dc+sd-jwt")
    chosen["resident_registration"] = (
        HeldCredential(issuer_jwt + held.sd_jwt[len(held.issuer_jwt) :], held.holder),
        names,
    )
    vp_token = vp_from(request, chosen, without_sub={"resident_registration"})
    refused(respond(request, vp_token, client), "subject_malformed")
    assert "990501" not in json.dumps(result_of(client, youth_backend, request_id))


def test_applicant_must_be_a_pairwise_subject(client, youth_backend) -> None:
    for applicant in (MINJI, "x" * 44, "a" * 42 + "!"):
        response = client.post(
            "/verifiers/requests",
            json={"service_id": "seoul_youth_allowance", "applicant": applicant},
            headers=youth_backend,
        )
        assert response.status_code == 422, applicant


def test_subjects_are_stable_per_verifier_and_unlinkable_across(
    client, youth_backend, credentials, platform, verifier_admin
) -> None:
    wallet = credentials.wallet(youth_claims(), MINJI)
    other = {
        "slug": "mapo-youth",
        "name": {"ko": "마포구 청년", "en": "Mapo Youth"},
        "services": ["seoul_youth_allowance"],
    }
    assert client.post("/admin/verifiers", json=other, headers=verifier_admin).status_code == 201
    mapo = bearer_for(client, platform, "verifier:mapo-youth", ["presentations:request"])
    subjects = []
    for backend in (youth_backend, youth_backend, mapo):
        request_id, request = open_check(client, backend)
        assert answer(request, wallet, client).status_code == 200
        result = result_of(client, backend, request_id)
        assert jws.read_unverified(result["decision"])[1]["subject"] == result["subject"]
        subjects.append(result["subject"])
    assert subjects[0] == subjects[1] != subjects[2]
    assert MINJI not in subjects
    assert subjects[2] == platform.subjects.for_verifier("mapo-youth", MINJI)


def test_no_raw_sub_reaches_a_decision_result_callback_log_or_verifier_row(
    client, youth_backend, credentials, platform, app, caplog
) -> None:
    raw = "rawsub-Zq8v1xK3pL"
    wallet = credentials.wallet(youth_claims(), raw)
    stranger = credentials.wallet(youth_claims(), "rawsub-Stranger99")
    caplog.set_level(logging.DEBUG)
    created = client.post(
        "/verifiers/requests",
        json={
            "service_id": "seoul_youth_allowance",
            "callback_url": "http://127.0.0.1:9/callback",
            "applicant": platform.subjects.for_verifier("seoul-youth", raw),
        },
        headers=youth_backend,
    ).json()
    request = fetch_request(created["link"], client, client.get("/verifiers/rp-ca.pem").content)
    refused(answer(request, stranger, client), "wrong_applicant")  # the refusal is logged and recorded
    assert answer(request, wallet, client).status_code == 200

    result = result_of(client, youth_backend, created["request_id"])
    callback = app.state.verifiers.signed_callback_body(created["request_id"])
    seen = [
        json.dumps(result),
        json.dumps(jws.read_unverified(result["decision"])),
        json.dumps(jws.read_unverified(callback)),
        *(json.dumps(record.__dict__, default=str) for record in caplog.records),
    ]
    tables = [t for t in SQLModel.metadata.sorted_tables if t.name in _verifier_tables()]
    assert {"presentation_requests", "accepted_presentations", "callback_deliveries"} <= {t.name for t in tables}
    with platform.engine.connect() as connection:
        for table in tables:
            seen += [repr(tuple(row)) for row in connection.execute(sql_select(table))]
    assert result["subject"] and any(result["subject"] in text for text in seen[1:3])
    for text in seen:
        assert raw not in text and "rawsub-Stranger99" not in text


def _verifier_tables() -> set[str]:
    """Every table a module of the verifier party defines."""
    found, pending = set(), list(SQLModel.__subclasses__())
    while pending:
        model = pending.pop()
        pending += model.__subclasses__()
        if model.__module__.startswith("verifiers.") and hasattr(model, "__table__"):
            found.add(model.__tablename__)
    return found
