"""The DCQL query derived from a policy asks for exactly what the policy reads."""

from __future__ import annotations

import pytest

import catalog
from eligibility.dcql import derive_dcql
from eligibility.policies import load_policies
from vc.dcql import parse_query

TYPES = catalog.credential_types()
POLICIES = load_policies(catalog.services(), TYPES)


def _claims_by_query(query: dict) -> dict[str, set[str]]:
    return {c["id"]: {claim["path"][0] for claim in c["claims"]} for c in query["credentials"]}


@pytest.mark.parametrize("service_id", sorted(POLICIES))
def test_every_service_query_is_valid_dcql_and_minimal(service_id) -> None:
    policy = POLICIES[service_id]
    query = derive_dcql(policy, TYPES)
    parse_query(query)  # valid per OpenID4VP 1.0 §6
    asked = {
        (c["meta"]["vct_values"][0], claim) for c in query["credentials"] for claim in _claims_by_query(query)[c["id"]]
    }
    read = set()
    for condition in policy.conditions():
        vct = TYPES[condition.credential].vct
        read.add((vct, condition.claim))
        read.update((vct, name) for name, _ in condition.where)
        read.add((vct, "sub"))  # the binding claim, asked of every credential
    assert asked == read, "the query must ask for exactly the claims the policy reads, and sub"


@pytest.mark.parametrize("service_id", sorted(POLICIES))
def test_every_credential_query_and_claim_set_asks_for_the_subject(service_id) -> None:
    """Without `sub` in every option, a wallet could answer a claim set that ties the credential to
    nobody, and the verifier could not tell whether two credentials are about one person."""
    query = derive_dcql(POLICIES[service_id], TYPES)
    for credential in query["credentials"]:
        assert {"id": "sub", "path": ["sub"]} in credential["claims"], credential["id"]
        for claim_set in credential.get("claim_sets", []):
            assert "sub" in claim_set, (credential["id"], claim_set)


def test_youth_allowance_query_shape() -> None:
    query = derive_dcql(POLICIES["seoul_youth_allowance"], TYPES)
    claims = _claims_by_query(query)
    assert claims["resident_registration"] == {"sub", "birth_date", "resident_sido"}
    assert "nationality_status" not in claims["resident_registration"]
    employment = next(c for c in query["credentials"] if c["id"] == "employment_insurance")
    # Alternatives on one credential: one claim set each, and `values` picks the one that holds.
    assert employment["claim_sets"] == [
        ["sub", "currently_insured"],
        ["sub", "current_contract_weekly_hours"],
        ["sub", "current_contract_months"],
    ]
    assert next(c for c in employment["claims"] if c["id"] == "currently_insured")["values"] == [False]
    income = next(c for c in query["credentials"] if c["id"] == "household_income_own")
    assert {"id": "household_scope", "path": ["household_scope"], "values": ["own"]} in income["claims"]
    assert "credential_sets" not in query


def test_alternatives_across_credentials_become_credential_sets() -> None:
    query = derive_dcql(POLICIES["seoul_learn"], TYPES)
    sets = query["credential_sets"]
    assert {"options": [["resident_registration"]], "required": True} in sets
    alternatives = [s for s in sets if len(s["options"]) > 1]
    assert len(alternatives) == 1
    assert alternatives[0]["options"] == [
        ["welfare_status"],
        ["household_income_own_recognized_income"],
        ["special_status"],
        ["education_status"],
    ]
