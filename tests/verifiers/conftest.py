"""Verifier fixtures: backends' OAuth tokens obtained through the real token endpoint."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

import catalog
from tests.conftest import bearer_for
from tests.issuers.spec_wallet import receive
from tests.verifiers.spec_vp_wallet import HeldCredential

GANGNAM = {
    "slug": "gangnam-youth",
    "name": {"ko": "강남구 청년정책과", "en": "Gangnam Youth Policy"},
    "services": ["k_pass_youth"],
    "redirect_uri": "https://gangnam.example/done",
}


@pytest.fixture
def verifier_admin(client, platform) -> dict[str, str]:
    return bearer_for(client, platform, "platform:admin", ["verifiers:admin"])


@pytest.fixture
def youth_backend(client, platform) -> dict[str, str]:
    """The Seoul youth policy division's backend (a demo verifier seeded by prepare)."""
    return bearer_for(client, platform, "verifier:seoul-youth", ["presentations:request"])


@pytest.fixture
def housing_backend(client, platform) -> dict[str, str]:
    return bearer_for(client, platform, "verifier:seoul-housing", ["presentations:request"])


# -- credentials for a citizen, issued over OpenID4VCI by the demo agencies ---------------------------


AGENCY_OF = {type_id: agency.slug for agency in catalog.demo_parties().agencies for type_id in agency.issues}


def birth_date_for_age(years: int) -> str:
    """A birth date that makes someone exactly `years` full years old today in Seoul (their birthday)."""
    today = dt.datetime.now(ZoneInfo("Asia/Seoul")).date()
    try:
        return today.replace(year=today.year - years).isoformat()
    except ValueError:  # 29 February: born on 1 March of that year
        return dt.date(today.year - years, 3, 1).isoformat()


def youth_claims(**overrides: dict | None) -> dict[str, dict]:
    """Claims of a citizen who qualifies for the Seoul youth allowance; `type=None` drops a credential."""
    claims: dict[str, dict] = {
        "resident_registration": {
            "birth_date": "1999-05-01",
            "nationality_status": "citizen",
            "resident_sido": "11",
            "resident_sigungu": "11110",
            "as_of": "2026-11-01",
        },
        "education_status": {"enrollment_status": "graduated", "school_level": "university_undergrad"},
        "employment_insurance": {"currently_insured": False},
        "household_income": {
            "income_basis": "nhis_premium",
            "household_scope": "own",
            "household_size": 1,
            "income_pct_median": 120,
            "median_year": 2026,
            "assessed_month": "2026-10",
        },
        "welfare_status": {"nbls_benefits": [], "near_poverty": False, "single_parent_family": False},
        "program_participation": {"active_programs": [], "past_programs": []},
    }
    for type_id, changes in overrides.items():
        if changes is None:
            claims.pop(type_id, None)
        else:
            claims[type_id] = {**claims.get(type_id, {}), **changes}
    return claims


class CredentialFactory:
    """Issues credentials through the real issuer endpoints, as each agency's backend would."""

    def __init__(self, client, platform) -> None:
        self.client = client
        self.platform = platform
        self._headers: dict[str, dict[str, str]] = {}
        self.offer_ids: dict[str, str] = {}

    def headers(self, agency: str) -> dict[str, str]:
        if agency not in self._headers:
            self._headers[agency] = bearer_for(
                self.client, self.platform, f"agency:{agency}", ["credentials:offer", "credentials:revoke"]
            )
        return self._headers[agency]

    def issue(self, type_id: str, claims: dict, subject: str = "citizen-1") -> HeldCredential:
        agency = AGENCY_OF[type_id]
        response = self.client.post(
            f"/issuers/{agency}/offers",
            json={"subject": subject, "credential_type": type_id, "claims": claims},
            headers=self.headers(agency),
        )
        assert response.status_code == 201, response.text
        offer = response.json()
        issuance = receive(offer["offer_link"], self.client)
        held = HeldCredential(issuance.credential, issuance.holder.private)
        self.offer_ids[type_id] = offer["offer_id"]
        return held

    def wallet(self, claims_by_type: dict[str, dict], subject: str = "citizen-1") -> list[HeldCredential]:
        """One citizen's credentials, each about `subject` (her platform id, their `sub`)."""
        return [self.issue(type_id, claims, subject) for type_id, claims in claims_by_type.items()]

    def set_status(self, type_id: str, action: str) -> None:
        agency = AGENCY_OF[type_id]
        response = self.client.post(
            f"/issuers/{agency}/credentials/{self.offer_ids[type_id]}/{action}", headers=self.headers(agency)
        )
        assert response.status_code in (200, 204), response.text


@pytest.fixture
def credentials(client, platform) -> CredentialFactory:
    return CredentialFactory(client, platform)
