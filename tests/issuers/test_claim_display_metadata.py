"""The issuers' Credential Issuer Metadata names every claim in Korean first, then English, as the
catalog says; the wallet's reading of that metadata then has the Korean names to show."""

from __future__ import annotations

from pathlib import Path

import pytest

import catalog
from issuers.credential_types import CatalogError, load_credential_types
from wallet.issuer_metadata import credential_display

AGENCIES = catalog.demo_parties().agencies


def _metadata(client, slug: str) -> dict:
    response = client.get(f"/.well-known/openid-credential-issuer/issuers/{slug}")
    assert response.status_code == 200
    return response.json()


def _claims(metadata: dict, configuration_id: str) -> dict[tuple, list[dict[str, str]]]:
    claims = metadata["credential_configurations_supported"][configuration_id]["credential_metadata"]["claims"]
    return {tuple(claim["path"]): claim["display"] for claim in claims}


def test_resident_registration_names_birth_date_in_korean_first(client) -> None:
    display = _claims(_metadata(client, "mois"), "resident_registration")[("birth_date",)]
    assert display == [{"name": "생년월일", "locale": "ko"}, {"name": "Date of birth", "locale": "en"}]


@pytest.mark.parametrize("agency", AGENCIES, ids=[a.slug for a in AGENCIES])
def test_every_published_claim_is_named_as_the_catalog_names_it(client, agency) -> None:
    metadata = _metadata(client, agency.slug)
    for type_id in agency.issues:
        claims = _claims(metadata, type_id)
        for name, spec in catalog.credential_types()[type_id].claims.items():
            assert claims[(name,)] == [
                {"name": spec.display["ko"], "locale": "ko"},
                {"name": spec.display["en"], "locale": "en"},
            ], f"{agency.slug}: {type_id}.{name}"


def test_the_wallet_reads_the_korean_names(client) -> None:
    metadata = _metadata(client, "ssis")
    stored = credential_display(metadata["display"], metadata["credential_configurations_supported"]["welfare_status"])
    names = {tuple(claim["path"]): claim["name"] for claim in stored["claims"]}
    assert names[("near_poverty",)] == {"ko": "차상위계층", "en": "Near-poverty group"}
    assert names[("nbls_benefits",)]["ko"] == "기초생활수급 급여"


def test_the_issuer_refuses_a_catalog_with_a_claim_named_only_in_english(tmp_path: Path) -> None:
    path = tmp_path / "credential_types.yaml"
    path.write_text(
        "credential_types:\n"
        "  - id: library_card\n"
        "    vct: urn:test:vct:library-card:1\n"
        "    claims:\n"
        "      member_since: {type: date, display: {en: Member since}}\n",
        encoding="utf-8",
    )
    with pytest.raises(CatalogError, match="'member_since' needs a display name in ko"):
        load_credential_types(path)
