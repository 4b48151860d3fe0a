"""RFC 9901: issuance, presentation and every verifier check, each with its own bad input."""

from __future__ import annotations

import base64
import json

import pytest

from keys.jwk import b64url_decode, b64url_encode
from vc import sd_jwt
from vc.sd_jwt import make_disclosure

from .conftest import (
    AUD,
    HOLDER_JWK,
    HOLDER_KEY,
    ISSUER_KEY,
    NONCE,
    NOW,
    OTHER_KEY,
    add_kb,
    craft,
    raw_disclosure,
    verify,
)

CLAIMS = {
    "iss": "https://issuer.example",
    "given_name": "길동",
    "family_name": "홍",
    "address": {"street": "세종대로 110", "locality": "Seoul", "country": "KR"},
    "nationalities": ["KR", "US", "FR"],
    "age": 42,
}
PATHS = [
    ("given_name",),
    ("family_name",),
    ("address",),
    ("address", "street"),
    ("address", "locality"),
    ("nationalities", None),
    ("age",),
]


def issued(**kwargs) -> str:
    options = {"disclosable": PATHS, "holder_jwk": HOLDER_JWK, "decoys": 2}
    options.update(kwargs)
    return sd_jwt.issue_sd_jwt(CLAIMS, ISSUER_KEY, **options)


def present(token: str, paths, **kwargs) -> str:
    options = {"holder_key": HOLDER_KEY, "aud": AUD, "nonce": NONCE, "iat": NOW}
    options.update(kwargs)
    return sd_jwt.create_presentation(token, paths, **options)


# --------------------------------------------------------------------------------------------
# RFC 9901 examples


@pytest.mark.parametrize(
    ("disclosure", "digest", "content"),
    [
        (
            "WyIyR0xDNDJzS1F2ZUNmR2ZyeU5STjl3IiwgImdpdmVuX25hbWUiLCAiSm9obiJd",
            "jsu9yVulwQQlhFlM_3JlzMaSFzglhQG0DpfayQwLUK4",
            ["2GLC42sKQveCfGfryNRN9w", "given_name", "John"],
        ),
        (
            "WyJsa2x4RjVqTVlsR1RQVW92TU5JdkNBIiwgIkZSIl0",
            "w0I8EKcdCtUPkGCNUrfwVp2xEgNjtoIDlOxc9-PlOhs",
            ["lklxF5jMYlGTPUovMNIvCA", "FR"],
        ),
    ],
)
def test_rfc9901_disclosure_examples_decode_and_hash(disclosure, digest, content):
    decoded = sd_jwt.decode_disclosure(disclosure)
    assert decoded.digest == digest
    assert [decoded.salt, *([decoded.name] if decoded.name else []), decoded.value] == content


def test_rfc9901_example_verifies_structurally():
    # RFC 9901 §5.1 digests for given_name and the array element FR, as a payload we sign ourselves.
    given = "WyIyR0xDNDJzS1F2ZUNmR2ZyeU5STjl3IiwgImdpdmVuX25hbWUiLCAiSm9obiJd"
    fr = "WyJsa2x4RjVqTVlsR1RQVW92TU5JdkNBIiwgIkZSIl0"
    payload = {
        "_sd": ["jsu9yVulwQQlhFlM_3JlzMaSFzglhQG0DpfayQwLUK4"],
        "nationalities": [{"...": "w0I8EKcdCtUPkGCNUrfwVp2xEgNjtoIDlOxc9-PlOhs"}, "DE"],
        "_sd_alg": "sha-256",
    }
    result = verify(craft(payload, [given, fr]), require_key_binding=False)
    assert result.claims == {"given_name": "John", "nationalities": ["FR", "DE"]}
    assert result.disclosed_paths == {("given_name",), ("nationalities", 0)}


# --------------------------------------------------------------------------------------------
# Issuance


def test_issued_sd_jwt_hides_disclosable_claims_and_has_trailing_tilde():
    token = issued()
    assert token.endswith("~")
    payload = json.loads(b64url_decode(token.split("~")[0].split(".")[1]))
    assert payload["_sd_alg"] == "sha-256"
    assert "given_name" not in payload and "address" not in payload
    assert payload["iss"] == CLAIMS["iss"]
    assert payload["cnf"] == {"jwk": HOLDER_JWK}
    assert len(payload["_sd"]) == 4 + 2  # four top-level disclosable claims and two decoys
    assert payload["nationalities"] == [{"...": d} for d in (e["..."] for e in payload["nationalities"])]


def test_salts_are_at_least_128_bits_and_unique():
    parsed = sd_jwt.parse_sd_jwt(issued())
    salts = [d.salt for d in parsed.disclosures]
    assert len(set(salts)) == len(salts)
    assert all(len(base64.urlsafe_b64decode(s + "==")) >= 16 for s in salts)


def test_digests_are_shuffled():
    positions = set()
    for _ in range(20):
        parsed = sd_jwt.parse_sd_jwt(issued(decoys=0))
        given = next(d for d in parsed.disclosures if d.name == "given_name")
        positions.add(parsed.payload["_sd"].index(given.digest))
    assert len(positions) > 1


def test_holder_sees_every_claim():
    parsed = sd_jwt.parse_sd_jwt(issued())
    assert {k: v for k, v in parsed.claims.items() if k != "cnf"} == CLAIMS
    assert set(parsed.disclosable_paths()) == {
        ("given_name",),
        ("family_name",),
        ("address",),
        ("address", "street"),
        ("address", "locality"),
        ("nationalities", 0),
        ("nationalities", 1),
        ("nationalities", 2),
        ("age",),
    }


@pytest.mark.parametrize(
    ("claims", "paths"),
    [
        ({"a": 1}, [("b",)]),
        ({"a": [1]}, [("a", 3)]),
        ({"a": {"b": 1}}, [("a", 0)]),
        ({"a": 1}, [()]),
        ({"_sd": 1}, []),
        ({"a": {"...": 1}}, []),
    ],
)
def test_issuance_refuses_impossible_requests(claims, paths):
    with pytest.raises(sd_jwt.IssuanceError):
        sd_jwt.issue_sd_jwt(claims, ISSUER_KEY, disclosable=paths)


# --------------------------------------------------------------------------------------------
# Presentation and successful verification


def test_presentation_discloses_exactly_the_chosen_claims_with_parents():
    presentation = present(issued(), [("address", "street"), ("nationalities", 1)])
    result = verify(presentation)
    assert result.claims["address"] == {"street": "세종대로 110", "country": "KR"}
    assert result.claims["nationalities"] == ["US"]  # undisclosed elements are dropped
    assert "given_name" not in result.claims and "age" not in result.claims
    assert result.disclosed_paths == {("address",), ("address", "street"), ("nationalities", 0)}
    assert result.key_binding["aud"] == AUD and result.key_binding["nonce"] == NONCE


def test_sd_and_sd_alg_are_stripped():
    result = verify(present(issued(), [("address",)]))
    text = json.dumps(result.claims)
    assert "_sd" not in text and "..." not in text
    assert result.payload["_sd_alg"] == "sha-256"


def test_presenting_unknown_path_is_refused():
    with pytest.raises(sd_jwt.PresentationError):
        present(issued(), [("no_such_claim",)])


def test_presentation_without_key_binding_when_not_required():
    presentation = sd_jwt.create_presentation(issued(), [("age",)])
    assert presentation.endswith("~")
    result = verify(presentation, require_key_binding=False)
    assert result.claims["age"] == 42 and result.key_binding is None


# --------------------------------------------------------------------------------------------
# Verifier checks: one bad input each


def test_duplicate_digest_rejected():
    d = make_disclosure("a", 1)
    with pytest.raises(sd_jwt.DuplicateDigest):
        verify(craft({"_sd": [d.digest, d.digest]}, [d.raw]), require_key_binding=False)


def test_duplicate_digest_across_object_and_array_rejected():
    decoy = b64url_encode(b"x" * 32)
    with pytest.raises(sd_jwt.DuplicateDigest):
        verify(craft({"_sd": [decoy], "arr": [{"...": decoy}]}, []), require_key_binding=False)


def test_duplicate_disclosure_rejected():
    d = make_disclosure("a", 1)
    with pytest.raises(sd_jwt.DuplicateDisclosure):
        verify(craft({"_sd": [d.digest]}, [d.raw, d.raw]), require_key_binding=False)


def test_unreferenced_disclosure_rejected():
    d, stray = make_disclosure("a", 1), make_disclosure("b", 2)
    with pytest.raises(sd_jwt.UnreferencedDisclosure):
        verify(craft({"_sd": [d.digest]}, [d.raw, stray.raw]), require_key_binding=False)


@pytest.mark.parametrize("name", ["_sd", "..."])
def test_reserved_claim_name_in_disclosure_rejected(name):
    raw = raw_disclosure(["c2FsdHNhbHRzYWx0c2FsdA", name, 1])
    with pytest.raises(sd_jwt.ReservedClaimName):
        verify(craft({"_sd": [sd_jwt._digest(raw)]}, [raw]), require_key_binding=False)


def test_claim_name_collision_with_plain_claim_rejected():
    d = make_disclosure("given_name", "Mallory")
    with pytest.raises(sd_jwt.ClaimNameCollision):
        verify(craft({"given_name": "Alice", "_sd": [d.digest]}, [d.raw]), require_key_binding=False)


def test_claim_name_collision_between_disclosures_rejected():
    d1, d2 = make_disclosure("x", 1), make_disclosure("x", 2)
    with pytest.raises(sd_jwt.ClaimNameCollision):
        verify(craft({"_sd": [d1.digest, d2.digest]}, [d1.raw, d2.raw]), require_key_binding=False)


def test_unsupported_sd_alg_rejected():
    d = make_disclosure("a", 1)
    with pytest.raises(sd_jwt.UnsupportedSdAlg):
        verify(craft({"_sd": [d.digest], "_sd_alg": "sha-512"}, [d.raw]), require_key_binding=False)


def test_sd_alg_below_top_level_rejected():
    with pytest.raises(sd_jwt.SdAlgNotTopLevel):
        verify(craft({"address": {"_sd_alg": "sha-256", "city": "Seoul"}}, []), require_key_binding=False)


def test_sd_alg_inside_disclosed_value_rejected():
    d = make_disclosure("address", {"_sd_alg": "sha-256"})
    with pytest.raises(sd_jwt.SdAlgNotTopLevel):
        verify(craft({"_sd": [d.digest]}, [d.raw]), require_key_binding=False)


@pytest.mark.parametrize(
    "raw",
    [
        "not*base64url",
        b64url_encode(b"{not json"),
        raw_disclosure({"salt": "s", "name": "n"}),
        raw_disclosure(["only-salt"]),
        raw_disclosure(["s", "n", 1, "extra"]),
        raw_disclosure([1234, "n", 1]),
        raw_disclosure(["s", 5, 1]),
        raw_disclosure([None, "v"]),
        b64url_encode(b"\xff\xfe"),
    ],
    ids=["not-b64", "not-json", "object", "len1", "len4", "salt-int", "name-int", "salt-null-2", "not-utf8"],
)
def test_malformed_disclosure_rejected(raw):
    with pytest.raises(sd_jwt.MalformedDisclosure):
        verify(craft({"_sd": [sd_jwt._digest(raw)]}, [raw]), require_key_binding=False)


def test_array_digest_with_three_element_disclosure_rejected():
    d = make_disclosure("a", 1)
    with pytest.raises(sd_jwt.DisclosureTypeMismatch):
        verify(craft({"arr": [{"...": d.digest}]}, [d.raw]), require_key_binding=False)


def test_object_digest_with_two_element_disclosure_rejected():
    d = make_disclosure(None, 1)
    with pytest.raises(sd_jwt.DisclosureTypeMismatch):
        verify(craft({"_sd": [d.digest]}, [d.raw]), require_key_binding=False)


@pytest.mark.parametrize("bad", ["digest", [1, 2], {"x": 1}])
def test_malformed_sd_array_rejected(bad):
    with pytest.raises(sd_jwt.MalformedDigests):
        verify(craft({"_sd": bad}, []), require_key_binding=False)


def test_non_string_array_digest_rejected():
    with pytest.raises(sd_jwt.MalformedDigests):
        verify(craft({"arr": [{"...": 7}]}, []), require_key_binding=False)


def test_key_binding_missing_when_required_rejected():
    presentation = sd_jwt.create_presentation(issued(), [("age",)])
    with pytest.raises(sd_jwt.KeyBindingMissing):
        verify(presentation)


def test_key_binding_never_inferred_from_absence_of_cnf():
    # No cnf, no KB-JWT: still rejected when policy requires key binding.
    with pytest.raises(sd_jwt.KeyBindingMissing):
        verify(craft({"a": 1}, []))


def test_key_binding_without_cnf_rejected():
    with pytest.raises(sd_jwt.UnexpectedKeyBinding):
        verify(add_kb(craft({"a": 1}, [])))


def test_unrequested_key_binding_without_expected_values_rejected():
    presentation = present(issued(), [("age",)])
    with pytest.raises(sd_jwt.UncheckableKeyBinding):
        verify(presentation, require_key_binding=False, expected_aud=None, expected_nonce=None)


def test_cnf_without_jwk_rejected():
    with pytest.raises(sd_jwt.InvalidHolderKey):
        verify(add_kb(craft({"cnf": {"kid": "k1"}}, [])))


def test_key_binding_wrong_typ_rejected():
    with pytest.raises(sd_jwt.KeyBindingWrongType):
        verify(add_kb(craft({"cnf": {"jwk": HOLDER_JWK}}, []), typ="JWT"))


def test_key_binding_wrong_aud_rejected():
    with pytest.raises(sd_jwt.KeyBindingAudienceMismatch):
        verify(add_kb(craft({"cnf": {"jwk": HOLDER_JWK}}, []), aud="https://evil.example"))


def test_key_binding_aud_array_rejected():
    with pytest.raises(sd_jwt.KeyBindingAudienceMismatch):
        verify(add_kb(craft({"cnf": {"jwk": HOLDER_JWK}}, []), aud=[AUD]))


def test_key_binding_wrong_nonce_rejected():
    with pytest.raises(sd_jwt.KeyBindingNonceMismatch):
        verify(add_kb(craft({"cnf": {"jwk": HOLDER_JWK}}, []), nonce="replayed"))


def test_key_binding_iat_too_old_rejected():
    with pytest.raises(sd_jwt.KeyBindingIatInvalid):
        verify(add_kb(craft({"cnf": {"jwk": HOLDER_JWK}}, []), iat=NOW - 3600))


def test_key_binding_iat_in_future_rejected():
    with pytest.raises(sd_jwt.KeyBindingIatInvalid):
        verify(add_kb(craft({"cnf": {"jwk": HOLDER_JWK}}, []), iat=NOW + 600))


def test_key_binding_iat_within_skew_accepted():
    result = verify(add_kb(craft({"cnf": {"jwk": HOLDER_JWK}}, []), iat=NOW + 30))
    assert result.key_binding["iat"] == NOW + 30


def test_key_binding_sd_hash_mismatch_rejected():
    d1, d2 = make_disclosure("a", 1), make_disclosure("b", 2)
    full = craft({"_sd": [d1.digest, d2.digest], "cnf": {"jwk": HOLDER_JWK}}, [d1.raw, d2.raw])
    kb = add_kb(full)[len(full) :]
    # The KB-JWT was made for both disclosures; the verifier receives only one.
    fewer = full.replace(d2.raw + "~", "")
    with pytest.raises(sd_jwt.KeyBindingHashMismatch):
        verify(fewer + kb)


def test_key_binding_signed_by_other_key_rejected():
    with pytest.raises(sd_jwt.KeyBindingSignatureInvalid):
        verify(add_kb(craft({"cnf": {"jwk": HOLDER_JWK}}, []), key=OTHER_KEY))


def test_issuer_signature_by_other_key_rejected():
    with pytest.raises(sd_jwt.IssuerSignatureInvalid):
        verify(craft({"a": 1}, [], key=OTHER_KEY), require_key_binding=False)


def test_issuer_alg_none_rejected():
    header = b64url_encode(json.dumps({"alg": "none"}).encode())
    body = b64url_encode(json.dumps({"a": 1}).encode())
    with pytest.raises(sd_jwt.IssuerAlgorithmNotAllowed):
        verify(f"{header}.{body}.~", require_key_binding=False)


def test_issuer_algorithm_outside_policy_rejected():
    with pytest.raises(sd_jwt.IssuerAlgorithmNotAllowed):
        verify(craft({"a": 1}, []), require_key_binding=False, algorithms={"EdDSA"})


def test_issuer_wrong_typ_rejected():
    with pytest.raises(sd_jwt.IssuerJWTWrongType):
        verify(craft({"a": 1}, [], typ="JWT"), require_key_binding=False, typ="example+sd-jwt")


def test_unknown_issuer_key_rejected():
    from keys.jws import UnknownKey

    def resolver(header, payload):
        raise UnknownKey("no such kid")

    with pytest.raises(sd_jwt.UnknownIssuerKey):
        sd_jwt.verify_sd_jwt(craft({"a": 1}, []), resolver, require_key_binding=False, now=NOW)


def test_disclosed_exp_checked_after_processing():
    d = make_disclosure("exp", NOW - 3600)
    with pytest.raises(sd_jwt.Expired):
        verify(craft({"_sd": [d.digest]}, [d.raw]), require_key_binding=False)


def test_expired_rejected():
    with pytest.raises(sd_jwt.Expired):
        verify(craft({"exp": NOW - 120}, []), require_key_binding=False)


def test_not_yet_valid_rejected():
    with pytest.raises(sd_jwt.NotYetValid):
        verify(craft({"nbf": NOW + 600}, []), require_key_binding=False)


def test_malformed_time_claim_rejected():
    with pytest.raises(sd_jwt.MalformedTimeClaim):
        verify(craft({"exp": "tomorrow"}, []), require_key_binding=False)


def test_too_many_disclosures_rejected():
    ds = [make_disclosure(f"c{i}", i) for i in range(5)]
    presentation = craft({"_sd": [d.digest for d in ds]}, [d.raw for d in ds])
    with pytest.raises(sd_jwt.LimitExceeded):
        verify(presentation, require_key_binding=False, limits=sd_jwt.Limits(max_disclosures=4))


def test_too_deep_nesting_rejected():
    deep: dict = {"leaf": 1}
    for _ in range(40):
        deep = {"n": deep}
    with pytest.raises(sd_jwt.LimitExceeded):
        verify(craft(deep, []), require_key_binding=False)


def test_too_long_presentation_rejected():
    presentation = craft({"a": 1}, [])
    with pytest.raises(sd_jwt.LimitExceeded):
        verify(presentation, require_key_binding=False, limits=sd_jwt.Limits(max_presentation_bytes=50))


@pytest.mark.parametrize("presentation", ["no-tilde-at-all", craft({"a": 1}, []).replace("~", "~~"), 12, "é~"])
def test_malformed_presentation_rejected(presentation):
    with pytest.raises(sd_jwt.MalformedPresentation):
        verify(presentation, require_key_binding=False)


def test_every_error_has_a_distinct_reason():
    classes = [c for c in vars(sd_jwt).values() if isinstance(c, type) and issubclass(c, sd_jwt.SDJWTError)]
    reasons = [c.reason for c in classes]
    assert len(classes) > 30
    assert len(reasons) == len(set(reasons))


# --------------------------------------------------------------------------------------------
# Audience of the issuer JWT, time claims of the KB-JWT (review findings)


@pytest.mark.parametrize(
    ("aud", "accepted"),
    [
        (AUD, True),
        ([AUD, "https://other.example"], True),
        ("https://other.example", False),
        (["https://other.example"], False),
    ],
)
def test_an_issuer_jwt_audience_must_name_the_verifier(aud, accepted) -> None:
    token = sd_jwt.issue_sd_jwt({**CLAIMS, "aud": aud}, ISSUER_KEY, disclosable=PATHS, holder_jwk=HOLDER_JWK)
    presentation = present(token, [("age",)])
    if accepted:
        assert verify(presentation).claims["age"] == 42
    else:
        with pytest.raises(sd_jwt.IssuerAudienceMismatch):
            verify(presentation)


def test_an_issuer_jwt_audience_of_the_wrong_type_is_refused() -> None:
    token = sd_jwt.issue_sd_jwt({**CLAIMS, "aud": {"v": AUD}}, ISSUER_KEY, disclosable=PATHS, holder_jwk=HOLDER_JWK)
    with pytest.raises(sd_jwt.MalformedIssuerJWT):
        verify(present(token, [("age",)]))


@pytest.mark.parametrize("claims", [{"exp": NOW - 120}, {"nbf": NOW + 3600}, {"exp": "tomorrow"}])
def test_a_kb_jwt_must_be_valid_in_all_other_respects(claims) -> None:
    """§7.3: the KB-JWT's own exp and nbf are checked, not only its iat."""
    presented = sd_jwt.create_presentation(issued(), [("age",)])
    with pytest.raises(sd_jwt.KeyBindingTimeInvalid):
        verify(add_kb(presented, **claims))
    assert verify(add_kb(presented, exp=NOW + 120)).claims["age"] == 42
