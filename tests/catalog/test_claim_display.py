"""Every claim of every credential type has a Korean and an English name (and enum values labels),
and a catalog that leaves one out is refused when it is loaded, not discovered on a citizen's screen."""

from __future__ import annotations

import re
import textwrap

import pytest

import catalog
from catalog import CatalogError, parse_credential_types

HANGUL = re.compile(r"[\uac00-\ud7a3]")
TYPES = catalog.credential_types()
CLAIMS = [(type_id, spec) for type_id, ctype in TYPES.items() for spec in ctype.claims.values()]


def _enum_values(spec: catalog.ClaimSpec) -> tuple[str, ...]:
    if spec.type == "array":
        return tuple((spec.items or {}).get("values") or ())
    return spec.values or ()


def _types_yaml(claims: str) -> str:
    """A one-type catalog text around the given `claims:` block (indented as in the real file)."""
    head = """\
        credential_types:
          - id: library_card
            vct: urn:test:vct:library-card:1
            name: {ko: 도서관 회원증, en: Library card}
            issuer: {ko: 서울도서관, en: Seoul Library}
            validity_days: 30
            claims:
        """
    return textwrap.dedent(head) + textwrap.indent(textwrap.dedent(claims), " " * 6)


@pytest.mark.parametrize(("type_id", "spec"), CLAIMS, ids=[f"{t}.{s.name}" for t, s in CLAIMS])
def test_every_claim_has_a_korean_and_an_english_name(type_id: str, spec: catalog.ClaimSpec) -> None:
    ko, en = spec.display.get("ko", ""), spec.display.get("en", "")
    assert HANGUL.search(ko), f"{type_id}.{spec.name}: the Korean name {ko!r} has no Hangul"
    assert en.strip() and not HANGUL.search(en), f"{type_id}.{spec.name}: the English name {en!r}"
    assert en != spec.name, f"{type_id}.{spec.name}: the English name is the snake_case id"


@pytest.mark.parametrize(
    ("type_id", "spec"),
    [(t, s) for t, s in CLAIMS if _enum_values(s)],
    ids=[f"{t}.{s.name}" for t, s in CLAIMS if _enum_values(s)],
)
def test_every_enum_value_has_a_korean_and_an_english_label(type_id: str, spec: catalog.ClaimSpec) -> None:
    assert set(spec.value_display) == set(_enum_values(spec))
    for value, label in spec.value_display.items():
        assert HANGUL.search(label["ko"]) and label["en"].strip(), f"{type_id}.{spec.name}={value}: {label}"


def test_names_a_citizen_reads() -> None:
    resident = TYPES["resident_registration"].claims
    assert resident["birth_date"].display == {"ko": "생년월일", "en": "Date of birth"}
    assert resident["resident_sido"].display["ko"] == "거주 시·도"
    assert TYPES["education_status"].claims["enrollment_status"].value_display["on_leave"]["ko"] == "휴학"
    # An array of enum items labels the items' values.
    benefits = TYPES["welfare_status"].claims["nbls_benefits"].value_display
    assert {value: label["ko"] for value, label in benefits.items()} == {
        "livelihood": "생계급여",
        "medical": "의료급여",
        "housing": "주거급여",
        "education": "교육급여",
    }
    # The description still documents the data, apart from what the citizen sees.
    assert TYPES["household_property"].claims["owns_housing"].description == "false = 무주택"


def test_a_well_formed_catalog_text_loads() -> None:
    types = parse_credential_types(
        _types_yaml("""\
            shelf: {type: enum, values: [open, closed], display: {ko: 서가, en: Shelf},
                    value_display: {open: {ko: 개가, en: Open}}}
            """)
    )
    shelf = types["library_card"].claims["shelf"]
    assert shelf.display == {"ko": "서가", "en": "Shelf"}
    assert shelf.value_display == {"open": {"ko": "개가", "en": "Open"}}


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ("member_since: {type: date}\n", "library_card.claims.member_since: needs a display"),
        ("member_since: {type: date, display: {ko: 가입일}}\n", "no en"),
        ("member_since: {type: date, display: {en: Member since}}\n", "no ko"),
        ("member_since: {type: date, display: {ko: '  ', en: Member since}}\n", "no ko"),
        ("member_since: {type: date, display: 가입일}\n", "member_since: needs a display"),
        (
            "shelf: {type: enum, values: [open, closed], display: {ko: 서가, en: Shelf},\n"
            "        value_display: {ajar: {ko: 반쯤, en: Ajar}}}\n",
            "'ajar' is not one of the claim's values",
        ),
        (
            "loans: {type: array, items: {type: enum, values: [book, dvd]}, display: {ko: 대출, en: Loans},\n"
            "        value_display: {dvd: {ko: DVD}}}\n",
            "value_display.dvd: display has no en",
        ),
        (
            "renewed: {type: boolean, display: {ko: 갱신, en: Renewed}, value_display: {true: {ko: 예, en: Yes}}}\n",
            "not one of the claim's values",
        ),
    ],
    ids=[
        "no-display",
        "no-english",
        "no-korean",
        "blank-korean",
        "display-not-a-mapping",
        "label-for-an-unknown-value",
        "value-label-without-english",
        "labels-on-a-claim-without-values",
    ],
)
def test_a_catalog_missing_a_name_is_refused(claims: str, message: str) -> None:
    with pytest.raises(CatalogError, match=re.escape(message)):
        parse_credential_types(_types_yaml(claims))
