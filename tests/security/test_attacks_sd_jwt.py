"""SD-JWT (RFC 9901) and KB-JWT attacks on the OpenID4VP response endpoint.

The attacker is a holder (or whoever copied a presentation) who edits what the issuer signed around:
disclosures sent twice, made up, altered, nested or smuggled into arrays, reserved or registered claim
names disclosed, and key bindings that are missing, replayed elsewhere, or wrong in one claim. Where
the attack needs an issuer JWT of a certain shape, MOIS's own key signs it (the question is whether the
verifier's processing holds, not whether it spots a stranger's signature); the key binding is made by
the honest holder's key unless the attack is another key. Each case is refused with its own reason,
nothing is decided, and an honest answer to a fresh check is accepted right after.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest

from keys.jwk import public_jwk
from tests.security.attack_support import (
    QUERY_ID,
    SERVICE,
    World,
    attacker_key,
    digest_of,
    disclosure,
    issue_honest_credential,
    open_world,
    presentation_refused,
    refused,
    still_serving,
    unsigned,
    with_kb,
)
from tests.verifiers.spec_vp_wallet import b64url_decode, fetch_request, respond

SALT = "c2FsdHNhbHRzYWx0c2FsdA"


@pytest.fixture(scope="module")
def world(tmp_path_factory, database_url, migrated_engine) -> Iterator[World]:
    for opened in open_world(tmp_path_factory, database_url, migrated_engine):
        opened.held = issue_honest_credential(opened)
        yield opened


def _refused(world: World, make, *reasons: str) -> None:
    """`make(request)` builds the hostile presentation for a fresh check."""
    request_id, request = world.check()
    presentation_refused(world, request_id, world.post(request, make(request)), *reasons)
    still_serving(world)


def _with_digests(world: World, *digests: str, **changes: Any) -> str:
    """The issuer JWT re-signed by MOIS with `digests` added to its top-level `_sd`."""
    return world.resign(_sd=[*world.held.payload["_sd"], *digests], **changes)


# -- disclosures ----------------------------------------------------------------------------------------


def test_the_same_disclosure_sent_twice(world) -> None:
    twice = world.disclosures("birth_date", "birth_date", "sub")
    _refused(world, lambda r: world.bind(r, world.held.issuer_jwt, twice), "duplicate_disclosure")


def test_a_disclosure_the_issuer_never_referenced(world) -> None:
    made_up = disclosure(SALT, "is_household_head", True)
    chosen = [*world.disclosures("birth_date", "sub"), made_up]
    _refused(world, lambda r: world.bind(r, world.held.issuer_jwt, chosen), "unreferenced_disclosure")


def test_an_altered_disclosure_keeps_its_salt_and_name(world) -> None:
    encoded, _ = world.held.disclosures["birth_date"]
    salt, name, _value = json.loads(b64url_decode(encoded))
    forged = disclosure(salt, name, "2006-01-01")  # eligible-looking, but not what MOIS hashed
    chosen = [forged, *world.disclosures("sub")]
    _refused(world, lambda r: world.bind(r, world.held.issuer_jwt, chosen), "unreferenced_disclosure")


def test_a_nested_disclosure_whose_parent_is_withheld(world) -> None:
    child = disclosure(SALT, "street", "세종대로 110")
    parent = disclosure(SALT + "A", "address", {"_sd": [digest_of(child)]})
    issuer_jwt = _with_digests(world, digest_of(parent))
    chosen = [*world.disclosures("birth_date", "sub"), child]
    _refused(world, lambda r: world.bind(r, issuer_jwt, chosen), "unreferenced_disclosure")


def test_a_nested_disclosure_that_references_a_top_level_digest_again(world) -> None:
    sub_encoded, _ = world.held.disclosures["sub"]
    parent = disclosure(SALT, "household", {"_sd": [digest_of(sub_encoded)]})
    issuer_jwt = _with_digests(world, digest_of(parent))
    chosen = [*world.disclosures("birth_date", "sub"), parent]
    _refused(world, lambda r: world.bind(r, issuer_jwt, chosen), "duplicate_digest")


def test_disclosures_nested_deeper_than_the_limit(world) -> None:
    chain = [disclosure(SALT, "leaf", 1)]
    for depth in range(40):
        chain.append(disclosure(f"{SALT}{depth}", f"level{depth}", {"_sd": [digest_of(chain[-1])]}))
    issuer_jwt = _with_digests(world, digest_of(chain[-1]))
    chosen = [*world.disclosures("birth_date", "sub"), *chain]
    _refused(world, lambda r: world.bind(r, issuer_jwt, chosen), "limit_exceeded")


def test_an_array_element_digest_that_names_an_object_property_disclosure(world) -> None:
    named = disclosure(SALT, "nationality", "KR")
    issuer_jwt = world.resign(aliases=[{"...": digest_of(named)}])
    chosen = [*world.disclosures("birth_date", "sub"), named]
    _refused(world, lambda r: world.bind(r, issuer_jwt, chosen), "disclosure_type_mismatch")


def test_an_sd_digest_that_names_an_array_element_disclosure(world) -> None:
    element = disclosure(SALT, "KR")
    issuer_jwt = _with_digests(world, digest_of(element))
    chosen = [*world.disclosures("birth_date", "sub"), element]
    _refused(world, lambda r: world.bind(r, issuer_jwt, chosen), "disclosure_type_mismatch")


def test_the_same_array_element_digest_twice(world) -> None:
    element = disclosure(SALT, "KR")
    issuer_jwt = world.resign(aliases=[{"...": digest_of(element)}, {"...": digest_of(element)}])
    chosen = [*world.disclosures("birth_date", "sub"), element]
    _refused(world, lambda r: world.bind(r, issuer_jwt, chosen), "duplicate_digest")


@pytest.mark.parametrize(
    "sd",
    [[1], "not-an-array", {"a": "b"}],
    ids=["number", "string", "object_instead_of_array"],
)
def test_sd_holding_something_other_than_digest_strings(world, sd) -> None:
    issuer_jwt = world.resign(_sd=sd if not isinstance(sd, list) else [*world.held.payload["_sd"], *sd])
    _refused(world, lambda r: world.bind(r, issuer_jwt), "malformed_digests")


def test_an_array_element_digest_that_is_not_a_string(world) -> None:
    issuer_jwt = world.resign(aliases=[{"...": 12345}])
    _refused(world, lambda r: world.bind(r, issuer_jwt), "malformed_digests")


@pytest.mark.parametrize("name", ["_sd", "..."], ids=["sd", "ellipsis"])
def test_a_disclosure_of_a_reserved_claim_name(world, name) -> None:
    reserved = disclosure(SALT, name, ["AAAA"])
    issuer_jwt = _with_digests(world, digest_of(reserved))
    chosen = [*world.disclosures("birth_date", "sub"), reserved]
    _refused(world, lambda r: world.bind(r, issuer_jwt, chosen), "reserved_claim_name")


def test_a_disclosure_that_collides_with_a_plain_claim(world) -> None:
    # `vct` is in the clear; a disclosure of `vct` would let a holder swap the credential type.
    swapped = disclosure(SALT, "vct", "urn:seoul-wallet:vct:household-income:1")
    issuer_jwt = _with_digests(world, digest_of(swapped))
    chosen = [*world.disclosures("birth_date", "sub"), swapped]
    _refused(world, lambda r: world.bind(r, issuer_jwt, chosen), "claim_name_collision")


@pytest.mark.parametrize("name", ["status", "vct#integrity", "cnf"])
def test_a_registered_claim_made_selectively_disclosable(world, name) -> None:
    value = world.held.payload.get(name, "sha256-AAAA")
    registered = disclosure(SALT, name, value)
    issuer_jwt = _with_digests(world, digest_of(registered), **{name: None})
    chosen = [*world.disclosures("birth_date", "sub"), registered]
    # Without `cnf` in the clear the holder key cannot be found either: either refusal is right.
    _refused(world, lambda r: world.bind(r, issuer_jwt, chosen), "disclosed_registered_claim", "kb_without_cnf")


@pytest.mark.parametrize(
    "encoded",
    [
        disclosure(SALT, "a", 1, "extra"),
        disclosure(123, "birth_date", "2001-01-01"),
        "bm90IGpzb24",  # "not json"
        "eyJ",  # truncated base64url
    ],
    ids=["four_elements", "salt_not_a_string", "not_json", "not_base64url_json"],
)
def test_a_malformed_disclosure(world, encoded) -> None:
    chosen = [*world.disclosures("birth_date", "sub"), encoded]
    _refused(world, lambda r: world.bind(r, world.held.issuer_jwt, chosen), "malformed_disclosure")


@pytest.mark.parametrize("sd_alg", ["sha-1", 256], ids=["sha1", "number"])
def test_an_unsupported_sd_alg(world, sd_alg) -> None:
    issuer_jwt = world.resign(_sd_alg=sd_alg)
    _refused(world, lambda r: world.bind(r, issuer_jwt), "unsupported_sd_alg")


def test_sd_alg_below_the_top_level(world) -> None:
    issuer_jwt = world.resign(address={"_sd_alg": "sha-256", "_sd": []})
    _refused(world, lambda r: world.bind(r, issuer_jwt), "sd_alg_not_top_level")


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"iss": ["http://127.0.0.1:8000/issuers/mois"]}, "missing_required_claim"),
        ({"vct": {"id": "urn:seoul-wallet:vct:resident-registration:1"}}, "missing_required_claim"),
        ({"cnf": []}, "invalid_cnf"),
        ({"status": "valid"}, "malformed_status_list"),
        ({"exp": "2099-01-01"}, "malformed_time_claim"),
        ({"iat": "yesterday"}, "malformed_time_claim"),
        ({"nbf": [0]}, "malformed_time_claim"),
    ],
    ids=["iss_array", "vct_object", "cnf_array", "status_string", "exp_string", "iat_string", "nbf_array"],
)
def test_a_registered_claim_of_the_wrong_json_type(world, changes, reason) -> None:
    # Signed by MOIS: issue 14 defect 1's class, "claims of the wrong JSON type are refusals, everywhere".
    issuer_jwt = world.resign(**changes)
    _refused(world, lambda r: world.bind(r, issuer_jwt), reason)


@pytest.mark.xfail(
    strict=True,
    reason="defect (verifiers: disclosed claim values are not checked against the credential type): a "
    "birth_date that is an array, signed by the issuer, is decided 'not eligible' with a signed decision "
    "instead of being refused as a malformed credential",
)
def test_a_disclosed_claim_of_the_wrong_json_type(world) -> None:
    wrong = disclosure(SALT, "birth_date", ["1999-05-01"])
    issuer_jwt = _with_digests(world, digest_of(wrong))
    chosen = [wrong, *world.disclosures("sub")]
    _refused(world, lambda r: world.bind(r, issuer_jwt, chosen))


def test_an_issuer_jwt_meant_for_another_audience(world) -> None:
    # RFC 9901 §7.1 step 6 (issue 14 defect 3): an `aud` the issuer put there must name this verifier.
    issuer_jwt = world.resign(aud="x509_san_dns:attacker.example")
    _refused(world, lambda r: world.bind(r, issuer_jwt), "issuer_jwt_wrong_aud")


def test_more_disclosed_than_the_query_asked_for(world) -> None:
    # Issue 14 defect 7: the holder's own, genuine disclosures, but one the query never asked for.
    chosen = world.disclosures("birth_date", "sub", "nationality_status")
    _refused(world, lambda r: world.bind(r, world.held.issuer_jwt, chosen), "over_disclosure")


# -- key binding ----------------------------------------------------------------------------------------


def _presented(world: World, issuer_jwt: str | None = None, names: tuple[str, ...] = ("birth_date", "sub")) -> str:
    return (issuer_jwt or world.held.issuer_jwt) + "~" + "".join(d + "~" for d in world.disclosures(*names))


def _kb_claims(request, **changes: Any) -> dict[str, Any]:
    claims = {"aud": request.client_id, "nonce": request.claims["nonce"], "iat": int(time.time()), **changes}
    return {k: v for k, v in claims.items() if v is not None}


def test_no_key_binding(world) -> None:
    _refused(world, lambda r: _presented(world), "kb_missing")


@pytest.fixture(scope="module")
def other_verifier(world) -> dict[str, str]:
    """A second verifier under another DNS name, operating the same service."""
    admin = world.bearer("platform:admin", "verifiers:admin")
    body = {
        "slug": "busan-transport",
        "name": {"ko": "부산 교통과", "en": "Busan Transport"},
        "services": [SERVICE],
        "dns_name": "busan.example",
    }
    assert world.client.post("/admin/verifiers", json=body, headers=admin).status_code == 201
    return world.bearer("verifier:busan-transport", "presentations:request")


def test_a_presentation_replayed_to_another_verifier(world, other_verifier) -> None:
    # Seoul's check got an honest presentation; whoever saw it posts it to Busan's open check.
    _, seoul = world.check()
    presentation = world.honest(seoul)
    assert world.post(seoul, presentation).status_code == 200
    created = world.client.post("/verifiers/requests", json={"service_id": SERVICE}, headers=other_verifier).json()
    busan = fetch_request(created["link"], world.client, world.client.get("/verifiers/rp-ca.pem").content)
    response = respond(busan, {QUERY_ID: [presentation]}, world.client)
    refused(response, "kb_wrong_aud")
    result = world.client.get(f"/verifiers/requests/{created['request_id']}", headers=other_verifier).json()
    assert result["status"] == "pending" and "decision" not in result
    still_serving(world)


def test_a_presentation_replayed_to_another_check_of_the_same_verifier(world) -> None:
    _, first = world.check()
    presentation = world.honest(first)
    assert world.post(first, presentation).status_code == 200
    _refused(world, lambda r: presentation, "kb_wrong_nonce")


@pytest.mark.parametrize(
    "changes",
    [
        {"aud": "127.0.0.1"},
        {"aud": "x509_san_dns:attacker.example"},
        {"aud": ["x509_san_dns:127.0.0.1"]},
        {"aud": None},
    ],
    ids=["without_prefix", "another_client", "array", "missing"],
)
def test_key_binding_for_the_wrong_audience(world, changes) -> None:
    def make(request):
        return with_kb(_presented(world), world.held.holder, **_kb_claims(request, **changes))

    _refused(world, make, "kb_wrong_aud")


@pytest.mark.parametrize("nonce", ["not-the-nonce", None], ids=["other", "missing"])
def test_key_binding_with_the_wrong_nonce(world, nonce) -> None:
    def make(request):
        claims = _kb_claims(request)
        claims.pop("nonce")
        if nonce is not None:
            claims["nonce"] = nonce
        return with_kb(_presented(world), world.held.holder, **claims)

    _refused(world, make, "kb_wrong_nonce")


def test_key_binding_over_other_disclosures(world) -> None:
    def make(request):
        # The KB-JWT signs a presentation with birth_date only; sub is added after signing.
        signed_for = with_kb(_presented(world, names=("birth_date",)), world.held.holder, **_kb_claims(request))
        return _presented(world) + signed_for.rsplit("~", 1)[1]

    _refused(world, make, "kb_sd_hash_mismatch")


def test_key_binding_without_sd_hash(world) -> None:
    def make(request):
        kb = jwt.encode(_kb_claims(request), world.held.holder, algorithm="ES256", headers={"typ": "kb+jwt"})
        return _presented(world) + kb

    _refused(world, make, "kb_sd_hash_mismatch")


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"exp": int(time.time()) - 600}, "kb_time_invalid"),
        ({"nbf": int(time.time()) + 3600}, "kb_time_invalid"),
        ({"iat": int(time.time()) + 3600}, "kb_iat_invalid"),
        ({"iat": int(time.time()) - 86400}, "kb_iat_invalid"),
        ({"iat": "now"}, "kb_iat_invalid"),
    ],
    ids=["expired", "not_yet_valid", "issued_in_the_future", "issued_yesterday", "iat_not_a_number"],
)
def test_key_binding_outside_its_time(world, changes, reason) -> None:
    _refused(world, lambda r: with_kb(_presented(world), world.held.holder, **_kb_claims(r, **changes)), reason)


def test_key_binding_signed_by_another_key(world) -> None:
    _refused(world, lambda r: with_kb(_presented(world), attacker_key(), **_kb_claims(r)), "kb_signature_invalid")


def test_key_binding_with_alg_none(world) -> None:
    def make(request):
        presented = _presented(world)
        return presented + unsigned({"typ": "kb+jwt"}, {**_kb_claims(request), "sd_hash": digest_of(presented)})

    _refused(world, make, "kb_malformed")


@pytest.mark.parametrize("typ", ["JWT", "dc+sd-jwt", ["kb+jwt"]], ids=["jwt", "sd_jwt", "array"])
def test_key_binding_of_the_wrong_type(world, typ) -> None:
    _refused(
        world,
        lambda r: with_kb(_presented(world), world.held.holder, headers={"typ": typ}, **_kb_claims(r)),
        "kb_wrong_typ",
    )


def test_key_binding_embedding_the_attackers_key(world) -> None:
    # A thief with the SD-JWT but not the holder key signs with its own and says so in `jwk`.
    thief = attacker_key()
    _refused(
        world,
        lambda r: with_kb(_presented(world), thief, headers={"jwk": public_jwk(thief)}, **_kb_claims(r)),
        "kb_malformed",
        "kb_signature_invalid",
    )
