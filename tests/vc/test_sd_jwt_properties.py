"""Property tests: round trips over random subsets, and tamper detection at every position."""

from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vc import sd_jwt

from .conftest import AUD, HOLDER_JWK, HOLDER_KEY, ISSUER_KEY, NONCE, NOW, verify

CLAIMS = {
    "name": "Kim",
    "birthdate": "1990-01-01",
    "address": {"street": "Jong-ro 1", "city": "Seoul", "zip": "03000"},
    "phones": ["010-1", "010-2", "010-3"],
    "over_18": True,
}
DISCLOSABLE = [
    ("name",),
    ("birthdate",),
    ("address",),
    ("address", "street"),
    ("address", "city"),
    ("phones", 0),
    ("phones", 1),
    ("phones", 2),
    ("over_18",),
]
TOKEN = sd_jwt.issue_sd_jwt(CLAIMS, ISSUER_KEY, disclosable=DISCLOSABLE, holder_jwk=HOLDER_JWK, decoys=1)
PARSED = sd_jwt.parse_sd_jwt(TOKEN)


def _expected_paths(chosen: list[tuple]) -> set[tuple]:
    """Paths the verifier should report: the chosen ones, their disclosable parents, and (for a
    chosen object) its disclosable children; array indices renumbered as the verifier sees them."""
    selected = {
        sd_jwt.ClaimPath(p) for p in PARSED.disclosable_paths() if any(sd_jwt._path_matches(c, p) for c in chosen)
    }
    kept_phones = sorted(p[1] for p in selected if p[0] == "phones")
    renumber = {old: new for new, old in enumerate(kept_phones)}
    return {("phones", renumber[p[1]]) if p[0] == "phones" else p for p in selected}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(DISCLOSABLE), unique=True))
def test_round_trip_discloses_exactly_the_chosen_subset(chosen):
    presentation = sd_jwt.create_presentation(PARSED, chosen, holder_key=HOLDER_KEY, aud=AUD, nonce=NONCE, iat=NOW)
    result = verify(presentation)
    assert result.disclosed_paths == _expected_paths(chosen)
    phones = [p for p in ("010-1", "010-2", "010-3") if ("phones", ("010-1", "010-2", "010-3").index(p)) in chosen]
    assert result.claims["phones"] == phones
    for top in ("name", "birthdate", "over_18"):
        assert (top in result.claims) == ((top,) in chosen)
        if top in result.claims:
            assert result.claims[top] == CLAIMS[top]
    address_shown = any(c[0] == "address" for c in chosen)
    assert ("address" in result.claims) == address_shown
    if address_shown:
        assert result.claims["address"]["zip"] == "03000"  # always-visible member of a disclosed object
        for member in ("street", "city"):
            wanted = ("address",) in chosen or ("address", member) in chosen
            assert (member in result.claims["address"]) == wanted


PRESENTATION = sd_jwt.create_presentation(
    PARSED, [("address", "street"), ("phones", 1), ("name",)], holder_key=HOLDER_KEY, aud=AUD, nonce=NONCE, iat=NOW
)
ALPHABET = string.ascii_letters + string.digits + "-_~.=+/ "


def test_untampered_presentation_is_accepted():
    assert verify(PRESENTATION).claims["name"] == "Kim"


@settings(max_examples=400, deadline=None)
@given(st.integers(min_value=0, max_value=len(PRESENTATION) - 1), st.sampled_from(ALPHABET))
def test_any_changed_byte_is_rejected(position, replacement):
    original = PRESENTATION[position]
    if replacement == original:
        replacement = "A" if original != "A" else "B"
    tampered = PRESENTATION[:position] + replacement + PRESENTATION[position + 1 :]
    try:
        verify(tampered)
    except sd_jwt.SDJWTError:
        return
    raise AssertionError(f"tampering at {position} ({original!r} -> {replacement!r}) was accepted")


@settings(max_examples=100, deadline=None)
@given(st.sampled_from([i for i, c in enumerate(PRESENTATION) if c == "~"]))
def test_every_separator_region_is_tamper_evident(position):
    # Deleting a separator merges two parts: never accepted.
    tampered = PRESENTATION[:position] + PRESENTATION[position + 1 :]
    try:
        verify(tampered)
    except sd_jwt.SDJWTError:
        return
    raise AssertionError("deleting a '~' was accepted")
