"""Every name in the catalog is exactly {ko, en}: an unquoted comma in a YAML flow mapping once cut
"Ministry of Land, Infrastructure and Transport" to "Ministry of Land" (and made a third key), and
the wallet's services list answered 500 on it. The loader now refuses such a text."""

from __future__ import annotations

import pytest

import catalog

BROKEN = """
credential_types:
  - id: lease
    vct: urn:example:lease:1
    name: {ko: 임대차, en: Lease}
    issuer: {ko: 국토교통부, en: Ministry of Land, Infrastructure and Transport}
    validity_days: 365
    claims:
      monthly_rent: {type: integer, display: {ko: 월세, en: Monthly rent}}
"""


def test_an_unquoted_comma_in_a_name_is_refused_with_its_place() -> None:
    with pytest.raises(catalog.CatalogError, match=r"lease\.issuer.*quote values with commas"):
        catalog.parse_credential_types(BROKEN)


def test_quoted_it_loads_whole() -> None:
    fixed = BROKEN.replace(
        "{ko: 국토교통부, en: Ministry of Land, Infrastructure and Transport}",
        '{ko: 국토교통부, en: "Ministry of Land, Infrastructure and Transport"}',
    )
    lease = catalog.parse_credential_types(fixed)["lease"]
    assert lease.issuer == {"ko": "국토교통부", "en": "Ministry of Land, Infrastructure and Transport"}


def test_every_name_in_the_catalog_is_korean_and_english_in_full() -> None:
    texts = [t.name for t in catalog.credential_types().values()] + [
        t.issuer for t in catalog.credential_types().values()
    ]
    for service in catalog.services().values():
        texts += [service.name, service.operator, service.benefit]
    parties = catalog.demo_parties()
    texts += [p.name for p in (*parties.agencies, *parties.verifiers)]
    assert all(set(text) == {"ko", "en"} for text in texts)
    operators = {s.id: s.operator["en"] for s in catalog.services().values()}
    assert operators["seoul_youth_allowance"] == "Seoul Metropolitan Government, Youth Policy Division"


def test_an_unquoted_comma_in_a_claim_description_is_refused() -> None:
    broken = BROKEN.replace(
        "{ko: 국토교통부, en: Ministry of Land, Infrastructure and Transport}", "{ko: 국토교통부, en: Ministry}"
    ).replace(
        "monthly_rent: {type: integer, display: {ko: 월세, en: Monthly rent}}",
        "monthly_rent: {type: integer, description: KRW, per month, display: {ko: 월세, en: Monthly rent}}",
    )
    with pytest.raises(catalog.CatalogError, match=r"monthly_rent: unknown keys \['per month'\]"):
        catalog.parse_credential_types(broken)


def test_a_region_code_reads_as_its_name() -> None:
    sido = catalog.credential_types()["resident_registration"].claims["resident_sido"]
    assert sido.value_display["11"] == {"ko": "서울특별시", "en": "Seoul"}
    assert sido.description == "2-digit province/city code, 11 is Seoul"
