"""DCQL (OpenID4VP 1.0 §6): query validation, wallet matching, verifier checks."""

from __future__ import annotations

import pytest

from keys.jwk import public_jwk, thumbprint
from vc import dcql, sd_jwt, sd_jwt_vc

from .conftest import AUD, HOLDER_JWK, HOLDER_KEY, ISSUER_KEY, NONCE, NOW

ISS = "https://gov.seoul.example"
KID = thumbprint(public_jwk(ISSUER_KEY))
RESOLVER = sd_jwt_vc.StaticIssuerKeyResolver(
    {ISS: {"issuer": ISS, "jwks": {"keys": [{**public_jwk(ISSUER_KEY), "kid": KID}]}}}
)

RESIDENT = sd_jwt_vc.issue_sd_jwt_vc(
    {
        "vct": "urn:seoul:resident",
        "iss": ISS,
        "name": "Kim",
        "birthdate": "1990-01-01",
        "address": {"gu": "Jongno", "street": "Sejong-daero 1"},
        "languages": ["ko", "en", "fr"],
    },
    ISSUER_KEY,
    kid=KID,
    disclosable=[
        ("name",),
        ("birthdate",),
        ("address",),
        ("address", "gu"),
        ("address", "street"),
        ("languages", None),
    ],
    holder_jwk=HOLDER_JWK,
)
INCOME = sd_jwt_vc.issue_sd_jwt_vc(
    {"vct": "urn:seoul:income", "iss": ISS, "median_pct": 80, "year": 2025},
    ISSUER_KEY,
    kid=KID,
    disclosable=[("median_pct",), ("year",)],
    holder_jwk=HOLDER_JWK,
)
HELD = [sd_jwt.parse_sd_jwt(RESIDENT), sd_jwt.parse_sd_jwt(INCOME)]


def cred(id_, vct, claims=None, **extra):
    query = {"id": id_, "format": "dc+sd-jwt", "meta": {"vct_values": [vct]}}
    if claims is not None:
        query["claims"] = claims
    query.update(extra)
    return query


def present_match(matches):
    """Turn a wallet match into a verified vp_token, as the verifier would see it."""
    vp = {}
    for query_id, items in matches.items():
        vp[query_id] = [
            sd_jwt_vc.verify_sd_jwt_vc(
                sd_jwt.create_presentation(
                    m.credential, m.disclose, holder_key=HOLDER_KEY, aud=AUD, nonce=NONCE, iat=NOW
                ),
                RESOLVER,
                expected_aud=AUD,
                expected_nonce=NONCE,
                now=NOW,
            )
            for m in items
        ]
    return vp


@pytest.mark.parametrize(
    "query",
    [
        [],
        {},
        {"credentials": []},
        {"credentials": [{"id": "a b", "format": "dc+sd-jwt", "meta": {}}]},
        {"credentials": [{"id": "a", "format": "mso_mdoc", "meta": {}}]},
        {"credentials": [{"id": "a", "format": "dc+sd-jwt"}]},
        {"credentials": [cred("a", "x"), cred("a", "y")]},
        {"credentials": [cred("a", "x", [{"path": []}])]},
        {"credentials": [cred("a", "x", [{"path": ["a", -1]}])]},
        {"credentials": [cred("a", "x", [{"path": ["a", 1.5]}])]},
        {"credentials": [cred("a", "x", [{"path": ["a"], "values": []}])]},
        {"credentials": [cred("a", "x", [{"path": ["a"], "values": [{"x": 1}]}])]},
        {"credentials": [cred("a", "x", [{"path": ["a"]}], claim_sets=[["c1"]])]},
        {"credentials": [cred("a", "x", [{"id": "c1", "path": ["a"]}], claim_sets=[["c2"]])]},
        {"credentials": [cred("a", "x", claim_sets=[["c1"]])]},
        {"credentials": [cred("a", "x", [{"id": "c", "path": ["a"]}, {"id": "c", "path": ["b"]}])]},
        {"credentials": [cred("a", "x", multiple="yes")]},
        {"credentials": [cred("a", "x", require_cryptographic_holder_binding=1)]},
        {"credentials": [cred("a", "x")], "credential_sets": [{"options": [["b"]]}]},
        {"credentials": [cred("a", "x")], "credential_sets": [{"options": []}]},
        {"credentials": [cred("a", "x")], "credential_sets": [{"options": [["a"]], "required": "no"}]},
        {"credentials": [cred("a", "x", meta=None)]},
    ],
)
def test_malformed_queries_rejected(query):
    with pytest.raises(dcql.InvalidQuery):
        dcql.parse_query(query)


def test_simple_match_discloses_only_requested_claims():
    query = {"credentials": [cred("pid", "urn:seoul:resident", [{"path": ["address", "gu"]}, {"path": ["name"]}])]}
    matches = dcql.match(query, HELD)
    assert [m.credential_index for m in matches["pid"]] == [0]
    assert set(matches["pid"][0].disclose) == {("address", "gu"), ("name",)}
    vp = present_match(matches)
    claims = vp["pid"][0].claims
    assert claims["address"] == {"gu": "Jongno"}  # street was not requested, so not disclosed
    assert "birthdate" not in claims and claims["languages"] == []  # the array is plain, its elements hidden
    assert dcql.check_presentation(query, vp)["pid"][0] is vp["pid"][0]


def test_vct_mismatch_does_not_match():
    assert dcql.match({"credentials": [cred("x", "urn:other")]}, HELD) is None


def test_values_constraint():
    ok = {"credentials": [cred("inc", "urn:seoul:income", [{"path": ["median_pct"], "values": [80, 100]}])]}
    bad = {"credentials": [cred("inc", "urn:seoul:income", [{"path": ["median_pct"], "values": [120]}])]}
    assert dcql.match(ok, HELD)["inc"][0].disclose == (("median_pct",),)
    assert dcql.match(bad, HELD) is None


def test_null_path_with_values_discloses_only_matching_elements():
    query = {"credentials": [cred("pid", "urn:seoul:resident", [{"path": ["languages", None], "values": ["en"]}])]}
    matches = dcql.match(query, HELD)
    assert matches["pid"][0].disclose == (("languages", 1),)
    assert present_match(matches)["pid"][0].claims["languages"] == ["en"]


def test_claim_sets_first_satisfiable_option_wins():
    claims = [{"id": "nick", "path": ["nickname"]}, {"id": "n", "path": ["name"]}, {"id": "b", "path": ["birthdate"]}]
    query = {"credentials": [cred("pid", "urn:seoul:resident", claims, claim_sets=[["nick"], ["n"], ["b"]])]}
    matches = dcql.match(query, HELD)
    assert matches["pid"][0].disclose == (("name",),)  # not birthdate: the earlier option wins
    assert "birthdate" not in present_match(matches)["pid"][0].claims


def test_credential_sets_alternatives_and_optional():
    query = {
        "credentials": [
            cred("passport", "urn:passport"),
            cred("pid", "urn:seoul:resident", [{"path": ["name"]}]),
            cred("inc", "urn:seoul:income", [{"path": ["year"]}]),
        ],
        "credential_sets": [{"options": [["passport"], ["pid"]]}, {"options": [["inc"]], "required": False}],
    }
    matches = dcql.match(query, HELD)
    assert set(matches) == {"pid", "inc"}
    dcql.check_presentation(query, present_match(matches))


def test_required_credential_set_unsatisfiable():
    query = {"credentials": [cred("passport", "urn:passport")], "credential_sets": [{"options": [["passport"]]}]}
    assert dcql.match(query, HELD) is None


def test_multiple_returns_all_matching():
    held = [*HELD, sd_jwt.parse_sd_jwt(RESIDENT)]
    single = dcql.match({"credentials": [cred("pid", "urn:seoul:resident")]}, held)
    many = dcql.match({"credentials": [cred("pid", "urn:seoul:resident", multiple=True)]}, held)
    assert len(single["pid"]) == 1 and [m.credential_index for m in many["pid"]] == [0, 2]
    assert many["pid"][0].disclose == ()  # no claims requested: nothing selectively disclosable is sent


def test_holder_binding_required_by_default():
    unbound = sd_jwt.parse_sd_jwt(sd_jwt_vc.issue_sd_jwt_vc({"vct": "urn:x", "iss": ISS}, ISSUER_KEY, kid=KID))
    assert dcql.match({"credentials": [cred("x", "urn:x")]}, [unbound]) is None
    loose = {"credentials": [cred("x", "urn:x", require_cryptographic_holder_binding=False)]}
    assert dcql.match(loose, [unbound])["x"][0].credential_index == 0


QUERY = {"credentials": [cred("pid", "urn:seoul:resident", [{"path": ["name"]}])]}


def _vp(paths):
    presentation = sd_jwt.create_presentation(RESIDENT, paths, holder_key=HOLDER_KEY, aud=AUD, nonce=NONCE, iat=NOW)
    return sd_jwt_vc.verify_sd_jwt_vc(presentation, RESOLVER, expected_aud=AUD, expected_nonce=NONCE, now=NOW)


def test_check_rejects_extra_credential_id():
    with pytest.raises(dcql.PresentationMismatch):
        dcql.check_presentation(QUERY, {"pid": [_vp([("name",)])], "extra": [_vp([("name",)])]})


def test_check_rejects_missing_claim():
    with pytest.raises(dcql.PresentationMismatch):
        dcql.check_presentation(QUERY, {"pid": [_vp([("birthdate",)])]})


def test_check_rejects_missing_credential():
    with pytest.raises(dcql.PresentationMismatch):
        dcql.check_presentation(QUERY, {})


def test_check_rejects_several_when_not_multiple():
    with pytest.raises(dcql.PresentationMismatch):
        dcql.check_presentation(QUERY, {"pid": [_vp([("name",)]), _vp([("name",)])]})


def test_check_rejects_unmet_values():
    query = {"credentials": [cred("pid", "urn:seoul:resident", [{"path": ["name"], "values": ["Lee"]}])]}
    with pytest.raises(dcql.PresentationMismatch):
        dcql.check_presentation(query, {"pid": [_vp([("name",)])]})


def test_check_rejects_missing_key_binding():
    presentation = sd_jwt.create_presentation(RESIDENT, [("name",)])
    result = sd_jwt_vc.verify_sd_jwt_vc(presentation, RESOLVER, require_key_binding=False, now=NOW)
    with pytest.raises(dcql.PresentationMismatch):
        dcql.check_presentation(QUERY, {"pid": [result]})


def test_check_claim_sets_any_option_satisfied():
    claims = [{"id": "n", "path": ["name"]}, {"id": "b", "path": ["birthdate"]}]
    query = {"credentials": [cred("pid", "urn:seoul:resident", claims, claim_sets=[["n"], ["b"]])]}
    assert dcql.check_presentation(query, {"pid": [_vp([("birthdate",)])]})["pid"]
    with pytest.raises(dcql.PresentationMismatch):
        dcql.check_presentation(query, {"pid": [_vp([("languages", 0)])]})


def test_vct_values_is_required_for_sd_jwt_vc() -> None:
    for meta in ({}, {"vct_values": []}, {"vct_values": "urn:seoul:resident"}, {"vct_values": [1]}):
        with pytest.raises(dcql.InvalidQuery):
            dcql.parse_query({"credentials": [{"id": "r", "format": "dc+sd-jwt", "meta": meta}]})


def test_a_path_step_over_an_element_of_the_wrong_type_aborts_instead_of_skipping() -> None:
    """OpenID4VP 1.0 §7.1: one element of `pets` is a string, so asking every element for `name`
    is an error for that credential, not a match on the elements that happen to be objects."""
    mixed = sd_jwt_vc.issue_sd_jwt_vc(
        {"vct": "urn:seoul:resident", "iss": ISS, "pets": [{"name": "Bori"}, "goldfish"]},
        ISSUER_KEY,
        kid=KID,
        disclosable=[("pets",)],
        holder_jwk=HOLDER_JWK,
    )
    query = {"credentials": [cred("r", "urn:seoul:resident", [{"path": ["pets", None, "name"]}])]}
    assert dcql.match(query, [sd_jwt.parse_sd_jwt(mixed)]) is None
    only_objects = sd_jwt_vc.issue_sd_jwt_vc(
        {"vct": "urn:seoul:resident", "iss": ISS, "pets": [{"name": "Bori"}]},
        ISSUER_KEY,
        kid=KID,
        disclosable=[("pets",)],
        holder_jwk=HOLDER_JWK,
    )
    assert dcql.match(query, [sd_jwt.parse_sd_jwt(only_objects)]) is not None
    with pytest.raises(sd_jwt.ClaimPathTypeError):
        sd_jwt.resolve_path({"pets": [{"name": "Bori"}, "goldfish"]}, ["pets", None, "name"], strict=True)
    assert sd_jwt.resolve_path({"a": "text"}, ["a", 0]) == []  # lenient mode, for the holder's own use


def test_a_presentation_disclosing_an_unrequested_claim_is_over_disclosure() -> None:
    query = {"credentials": [cred("r", "urn:seoul:resident", [{"path": ["address", "gu"]}])]}
    exact = present_match(dcql.match(query, HELD))
    assert dcql.check_presentation(query, exact)  # the parent `address` comes with `gu`: asked for
    too_much = sd_jwt.create_presentation(
        RESIDENT, [("address", "gu"), ("name",)], holder_key=HOLDER_KEY, aud=AUD, nonce=NONCE, iat=NOW
    )
    verified = sd_jwt_vc.verify_sd_jwt_vc(too_much, RESOLVER, expected_aud=AUD, expected_nonce=NONCE, now=NOW)
    with pytest.raises(dcql.OverDisclosure):
        dcql.check_presentation(query, {"r": [verified]})
