"""SD-JWT VC draft -18: typ, never-disclosable claims, issuer key discovery."""

from __future__ import annotations

import pytest

from keys import jws
from keys.jwk import public_jwk, thumbprint
from vc import sd_jwt, sd_jwt_vc

from .conftest import AUD, HOLDER_JWK, HOLDER_KEY, ISSUER_KEY, NONCE, NOW, OTHER_KEY

ISS = "https://gov.seoul.example/issuers/resident"
KID = thumbprint(public_jwk(ISSUER_KEY))
METADATA = {ISS: {"issuer": ISS, "jwks": {"keys": [{**public_jwk(ISSUER_KEY), "kid": KID}]}}}
RESOLVER = sd_jwt_vc.StaticIssuerKeyResolver(METADATA)
CLAIMS = {
    "vct": "urn:seoul:resident:1",
    "iss": ISS,
    "iat": NOW - 10,
    "exp": NOW + 3600,
    "name": "Kim",
    "dong": "Jongno",
}


def issue(**kwargs) -> str:
    options = {"kid": KID, "disclosable": [("name",), ("dong",)], "holder_jwk": HOLDER_JWK}
    options.update(kwargs)
    claims = options.pop("claims", CLAIMS)
    return sd_jwt_vc.issue_sd_jwt_vc(claims, ISSUER_KEY, **options)


def present(token, paths=(("name",),)):
    return sd_jwt.create_presentation(token, paths, holder_key=HOLDER_KEY, aud=AUD, nonce=NONCE, iat=NOW)


def verify(presentation, **kwargs):
    options = {"expected_aud": AUD, "expected_nonce": NONCE, "now": NOW}
    options.update(kwargs)
    return sd_jwt_vc.verify_sd_jwt_vc(presentation, RESOLVER, **options)


def test_issue_and_verify():
    token = issue()
    parsed = sd_jwt.parse_sd_jwt(token)
    assert parsed.header["typ"] == "dc+sd-jwt" and parsed.header["kid"] == KID
    result = verify(present(token))
    assert result.claims["name"] == "Kim" and "dong" not in result.claims
    assert result.claims["vct"] == "urn:seoul:resident:1"


@pytest.mark.parametrize("name", sorted(sd_jwt_vc.NEVER_DISCLOSABLE))
def test_registered_claims_are_never_disclosable(name):
    claims = {**CLAIMS, "nbf": NOW - 10, "status": {"status_list": {"idx": 1, "uri": "https://s.example/1"}}}
    claims |= {"cnf": {"jwk": HOLDER_JWK}, "vct#integrity": "sha256-" + "A" * 43, "aka_vcts": ["urn:seoul:old:1"]}
    with pytest.raises(sd_jwt.IssuanceError):
        issue(claims=claims, disclosable=[(name,)], holder_jwk=None)


@pytest.mark.parametrize("missing", ["vct", "iss"])
def test_issuance_requires_vct_and_iss(missing):
    claims = {k: v for k, v in CLAIMS.items() if k != missing}
    with pytest.raises(sd_jwt.IssuanceError):
        issue(claims=claims)


def test_wrong_typ_rejected():
    token = sd_jwt.issue_sd_jwt(CLAIMS, ISSUER_KEY, typ="example+sd-jwt", kid=KID, holder_jwk=HOLDER_JWK)
    with pytest.raises(sd_jwt.IssuerJWTWrongType):
        verify(present(token, []))


def test_legacy_typ_only_when_allowed():
    token = sd_jwt.issue_sd_jwt(CLAIMS, ISSUER_KEY, typ="vc+sd-jwt", kid=KID, holder_jwk=HOLDER_JWK)
    with pytest.raises(sd_jwt.IssuerJWTWrongType):
        verify(present(token, []))
    assert verify(present(token, []), accept_legacy_typ=True).claims["vct"] == CLAIMS["vct"]


def test_missing_vct_rejected():
    token = sd_jwt.issue_sd_jwt({"iss": ISS}, ISSUER_KEY, typ="dc+sd-jwt", kid=KID, holder_jwk=HOLDER_JWK)
    with pytest.raises(sd_jwt_vc.MissingRequiredClaim):
        verify(present(token, []))


def test_missing_iss_rejected():
    token = sd_jwt.issue_sd_jwt({"vct": "x"}, ISSUER_KEY, typ="dc+sd-jwt", kid=KID, holder_jwk=HOLDER_JWK)
    with pytest.raises(sd_jwt_vc.MissingRequiredClaim):
        verify(present(token, []))


def test_selectively_disclosed_vct_rejected():
    claims = {k: v for k, v in CLAIMS.items()}
    token = sd_jwt.issue_sd_jwt(
        claims, ISSUER_KEY, typ="dc+sd-jwt", kid=KID, holder_jwk=HOLDER_JWK, disclosable=[("vct",)]
    )
    with pytest.raises(sd_jwt_vc.DisclosedRegisteredClaim):
        verify(present(token, [("vct",)]))


def test_untrusted_issuer_rejected():
    token = issue(claims={**CLAIMS, "iss": "https://evil.example"})
    with pytest.raises(sd_jwt.UnknownIssuerKey):
        verify(present(token))


def test_unknown_kid_rejected():
    with pytest.raises(sd_jwt.UnknownIssuerKey):
        verify(present(issue(kid="not-a-kid")))


def test_key_of_another_issuer_rejected():
    token = sd_jwt_vc.issue_sd_jwt_vc(CLAIMS, OTHER_KEY, kid=KID, holder_jwk=HOLDER_JWK)
    with pytest.raises(sd_jwt.IssuerSignatureInvalid):
        verify(present(token, []))


def test_key_binding_required_by_default():
    with pytest.raises(sd_jwt.KeyBindingMissing):
        verify(sd_jwt.create_presentation(issue(), [("name",)]))


@pytest.mark.parametrize(
    ("iss", "url"),
    [
        ("https://example.com", "https://example.com/.well-known/jwt-vc-issuer"),
        ("https://example.com/", "https://example.com/.well-known/jwt-vc-issuer"),
        ("https://example.com/tenant/1234", "https://example.com/.well-known/jwt-vc-issuer/tenant/1234"),
        ("https://example.com/tenant/1234/", "https://example.com/.well-known/jwt-vc-issuer/tenant/1234"),
        ("https://example.com:8443/a", "https://example.com:8443/.well-known/jwt-vc-issuer/a"),
    ],
)
def test_metadata_url(iss, url):
    assert sd_jwt_vc.jwt_vc_issuer_metadata_url(iss) == url


@pytest.mark.parametrize("iss", ["http://example.com", "example.com", "https://example.com/?q=1", "https://"])
def test_metadata_url_rejects_bad_identifiers(iss):
    with pytest.raises(sd_jwt_vc.IssuerMetadataError):
        sd_jwt_vc.jwt_vc_issuer_metadata_url(iss)


def test_metadata_url_http_only_when_allowed():
    assert sd_jwt_vc.jwt_vc_issuer_metadata_url("http://localhost:8000/x", allow_http=True) == (
        "http://localhost:8000/.well-known/jwt-vc-issuer/x"
    )


def test_metadata_keys_inline_and_by_reference():
    inline = sd_jwt_vc.keys_from_jwt_vc_issuer_metadata(METADATA[ISS], ISS)
    assert inline.jwks == METADATA[ISS]["jwks"] and inline.jwks_uri is None
    ref = sd_jwt_vc.keys_from_jwt_vc_issuer_metadata({"issuer": ISS, "jwks_uri": "https://k.example/jwks"}, ISS)
    assert ref.jwks_uri == "https://k.example/jwks" and ref.jwks is None


@pytest.mark.parametrize(
    "metadata",
    [
        {"issuer": ISS + "/", "jwks": {"keys": []}},  # trailing slash is a different identifier
        {"issuer": ISS},
        {"issuer": ISS, "jwks": {"keys": []}, "jwks_uri": "https://k.example/jwks"},
        {"issuer": ISS, "jwks": []},
        {"issuer": ISS, "jwks_uri": "http://k.example/jwks"},
        [],
    ],
)
def test_bad_metadata_rejected(metadata):
    with pytest.raises(sd_jwt_vc.IssuerMetadataError):
        sd_jwt_vc.keys_from_jwt_vc_issuer_metadata(metadata, ISS)


def test_static_resolver_returns_the_trusted_key():
    key = RESOLVER.resolve(ISS, KID)
    assert public_jwk(key) == public_jwk(ISSUER_KEY)
    with pytest.raises(jws.UnknownKey):
        RESOLVER.resolve(ISS + "/", KID)


def test_a_disclosable_iat_from_another_issuer_is_accepted():
    # Draft -18 does not forbid disclosing iat; only vct, iss, nbf, exp, cnf and status.
    token = sd_jwt.issue_sd_jwt(
        CLAIMS, ISSUER_KEY, typ="dc+sd-jwt", kid=KID, holder_jwk=HOLDER_JWK, disclosable=[("iat",), ("name",)]
    )
    result = verify(present(token, [("iat",)]))
    assert result.claims["iat"] == CLAIMS["iat"]


def test_our_issuance_keeps_iat_in_the_clear():
    with pytest.raises(sd_jwt.IssuanceError):
        issue(disclosable=[("iat",)])


def test_static_resolver_never_guesses_among_keys_without_kid():
    other = {**public_jwk(OTHER_KEY)}
    resolver = sd_jwt_vc.StaticIssuerKeyResolver(
        {ISS: {"issuer": ISS, "jwks": {"keys": [public_jwk(ISSUER_KEY), other]}}}
    )
    with pytest.raises(jws.UnknownKey):
        resolver.resolve(ISS, None)
    single = sd_jwt_vc.StaticIssuerKeyResolver({ISS: {"issuer": ISS, "jwks": {"keys": [public_jwk(ISSUER_KEY)]}}})
    assert single.resolve(ISS, None) is not None


@pytest.mark.parametrize(
    ("name", "value"), [("vct#integrity", "sha256-" + "A" * 43), ("aka_vcts", ["urn:seoul:old:1"])]
)
def test_a_disclosed_type_companion_claim_is_refused(name, value):
    """SD-JWT VC -18 §3.2.2.2: `vct#integrity` and `aka_vcts` are never selectively disclosable, so a
    verifier refuses a credential that hides them in disclosures (another issuer's software may)."""
    token = sd_jwt.issue_sd_jwt(
        {**CLAIMS, name: value}, ISSUER_KEY, typ="dc+sd-jwt", kid=KID, holder_jwk=HOLDER_JWK, disclosable=[(name,)]
    )
    with pytest.raises(sd_jwt_vc.DisclosedRegisteredClaim):
        verify(present(token, [(name,)]))
