"""Eligibility policies: validation when loaded, three-valued evaluation, every catalog service."""

from __future__ import annotations

import datetime as dt

import pytest

import catalog
from catalog import Service
from eligibility.policies import HeldCredential, Outcome, PolicyError, evaluate, full_years, load_policies, load_policy

TYPES = catalog.credential_types()
POLICIES = load_policies(catalog.services(), TYPES)
TODAY = dt.date(2026, 11, 27)


def _service(eligibility, **extra) -> Service:
    return Service(
        id="test_service",
        name={"ko": "시험", "en": "test"},
        operator={"ko": "", "en": ""},
        benefit={"ko": "", "en": ""},
        purpose="ServiceAccessDetermination",
        policy_version="1",
        eligibility=eligibility,
        **extra,
    )


def youth(**overrides) -> list[HeldCredential]:
    """A citizen who qualifies for the Seoul youth allowance; overrides change one credential's claims."""
    claims = {
        "resident_registration": {"birth_date": "1999-05-01", "resident_sido": "11", "nationality_status": "citizen"},
        "education_status": {"enrollment_status": "graduated"},
        "employment_insurance": {"currently_insured": False},
        "household_income": {"household_scope": "own", "income_basis": "nhis_premium", "income_pct_median": 120},
        "welfare_status": {"nbls_benefits": [], "near_poverty": False},
        "program_participation": {"active_programs": []},
    }
    for type_id, changes in overrides.items():
        if changes is None:
            claims.pop(type_id)
        else:
            claims[type_id] = {**claims[type_id], **changes}
    return [HeldCredential(type_id, c) for type_id, c in claims.items()]


def test_every_catalog_service_loads() -> None:
    assert set(POLICIES) == set(catalog.services())
    assert all(policy.version == "2026.1" for policy in POLICIES.values())


def test_youth_allowance_eligible_citizen() -> None:
    result = evaluate(POLICIES["seoul_youth_allowance"], youth(), TODAY)
    assert result.eligible
    assert result.reference_date == TODAY


def test_one_year_too_old_names_the_age_condition() -> None:
    # 35 full years on the application date: outside 19..34.
    result = evaluate(
        POLICIES["seoul_youth_allowance"], youth(resident_registration={"birth_date": "1991-11-27"}), TODAY
    )
    assert result.outcome is Outcome.NOT_HELD
    failing = result.failing()
    assert [(c.claim, c.outcome) for c in failing if c.outcome is Outcome.NOT_HELD] == [
        ("birth_date", Outcome.NOT_HELD)
    ]


def test_age_boundaries_are_inclusive_full_years() -> None:
    policy = POLICIES["seoul_youth_allowance"]
    # Turns 35 tomorrow: still 34 today, eligible.
    assert evaluate(policy, youth(resident_registration={"birth_date": "1991-11-28"}), TODAY).eligible
    # Turned 19 today: eligible; turns 19 tomorrow: not.
    assert evaluate(policy, youth(resident_registration={"birth_date": "2007-11-27"}), TODAY).eligible
    assert not evaluate(policy, youth(resident_registration={"birth_date": "2007-11-28"}), TODAY).eligible


def test_full_years_on_leap_day_birthdays() -> None:
    assert full_years(dt.date(2004, 2, 29), dt.date(2023, 2, 28)) == 18
    assert full_years(dt.date(2004, 2, 29), dt.date(2023, 3, 1)) == 19


def test_any_is_satisfied_by_one_alternative() -> None:
    policy = POLICIES["seoul_youth_allowance"]
    insured_part_time = youth(employment_insurance={"currently_insured": True, "current_contract_weekly_hours": 20})
    assert evaluate(policy, insured_part_time, TODAY).eligible
    # Full time, contract length not shown: the alternative is undecided, so not eligible (unknown).
    insured_full_time = youth(employment_insurance={"currently_insured": True, "current_contract_weekly_hours": 40})
    assert evaluate(policy, insured_full_time, TODAY).outcome is Outcome.UNKNOWN
    long_contract = youth(
        employment_insurance={
            "currently_insured": True,
            "current_contract_weekly_hours": 40,
            "current_contract_months": 12,
        }
    )
    assert evaluate(policy, long_contract, TODAY).outcome is Outcome.NOT_HELD


def test_exclusions_are_not_conditions() -> None:
    policy = POLICIES["seoul_youth_allowance"]
    on_benefits = youth(welfare_status={"nbls_benefits": ["housing"]})
    result = evaluate(policy, on_benefits, TODAY)
    assert not result.eligible
    excluded = [c for c in result.conditions if c.outcome is Outcome.NOT_HELD]
    assert [(c.claim, c.negated) for c in excluded] == [("nbls_benefits", True)]
    assert "excluded" in excluded[0].reason


def test_missing_credential_is_unknown_never_eligible() -> None:
    result = evaluate(POLICIES["seoul_youth_allowance"], youth(welfare_status=None), TODAY)
    assert result.outcome is Outcome.UNKNOWN and not result.eligible
    unknown = [c for c in result.conditions if c.outcome is Outcome.UNKNOWN and "any" not in c.path]
    assert {c.credential for c in unknown} == {"welfare_status"}


def test_where_picks_the_right_credential() -> None:
    policy = POLICIES["seoul_youth_rent"]
    held = [
        HeldCredential(
            "resident_registration", {"birth_date": "1998-01-01", "resident_sido": "11", "registered_household_size": 1}
        ),
        HeldCredential("household_property", {"household_scope": "own", "owns_housing": False}),
        # The parents' income is low, the applicant's own is too high: the own one must count.
        HeldCredential(
            "household_income",
            {"household_scope": "origin_family", "income_basis": "nhis_premium", "income_pct_median": 50},
        ),
        HeldCredential(
            "household_income", {"household_scope": "own", "income_basis": "nhis_premium", "income_pct_median": 180}
        ),
        HeldCredential("lease", {"monthly_rent": 500000, "lessee_is_holder": True}),
    ]
    result = evaluate(policy, held, TODAY)
    assert result.outcome is Outcome.NOT_HELD
    assert [c.claim for c in result.conditions if c.outcome is Outcome.NOT_HELD] == ["income_pct_median"]
    held[3] = HeldCredential(
        "household_income", {"household_scope": "own", "income_basis": "nhis_premium", "income_pct_median": 140}
    )
    assert evaluate(policy, held, TODAY).eligible


def test_date_window_service() -> None:
    policy = POLICIES["climate_card_youth"]
    assert evaluate(policy, [HeldCredential("resident_registration", {"birth_date": "1984-01-01"})], TODAY).eligible
    assert not evaluate(policy, [HeldCredential("resident_registration", {"birth_date": "1983-12-31"})], TODAY).eligible


def test_wrongly_typed_held_value_is_unknown() -> None:
    held = youth(household_income={"income_pct_median": "120"})
    result = evaluate(POLICIES["seoul_youth_allowance"], held, TODAY)
    assert result.outcome is Outcome.UNKNOWN


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            {"credential": "no_such_type", "claim": "x", "op": "eq", "value": 1},
            "unknown credential type 'no_such_type'",
        ),
        ({"credential": "lease", "claim": "rent", "op": "eq", "value": 1}, "unknown claim 'rent'"),
        ({"credential": "lease", "claim": "monthly_rent", "op": "approx", "value": 1}, "unknown operator 'approx'"),
        ({"credential": "lease", "claim": "monthly_rent", "op": "age_between", "value": [1, 2]}, "does not apply"),
        ({"credential": "lease", "claim": "monthly_rent", "op": "le", "value": "cheap"}, "does not fit"),
        (
            {"credential": "education_status", "claim": "enrollment_status", "op": "eq", "value": "asleep"},
            "does not fit",
        ),
        (
            {"credential": "resident_registration", "claim": "birth_date", "op": "age_between", "value": [30, 20]},
            "empty",
        ),
        (
            {"credential": "household_income", "claim": "income_pct_median", "op": "le", "value": 1, "where": {"x": 1}},
            "where: unknown claim 'x'",
        ),
        ({"all": []}, "non-empty list"),
        ({"all": [{"credential": "lease", "claim": "deposit", "op": "le", "value": 1}], "any": []}, "stand alone"),
    ],
)
def test_bad_policies_are_rejected_with_the_place_named(rule, message) -> None:
    with pytest.raises(PolicyError, match=message) as caught:
        load_policy(
            _service({"all": [{"credential": "lease", "claim": "deposit", "op": "le", "value": 1}, rule]}), TYPES
        )
    assert "test_service" in str(caught.value)
    if "stand alone" not in message and "non-empty" not in message:
        assert "all[1]" in str(caught.value)


def test_needs_values_must_be_read_by_the_rule() -> None:
    rule = {"all": [{"credential": "lease", "claim": "deposit", "op": "le", "value": 1}]}
    with pytest.raises(PolicyError, match="not read by the rule"):
        load_policy(_service(rule, needs_values=("lease.monthly_rent",)), TYPES)
