"""Presenting credentials (OpenID4VP 1.0), over real HTTP through the ASGI apps, with real
signatures and the real database: to the platform's own `seoul-youth` verifier, and to a verifier
written from the specs alone (tests/wallet/spec_verifier.py) under a host of its own. Every refusal
names its reason, tells the citizen in Korean and English, sends nothing and grants no consent."""

from __future__ import annotations

import base64
import hashlib
import json
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import httpx
import jwt
import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric import ec

from keys import jws
from keys.datakeys import DataKeyStore
from seoul_wallet.app import consent_ledger
from tests.conftest import bearer_for
from tests.verifiers.conftest import birth_date_for_age, youth_claims
from tests.wallet.hosts import Hosts
from tests.wallet.present_support import Holdings, posted_presentations
from tests.wallet.spec_verifier import SpecCA, SpecVerifier, x509_hash
from wallet.consent_view import NOTHING_SENT_NOTE, UNVERIFIED_NOTE
from wallet.present import PlatformVerifiers, PresentationService, SharingRefused
from wallet.receive import CredentialReceiver
from wallet.vault import Vault

CITIZEN = "citizen-minji-0001"
RESIDENT_VCT = "urn:seoul-wallet:vct:resident-registration:1"
RESIDENT = youth_claims()["resident_registration"]
# What the spec verifier asks for: where she lives, and who she is.
RESIDENCE_QUERY = {
    "credentials": [
        {
            "id": "residence",
            "format": "dc+sd-jwt",
            "meta": {"vct_values": [RESIDENT_VCT]},
            "claims": [{"path": ["sub"]}, {"path": ["resident_sido"]}],
        }
    ]
}


@pytest.fixture
def vault(platform) -> Vault:
    vault = Vault(platform.engine, DataKeyStore(platform.engine, platform.master_key))
    vault.ensure_account(CITIZEN)
    return vault


@pytest.fixture
def spec_verifier() -> SpecVerifier:
    return SpecVerifier()


@pytest.fixture
def hosts(app, platform, spec_verifier) -> Hosts:
    """`verifier.example` is the spec verifier; every other host is the project's app under test."""
    return Hosts({spec_verifier.host: spec_verifier.app}, fallback=platform.http._transport)


@pytest.fixture
def holdings(client, platform, vault, hosts) -> Holdings:
    return Holdings(client, platform, CredentialReceiver(vault, httpx.Client(transport=hosts), development=True))


def presentation_service(vault, platform, hosts, anchors, *, development: bool = True) -> PresentationService:
    """The wallet's service as the app wires it: the platform's RP CA fetched from the platform,
    plus the configured trust anchors."""
    return PresentationService(
        vault,
        consent_ledger(platform),
        httpx.Client(transport=hosts),
        trust_anchors=anchors,
        platform=PlatformVerifiers(platform.settings.public_url),
        development=development,
    )


@pytest.fixture
def wallet(vault, platform, hosts, spec_verifier) -> PresentationService:
    return presentation_service(vault, platform, hosts, [spec_verifier.ca.pem])


@pytest.fixture
def youth_backend(client, platform) -> dict[str, str]:
    return bearer_for(client, platform, "verifier:seoul-youth", ["presentations:request"])


def consents(platform) -> list:
    return consent_ledger(platform).list_for_citizen(f"citizen:{CITIZEN}")


def open_check(client, youth_backend, **body) -> dict:
    created = client.post(
        "/verifiers/requests", json={"service_id": "seoul_youth_allowance", **body}, headers=youth_backend
    )
    assert created.status_code == 201, created.text
    return created.json()


def result_of(client, youth_backend, request_id: str) -> dict:
    return client.get(f"/verifiers/requests/{request_id}", headers=youth_backend).json()


# -- the platform's own verifier -----------------------------------------------------------------


def test_youth_allowance_presented_to_seoul_youth_is_eligible_for_this_applicant(
    client, platform, wallet, holdings, hosts, youth_backend
) -> None:
    holdings.issue(CITIZEN, youth_claims())
    check = open_check(client, youth_backend)
    sharing = wallet.open_request(CITIZEN, check["link"])

    view = sharing.view
    assert view.verifier.verified and view.verifier.platform_verifier
    assert view.verifier.client_id == check["client_id"] and view.verifier.client_id.startswith("x509_san_dns:")
    assert view.verifier.name["ko"] == "서울시 청년사업담당관" and view.verifier.verified_by == "Seoul Wallet RP CA"
    assert view.service is not None and view.service.name["ko"] == "서울 청년수당"
    assert view.purpose == {"ko": "서울 청년수당 자격 확인", "en": "Eligibility check for Seoul Youth Allowance"}
    assert view.legal_basis == "consent" and view.consent_validity.days == 1 and view.one_time
    # The service learns a yes/no, so it keeps no value.
    assert view.disclosure == "predicate_only" and view.retention_days == 0
    assert view.can_share and not view.missing
    by_query = {c.query_id: c for c in view.credentials}
    assert set(by_query) == {
        "resident_registration",
        "education_status",
        "employment_insurance",
        "household_income_own",
        "welfare_status",
        "program_participation",
    }
    resident = by_query["resident_registration"].candidates[0]
    claims = {c.path: c for c in resident.claims}
    assert set(claims) == {("sub",), ("birth_date",), ("resident_sido",)}  # not nationality, not sigungu
    assert claims[("sub",)].binding and claims[("sub",)].value == CITIZEN
    assert claims[("birth_date",)].value == RESIDENT["birth_date"] and not claims[("birth_date",)].binding
    assert all(c.value_reaches_service is False for c in resident.claims)  # the service learns a yes/no
    # Names from the issuer's display metadata, stored with the credential.
    assert resident.credential_name == {"ko": "주민등록 정보", "en": "Resident registration"}
    assert resident.issuer_name["ko"] == "행정안전부" and claims[("birth_date",)].name.get("en")

    # The notice is the hash of the request as shown: the same the verifier computes over its object.
    request_object = jws.read_unverified(client.get(check["request_uri"]).text)[1]
    assert view.notice_sha256 == hashlib.sha256(rfc8785.dumps(request_object)).hexdigest()

    outcome = wallet.approve(CITIZEN, sharing)
    assert outcome.accepted and outcome.status_code == 200 and outcome.error is None
    assert outcome.linked_to_request

    result = result_of(client, youth_backend, check["request_id"])
    assert result["status"] == "answered" and result["eligible"] is True
    assert result["subject"] == platform.subjects.for_verifier("seoul-youth", CITIZEN)
    # The verifier found the consent the wallet recorded and linked before posting.
    assert result["consent_record_id"] == outcome.consent_record_id
    [record] = consents(platform)
    assert record.id == outcome.consent_record_id and record.verifier_id == "verifier:seoul-youth"
    assert [e.type for e in record.history] == ["requested", "granted", "used"] and record.state == "used_up"
    assert ["resident_registration", "sub"] in record.record["data_items"]
    assert record.record["notice"]["sha256"] == view.notice_sha256 and record.record["disclosure"] == "predicate_only"

    # What was posted: only the claims asked for, each bound to this request.
    [vp_token] = posted_presentations(hosts.requests, "/verifiers/seoul-youth/response")
    [presentation] = vp_token["resident_registration"]
    assert set(presentation.disclosed) == {"sub", "birth_date", "resident_sido"}
    assert presentation.kb_payload["aud"] == check["client_id"] and presentation.kb_signature_valid
    assert presentation.sd_hash_valid


def test_one_year_too_old_is_not_eligible_and_the_failing_condition_is_named(
    client, wallet, holdings, youth_backend
) -> None:
    holdings.issue(CITIZEN, youth_claims(resident_registration={"birth_date": birth_date_for_age(35)}))
    check = open_check(client, youth_backend)
    outcome = wallet.approve(CITIZEN, wallet.open_request(CITIZEN, check["link"]))
    assert outcome.accepted
    result = result_of(client, youth_backend, check["request_id"])
    assert result["eligible"] is False
    decision = jws.read_unverified(result["decision"])[1]
    failing = [(c["credential"], c["claim"]) for c in decision["conditions"] if c["outcome"] == "not_held"]
    assert failing == [("resident_registration", "birth_date")]


def test_a_check_opened_for_this_applicant_accepts_her(client, platform, wallet, holdings, youth_backend) -> None:
    holdings.issue(CITIZEN, youth_claims())
    subject = platform.subjects.for_verifier("seoul-youth", CITIZEN)
    check = open_check(client, youth_backend, applicant=subject)
    sharing = wallet.open_request(CITIZEN, check["link"])
    assert wallet.approve(CITIZEN, sharing).accepted
    result = result_of(client, youth_backend, check["request_id"])
    assert result["eligible"] is True and result["subject"] == subject
    assert jws.read_unverified(result["decision"])[1]["applicant_bound"] is True
    # Approving the same request again (a second tab, a double click) sends nothing more.
    with pytest.raises(SharingRefused) as again:
        wallet.approve(CITIZEN, sharing)
    assert again.value.reason == "already_answered" and len(consents(platform)) == 1


def test_when_the_verifier_refuses_the_outcome_says_why(client, platform, wallet, holdings, youth_backend) -> None:
    # A check the service opened for another applicant: her answer is refused, and the check stays open.
    holdings.issue(CITIZEN, youth_claims())
    check = open_check(
        client, youth_backend, applicant=platform.subjects.for_verifier("seoul-youth", "someone-else-01")
    )
    outcome = wallet.approve(CITIZEN, wallet.open_request(CITIZEN, check["link"]))
    assert not outcome.accepted and outcome.status_code == 400 and outcome.redirect_uri is None
    assert outcome.error == "invalid_request" and outcome.error_description.startswith("wrong_applicant")
    assert result_of(client, youth_backend, check["request_id"])["status"] == "pending"


def test_a_strangers_refused_answer_never_locks_the_applicant_out(
    client, platform, wallet, holdings, youth_backend
) -> None:
    """The stranger's wallet linked his consent to the check before posting, and the verifier refused
    him (wrong applicant). The applicant then answers with this wallet, and her decision carries her
    own consent, not his."""
    applicant = "citizen-applicant-07"
    holdings.issue(CITIZEN, youth_claims())
    wallet.vault.ensure_account(applicant)
    holdings.issue(applicant, youth_claims())
    check = open_check(client, youth_backend, applicant=platform.subjects.for_verifier("seoul-youth", applicant))
    refused = wallet.approve(CITIZEN, wallet.open_request(CITIZEN, check["link"]))
    assert refused.error_description.startswith("wrong_applicant")
    answered = wallet.approve(applicant, wallet.open_request(applicant, check["link"]))
    assert answered.accepted, answered
    result = result_of(client, youth_backend, check["request_id"])
    assert result["eligible"] is True and result["consent_record_id"] == answered.consent_record_id
    assert answered.consent_record_id != refused.consent_record_id


# -- a verifier written from the specs -----------------------------------------------------------


@pytest.mark.parametrize("prefix", ["x509_san_dns", "x509_hash", "redirect_uri"])
def test_presenting_to_a_spec_verifier(prefix, platform, wallet, holdings, spec_verifier) -> None:
    holdings.issue(CITIZEN, {"resident_registration": RESIDENT})
    sharing = wallet.open_request(CITIZEN, spec_verifier.request(RESIDENCE_QUERY, prefix))

    view = sharing.view
    client_id = spec_verifier.client_id(prefix)
    assert view.verifier.client_id == client_id and view.verifier.client_id_prefix == prefix
    assert not view.verifier.platform_verifier and view.verifier.response_host == "verifier.example"
    if prefix == "redirect_uri":  # development only: nobody vouches for it
        assert not view.verifier.verified and UNVERIFIED_NOTE in view.notes
    else:
        assert view.verifier.verified and view.verifier.verified_by == "Spec RP Access CA"
    assert view.verifier.name["en"] == "Spec Verifier Co."
    # Nothing is inferred about a verifier outside the platform: it gets the values, and its
    # purpose and retention are shown as not stated.
    assert view.purpose is None and view.retention_days is None and view.disclosure == "values"
    [candidate] = view.credentials[0].candidates
    assert [(c.path, c.value) for c in candidate.claims] == [(("sub",), CITIZEN), (("resident_sido",), "11")]

    outcome = wallet.approve(CITIZEN, sharing)
    assert outcome.accepted and not outcome.linked_to_request
    assert outcome.redirect_uri is not None and outcome.redirect_uri.startswith(spec_verifier.done_uri + "#")

    [received] = spec_verifier.received
    state = received.form["state"]
    [presentation] = received.presentations["residence"]
    assert presentation.disclosed == {"sub": CITIZEN, "resident_sido": "11"}  # no birth date, nothing else
    assert presentation.disclosures_referenced and presentation.sd_hash_valid and presentation.kb_signature_valid
    assert presentation.kb_header["typ"] == "kb+jwt"
    assert presentation.kb_payload["aud"] == client_id
    assert presentation.kb_payload["nonce"] == spec_verifier.states[state]["nonce"]
    [record] = consents(platform)
    assert record.id == outcome.consent_record_id and record.state == "granted"
    assert record.verifier_id.startswith("verifier:ext-verifier-example-")
    assert record.record["data_items"] == [["resident_registration", "sub"], ["resident_registration", "resident_sido"]]
    assert record.record["disclosure"] == "values"


def test_the_wallet_endpoint_parameters_work_like_the_link(wallet, holdings, spec_verifier) -> None:
    holdings.issue(CITIZEN, {"resident_registration": RESIDENT})
    link = spec_verifier.request(RESIDENCE_QUERY, "x509_hash")
    sharing = wallet.open_request(CITIZEN, dict(parse_qsl(urlsplit(link).query)))  # client_id, request_uri
    assert sharing.view.verifier.verified and wallet.approve(CITIZEN, sharing).accepted
    assert len(spec_verifier.received) == 1


def test_the_citizen_chooses_among_credentials_that_fit(wallet, holdings, spec_verifier) -> None:
    first, second = holdings.issue(CITIZEN, {"resident_registration": RESIDENT}) + holdings.issue(
        CITIZEN, {"resident_registration": {**RESIDENT, "resident_sido": "26"}}
    )
    sharing = wallet.open_request(CITIZEN, spec_verifier.request(RESIDENCE_QUERY))
    [asked] = sharing.view.credentials
    assert {c.credential_id for c in asked.candidates} == {first.id, second.id}
    wallet.approve(CITIZEN, sharing, {"residence": second.id})
    [received] = spec_verifier.received
    assert received.presentations["residence"][0].disclosed["resident_sido"] == "26"


def test_an_optional_credential_is_sent_only_when_the_citizen_adds_it(wallet, holdings, spec_verifier) -> None:
    holdings.issue(CITIZEN, {"resident_registration": RESIDENT, "education_status": youth_claims()["education_status"]})
    education = {
        "id": "education",
        "format": "dc+sd-jwt",
        "meta": {"vct_values": ["urn:seoul-wallet:vct:education-status:1"]},
        "claims": [{"path": ["enrollment_status"]}],
    }
    query = {
        "credentials": [RESIDENCE_QUERY["credentials"][0], education],
        "credential_sets": [{"options": [["residence"]]}, {"options": [["education"]], "required": False}],
    }
    sharing = wallet.open_request(CITIZEN, spec_verifier.request(query))
    optional = {c.query_id: c.optional for c in sharing.view.credentials}
    assert optional == {"residence": False, "education": True}
    wallet.approve(CITIZEN, sharing)
    assert set(spec_verifier.received[0].presentations) == {"residence"}

    sharing = wallet.open_request(CITIZEN, spec_verifier.request(query))
    [education_credential] = sharing.view.credentials[1].candidates
    wallet.approve(CITIZEN, sharing, {"education": education_credential.credential_id})
    assert set(spec_verifier.received[1].presentations) == {"residence", "education"}


def test_a_credential_the_citizen_does_not_hold_is_named_and_nothing_is_sent(
    platform, wallet, holdings, spec_verifier
) -> None:
    holdings.issue(CITIZEN, {"resident_registration": RESIDENT})
    lease_vct = "urn:seoul-wallet:vct:lease:1"
    query = {
        "credentials": [
            RESIDENCE_QUERY["credentials"][0],
            {"id": "lease", "format": "dc+sd-jwt", "meta": {"vct_values": [lease_vct]}, "claims": [{"path": ["sub"]}]},
        ]
    }
    sharing = wallet.open_request(CITIZEN, spec_verifier.request(query))
    view = sharing.view
    assert not view.can_share and NOTHING_SENT_NOTE in view.notes
    [missing] = view.missing
    assert missing.query_ids == ("lease",) and missing.names[0]["ko"] == "임대차 계약 정보"
    with pytest.raises(SharingRefused) as refused:
        wallet.approve(CITIZEN, sharing)
    assert refused.value.reason == "credentials_missing" and "lease" in refused.value.messages["en"]
    assert spec_verifier.received == [] and consents(platform) == []


def test_deny_tells_the_verifier_and_records_the_denial(platform, wallet, holdings, spec_verifier) -> None:
    holdings.issue(CITIZEN, {"resident_registration": RESIDENT})
    sharing = wallet.open_request(CITIZEN, spec_verifier.request(RESIDENCE_QUERY))
    outcome = wallet.deny(CITIZEN, sharing)
    assert outcome.sent == "denial" and outcome.accepted
    [received] = spec_verifier.received
    assert received.form == {"error": "access_denied", "state": sharing.request.state}  # no vp_token
    [record] = consents(platform)
    assert record.id == outcome.consent_record_id and record.state == "denied"
    assert [e.type for e in record.history] == ["requested", "denied"]
    assert record.record["data_items"] == [["resident_registration", "sub"], ["resident_registration", "resident_sido"]]


# -- refusals: nothing is sent to a verifier the wallet cannot verify -----------------------------


@pytest.fixture
def refused(platform, holdings, spec_verifier, hosts):
    """`refused(wallet, link, reason)`: opening the link fails with `reason`, the citizen is told in
    Korean and English that nothing was sent, the spec verifier received no post, and no consent
    was recorded."""
    holdings.issue(CITIZEN, {"resident_registration": RESIDENT})

    def check(wallet: PresentationService, link: str, reason: str) -> SharingRefused:
        with pytest.raises(SharingRefused) as caught:
            wallet.open_request(CITIZEN, link)
        error = caught.value
        assert error.reason == reason
        assert "아무것도 보내지 않았습니다" in error.messages["ko"] and "Nothing was sent" in error.messages["en"]
        assert spec_verifier.received == [] and consents(platform) == []
        # Not a single POST beyond receiving her credentials from the issuers.
        assert not [r for r in hosts.requests if r.method == "POST" and not r.url.path.startswith("/issuers/")]
        return error

    return check


def test_a_request_signed_under_an_untrusted_ca(refused, vault, platform, hosts) -> None:
    rogue = SpecVerifier("rogue.example", ca=SpecCA("Rogue CA"), organization="Spec Verifier Co.")
    hosts.add(rogue.host, rogue.app)
    refused(presentation_service(vault, platform, hosts, []), rogue.request(RESIDENCE_QUERY), "untrusted_certificate")
    assert rogue.received == []


def test_a_request_signed_with_another_key_than_its_certificate(refused, wallet, spec_verifier) -> None:
    link = spec_verifier.request(RESIDENCE_QUERY, signing_key=ec.generate_private_key(ec.SECP256R1()))
    refused(wallet, link, "invalid_signature")


def test_a_response_uri_on_another_host_than_the_dns_san(refused, wallet, spec_verifier) -> None:
    link = spec_verifier.request(RESIDENCE_QUERY, changes={"response_uri": "http://collector.example/response"})
    error = refused(wallet, link, "response_uri_host_mismatch")
    assert "collector.example" in error.messages["en"]


def test_client_id_differing_between_link_and_object(refused, wallet, spec_verifier) -> None:
    # The object is validly signed for x509_hash:…, but the link claims the certified DNS name.
    link = spec_verifier.request(RESIDENCE_QUERY, "x509_hash", link_client_id=spec_verifier.client_id("x509_san_dns"))
    refused(wallet, link, "client_id_mismatch")


def test_a_bad_x509_hash(refused, wallet, spec_verifier) -> None:
    other = SpecCA("Another CA").certificate
    bad = f"x509_hash:{x509_hash(other)}"
    link = spec_verifier.request(RESIDENCE_QUERY, "x509_hash", link_client_id=bad, changes={"client_id": bad})
    refused(wallet, link, "certificate_hash_mismatch")


@pytest.mark.parametrize("prefix", ["redirect_uri", "x509_san_dns"])
def test_an_unsigned_request_in_production(prefix, refused, vault, platform, hosts, spec_verifier) -> None:
    production = presentation_service(vault, platform, hosts, [spec_verifier.ca.pem], development=False)
    link = spec_verifier.request(RESIDENCE_QUERY, "redirect_uri")
    if prefix == "x509_san_dns":  # the same parameters by value, unsigned, claiming the certified name
        params = dict(parse_qsl(urlsplit(link).query))
        link = "openid4vp://?" + urlencode({**params, "client_id": spec_verifier.client_id("x509_san_dns")})
    refused(production, link, "unsigned_request_not_allowed")


def test_a_request_naming_claims_no_consent_record_can_hold_is_refused_cleanly(
    platform, wallet, holdings, spec_verifier
) -> None:
    """A claim path element of 101 characters cannot go into a consent record: declining it is a
    refusal with a reason (it used to escape as a validation error, a 500 over the API)."""
    holdings.issue(CITIZEN, {"resident_registration": RESIDENT})
    query = {"credentials": [{**RESIDENCE_QUERY["credentials"][0], "claims": [{"path": ["a" * 101]}]}]}
    sharing = wallet.open_request(CITIZEN, spec_verifier.request(query))
    with pytest.raises(SharingRefused) as refused:
        wallet.deny(CITIZEN, sharing)
    assert refused.value.reason == "malformed_request" and spec_verifier.received == []
    assert consents(platform) == []


@pytest.mark.parametrize(
    ("exp", "reason"), [("1e400", "malformed_request"), ("0", "request_expired"), ("1.5", "request_expired")]
)
def test_a_request_expiry_of_any_json_number_is_a_clean_refusal(wallet, holdings, spec_verifier, exp, reason) -> None:
    """`exp` of 1e400 (infinity to Python) used to escape as OverflowError; now it is refused like any
    request the wallet cannot show exactly (its notice cannot be canonicalised), and a past one as
    expired."""
    holdings.issue(CITIZEN, {"resident_registration": RESIDENT})
    link = spec_verifier.request(RESIDENCE_QUERY)
    ref = unquote(link.rsplit("%2F", 1)[1])
    header, payload, _ = spec_verifier.objects[ref].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    text = json.dumps({k: v for k, v in claims.items() if k != "exp"})[:-1] + f', "exp": {exp}}}'
    headers = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    spec_verifier.objects[ref] = jwt.api_jws.PyJWS().encode(text.encode(), spec_verifier.key, "ES256", headers)
    with pytest.raises(SharingRefused) as refused:
        wallet.open_request(CITIZEN, link)
    assert refused.value.reason == reason and spec_verifier.received == []
