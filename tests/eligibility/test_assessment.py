"""What the wallet tells a citizen about a service, over the catalog's real rules: eligible, not
eligible (and exactly which condition fails), or close (which credential is missing and who issues it)."""

from __future__ import annotations

import datetime as dt

import pytest

import catalog
from eligibility.assessment import Standing, assess, deciding_conditions
from eligibility.policies import HeldCredential, evaluate, load_policies

TYPES = catalog.credential_types()
SERVICES = catalog.services()
POLICIES = load_policies(SERVICES, TYPES)
AGENCIES = catalog.demo_parties().agencies
ON = dt.date(2026, 12, 2)


def youth(**overrides: dict | None) -> list[HeldCredential]:
    """A 27-year-old Seoul resident who qualifies for the youth allowance; `type=None` drops one."""
    claims: dict[str, dict] = {
        "resident_registration": {"birth_date": "1999-05-01", "nationality_status": "citizen", "resident_sido": "11"},
        "education_status": {"enrollment_status": "graduated"},
        "employment_insurance": {"currently_insured": False},
        "household_income": {"income_basis": "nhis_premium", "household_scope": "own", "income_pct_median": 120},
        "welfare_status": {"nbls_benefits": [], "near_poverty": False},
        "program_participation": {"active_programs": []},
    }
    for type_id, changes in overrides.items():
        if changes is None:
            claims.pop(type_id)
        else:
            claims[type_id] = {**claims[type_id], **changes}
    return [HeldCredential(type_id, c) for type_id, c in claims.items()]


def allowance(held: list[HeldCredential]):
    return assess(POLICIES["seoul_youth_allowance"], SERVICES["seoul_youth_allowance"], held, ON, TYPES, AGENCIES)


def test_a_citizen_who_qualifies_is_eligible_with_no_reason_against() -> None:
    result = allowance(youth())
    assert result.standing is Standing.ELIGIBLE
    assert result.reasons == () and result.missing == ()
    assert result.name["ko"] == "서울 청년수당"


def test_a_year_too_old_is_not_eligible_because_of_age_and_only_age() -> None:
    result = allowance(youth(resident_registration={"birth_date": "1991-12-02"}))  # 35 today
    assert result.standing is Standing.NOT_ELIGIBLE
    assert [(r.credential, r.claim) for r in result.reasons] == [("resident_registration", "birth_date")]
    (reason,) = result.reasons
    assert "만 19세 이상 34세 이하" in reason.text["ko"] and "만 35세" in reason.text["ko"]
    assert "aged 19 to 34" in reason.text["en"] and "35 years old" in reason.text["en"]


def test_the_day_before_the_35th_birthday_still_counts() -> None:
    assert allowance(youth(resident_registration={"birth_date": "1991-12-03"})).standing is Standing.ELIGIBLE


def test_income_above_the_limit_is_not_eligible_because_of_income() -> None:
    result = allowance(youth(household_income={"income_pct_median": 151}))
    assert result.standing is Standing.NOT_ELIGIBLE
    assert [(r.credential, r.claim) for r in result.reasons] == [("household_income", "income_pct_median")]
    assert "150" in result.reasons[0].text["ko"] and "151" in result.reasons[0].text["ko"]


def test_without_a_residency_credential_it_is_close_naming_the_credential_and_its_agency() -> None:
    result = allowance(youth(resident_registration=None))
    assert result.standing is Standing.CLOSE
    (missing,) = result.missing
    assert missing.type_id == "resident_registration" and missing.agency == "mois"
    assert missing.issuer["ko"] == "행정안전부" and "행정안전부" in missing.how_to_get["ko"]
    assert {r.claim for r in result.reasons} == {"birth_date", "resident_sido"}


def test_an_exclusion_that_applies_is_the_reason() -> None:
    result = allowance(youth(welfare_status={"nbls_benefits": ["livelihood"]}))
    assert result.standing is Standing.NOT_ELIGIBLE
    (reason,) = result.reasons
    assert reason.excluded and reason.claim == "nbls_benefits" and reason.text["ko"].startswith("제외 대상")


def test_a_failing_alternative_of_a_satisfied_any_is_no_reason() -> None:
    # Insured, but on a short contract: the `any` holds through its third alternative.
    held = youth(employment_insurance={"currently_insured": True, "current_contract_months": 2})
    result = allowance(held)
    assert result.standing is Standing.ELIGIBLE
    failed, undecided = deciding_conditions(POLICIES["seoul_youth_allowance"], result.evaluation)
    assert failed == [] and undecided == []


def test_an_any_where_every_alternative_fails_names_each_of_them() -> None:
    held = youth(
        employment_insurance={
            "currently_insured": True,
            "current_contract_weekly_hours": 40,
            "current_contract_months": 12,
        }
    )
    result = allowance(held)
    assert result.standing is Standing.NOT_ELIGIBLE
    assert {r.claim for r in result.reasons} == {
        "currently_insured",
        "current_contract_weekly_hours",
        "current_contract_months",
    }


def test_a_failure_outweighs_a_missing_credential() -> None:
    result = allowance(youth(resident_registration={"birth_date": "1980-01-01"}, welfare_status=None))
    assert result.standing is Standing.NOT_ELIGIBLE and result.missing == ()
    assert [r.claim for r in result.reasons] == ["birth_date"]


def test_an_income_assessment_of_the_parents_household_is_not_the_citizens_own() -> None:
    held = youth(household_income={"household_scope": "origin_family"})
    result = allowance(held)
    assert result.standing is Standing.CLOSE
    assert [m.type_id for m in result.missing] == ["household_income"]


@pytest.mark.parametrize("service_id", sorted(SERVICES))
def test_every_catalog_service_is_assessed_and_agrees_with_the_verifiers_evaluation(service_id: str) -> None:
    held = youth()
    result = assess(POLICIES[service_id], SERVICES[service_id], held, ON, TYPES, AGENCIES)
    assert (result.standing is Standing.ELIGIBLE) == evaluate(POLICIES[service_id], held, ON).eligible
    assert all(r.text["ko"] and r.text["en"] for r in result.reasons)
    if result.standing is not Standing.ELIGIBLE:
        assert result.reasons, "a service the citizen does not qualify for says why"
