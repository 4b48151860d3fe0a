"""Receiving credentials (OpenID4VCI 1.0, pre-authorized code flow), over real HTTP through the
ASGI apps: from our own agencies, and from an issuer written from the specs alone
(tests/wallet/spec_issuer.py) under a host of its own. Every refusal names its step and reason,
tells the citizen in Korean and English, and leaves the wallet exactly as it was."""

from __future__ import annotations

import json
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from keys.datakeys import DataKeyStore
from keys.jwk import public_jwk, thumbprint
from tests.verifiers.conftest import AGENCY_OF, CredentialFactory, youth_claims
from tests.wallet.hosts import Hosts
from tests.wallet.spec_issuer import INVALID, SUSPENDED, SpecIssuer
from wallet.models import WalletCredential
from wallet.receive import CredentialReceiver, ReceiveError
from wallet.vault import Vault

CITIZEN = "citizen-minji-0001"
OTHER_CITIZEN = "citizen-junho-0002"
OUR_ISSUER = "http://127.0.0.1:8000/issuers"
RESIDENT = youth_claims()["resident_registration"]


@pytest.fixture
def vault(platform) -> Vault:
    vault = Vault(platform.engine, DataKeyStore(platform.engine, platform.master_key))
    vault.ensure_account(CITIZEN)
    return vault


@pytest.fixture
def spec_issuer(request) -> SpecIssuer:
    """The issuer written from the specs; `indirect` parameters are its options."""
    return SpecIssuer(**getattr(request, "param", {}))


@pytest.fixture
def hosts(app, platform, spec_issuer) -> Hosts:
    """`issuer.example` is the spec issuer; every other host is the project's app under test."""
    return Hosts({spec_issuer.host: spec_issuer.app}, fallback=platform.http._transport)


@pytest.fixture
def receiver(vault, hosts) -> CredentialReceiver:
    return CredentialReceiver(vault, httpx.Client(transport=hosts), development=True)


@pytest.fixture
def agencies(client, platform) -> CredentialFactory:
    return CredentialFactory(client, platform)


def wallet_state(engine) -> dict[str, list[str]]:
    """Every wallet row (accounts, credentials, the citizens' data keys)."""
    queries = {
        "accounts": 'SELECT * FROM "wallet_accounts"',
        "credentials": 'SELECT * FROM "wallet_credentials"',
        "data_keys": "SELECT * FROM \"data_keys\" WHERE owner_id LIKE 'wallet:%'",
    }
    with engine.connect() as connection:
        return {name: sorted(map(repr, connection.execute(text(sql)))) for name, sql in queries.items()}


@pytest.fixture
def refused(platform, vault):
    """`refused(call) -> ReceiveError`: the call fails, the message speaks to the citizen in both
    languages, and the wallet is exactly as it was before."""
    before = wallet_state(platform.engine)

    def check(call, *args, **kwargs) -> ReceiveError:
        with pytest.raises(ReceiveError) as caught:
            call(*args, **kwargs)
        error = caught.value
        assert "아무것도 저장되지 않았습니다" in str(error) and "Nothing was stored" in str(error)
        assert error.messages["ko"] and error.messages["en"]
        assert wallet_state(platform.engine) == before
        assert vault.list(CITIZEN) == []
        return error

    return check


def agency_offer(client, agencies: CredentialFactory, type_id: str, claims: dict, **extra) -> dict:
    """An offer made by the agency's back office through our issuer's agency API."""
    agency = AGENCY_OF[type_id]
    body = {"subject": CITIZEN, "credential_type": type_id, "claims": claims, **extra}
    response = client.post(f"/issuers/{agency}/offers", json=body, headers=agencies.headers(agency))
    assert response.status_code == 201, response.text
    return response.json()


# -- from our own agencies --------------------------------------------------------------------------


def test_an_offer_by_value_is_shown_then_received_and_opens_from_the_vault(client, agencies, receiver, vault) -> None:
    created = agency_offer(client, agencies, "resident_registration", RESIDENT)

    offer = receiver.parse_offer(created["offer_link"])
    assert offer.credential_issuer == f"{OUR_ISSUER}/mois"
    assert offer.issuer_name == {"ko": "행정안전부", "en": "Ministry of the Interior and Safety"}
    assert [c.configuration_id for c in offer.credentials] == ["resident_registration"]
    assert offer.credentials[0].display["credential"]["name"]["ko"]
    assert not offer.tx_code_required

    [stored] = receiver.receive(CITIZEN, offer)
    assert stored.issuer == f"{OUR_ISSUER}/mois" and stored.configuration_id == "resident_registration"
    assert stored.status == "valid" and stored.status_uri and stored.status_uri.startswith(f"{OUR_ISSUER}/mois/")
    assert stored.display["issuer"]["name"]["ko"] == "행정안전부"
    claim_names = {tuple(c["path"]): c["name"] for c in stored.display["claims"]}
    assert claim_names[("sub",)]["ko"] == "서울지갑 이용자 번호 (가명)"
    opened = vault.open(CITIZEN, stored.id)
    assert opened.claims["sub"] == CITIZEN
    assert {k: opened.claims[k] for k in RESIDENT} == RESIDENT
    # The credential is bound to the holder key the vault keeps with it.
    assert opened.parsed.payload["cnf"]["jwk"] == public_jwk(opened.holder_key.public_key())


def test_an_offer_by_reference_with_a_pin(client, agencies, receiver, vault) -> None:
    created = agency_offer(client, agencies, "resident_registration", RESIDENT, tx_code={"length": 6})

    offer = receiver.parse_offer(created["offer_link_by_reference"])
    assert offer.tx_code is not None
    assert (offer.tx_code.input_mode, offer.tx_code.length) == ("numeric", 6)
    assert "인증번호" in (offer.tx_code.description or "")

    [stored] = receiver.receive(CITIZEN, offer, created["tx_code"])
    assert vault.open(CITIZEN, stored.id).claims["birth_date"] == RESIDENT["birth_date"]


def test_the_wallet_offer_endpoint_parameters_are_offers_too(client, agencies, receiver) -> None:
    by_value = agency_offer(client, agencies, "resident_registration", RESIDENT)
    by_reference = agency_offer(client, agencies, "resident_registration", RESIDENT)
    as_json = json.dumps(by_value["credential_offer"])

    for given in (
        {"credential_offer": as_json},  # /wallet/receive?credential_offer=…, already parsed
        {"credential_offer": [as_json]},  # as parse_qs gives them
        f"https://wallet.example/wallet/receive?credential_offer={quote(as_json)}",
        {"credential_offer_uri": by_reference["credential_offer_uri"]},
    ):
        offer = receiver.parse_offer(given)
        assert offer.credential_issuer == f"{OUR_ISSUER}/mois"
        assert [c.configuration_id for c in offer.credentials] == ["resident_registration"]


def test_every_youth_allowance_credential_is_received_and_stored(client, agencies, receiver, vault) -> None:
    claims_by_type = youth_claims()
    assert len(claims_by_type) == 6
    for type_id, claims in claims_by_type.items():
        created = agency_offer(client, agencies, type_id, claims)
        receiver.receive(CITIZEN, receiver.parse_offer(created["offer_link"]))

    stored = {c.configuration_id: c for c in vault.list(CITIZEN)}
    assert set(stored) == set(claims_by_type)
    for type_id, claims in claims_by_type.items():
        assert stored[type_id].issuer == f"{OUR_ISSUER}/{AGENCY_OF[type_id]}"
        opened = vault.open(CITIZEN, stored[type_id].id)
        assert opened.claims["sub"] == CITIZEN
        assert {k: opened.claims[k] for k in claims} == claims
    holder_keys = {c.holder_jkt for c in _rows(vault)}
    assert len(holder_keys) == 6  # one fresh key per credential: no two can be linked by their cnf


def _rows(vault: Vault) -> list[WalletCredential]:
    with Session(vault.engine) as session:
        return list(session.exec(select(WalletCredential)).all())


def test_a_wrong_pin_reaches_the_citizen_as_the_issuers_invalid_grant(client, agencies, receiver, refused) -> None:
    created = agency_offer(client, agencies, "resident_registration", RESIDENT, tx_code={"value": "246810"})
    offer = receiver.parse_offer(created["offer_link"])

    error = refused(receiver.receive, CITIZEN, offer, "135790")
    assert (error.step, error.reason, error.issuer_error) == ("token", "invalid_grant", "invalid_grant")
    assert "wrong transaction code; 4 attempt(s) left" in error.messages["en"]
    assert "인증번호" in error.messages["ko"]

    # The citizen types it again, right this time.
    [stored] = receiver.receive(CITIZEN, offer, "246810")
    assert stored.configuration_id == "resident_registration"


# -- from an issuer written from the specs alone ------------------------------------------------------


def test_receiving_from_an_issuer_written_from_the_specs(spec_issuer, receiver, vault) -> None:
    offer = receiver.parse_offer(spec_issuer.offer(CITIZEN))
    assert offer.issuer_name == {"ko": "스펙 연금공단", "en": "Spec Pension Agency"}
    [offered] = offer.credentials
    assert offered.vct == "urn:example:spec:pension_card:1"
    assert offered.display["credential"] == {
        "name": {"ko": "연금 수급 증명", "en": "Pension card"},
        "description": {"ko": "국민연금 수급 사실", "en": "Proof of a state pension"},
        "background_color": "#12107c",
    }

    [stored] = receiver.receive(CITIZEN, offer)
    opened = vault.open(CITIZEN, stored.id)
    assert opened.claims["pension_number"] == "NPS-2026-0042" and opened.claims["sub"] == CITIZEN
    assert stored.display["claims"][1] == {
        "path": ["pension_number"],
        "name": {"ko": "연금 번호", "en": "Pension number"},
    }
    assert stored.status_uri == spec_issuer.status_uri

    # What the issuer saw: a token request without tx_code (none was asked for), and a proof as
    # Appendix F.1 describes it, for the key the credential is now bound to.
    assert "tx_code" not in spec_issuer.token_requests[0]
    [(header, payload)] = spec_issuer.proofs
    assert header["typ"] == "openid4vci-proof+jwt" and header["alg"] == "ES256"
    assert header["jwk"] == public_jwk(opened.holder_key.public_key())
    assert payload["aud"] == spec_issuer.identifier and "iss" not in payload
    assert isinstance(payload["iat"], int) and payload["nonce"]
    assert spec_issuer.credential_requests[0]["credential_configuration_id"] == "pension_card"


def test_a_pin_offer_by_reference_from_the_spec_issuer(spec_issuer, receiver, vault) -> None:
    offer = receiver.parse_offer(spec_issuer.offer(CITIZEN, tx_code="0192", by_reference=True))
    assert offer.tx_code is not None and offer.tx_code.length == 4 and offer.tx_code.description == "SMS로 받은 번호"

    receiver.receive(CITIZEN, offer, "0192")
    assert spec_issuer.token_requests[0]["tx_code"] == "0192"
    assert len(vault.list(CITIZEN)) == 1


def test_an_offer_of_two_credentials_binds_each_to_its_own_key(spec_issuer, receiver, vault) -> None:
    offer = receiver.parse_offer(spec_issuer.offer(CITIZEN, ("pension_card", "library_card")))
    assert [c.display["credential"]["name"]["en"] for c in offer.credentials] == ["Pension card", "Library card"]

    stored = receiver.receive(CITIZEN, offer)
    assert sorted(c.configuration_id for c in stored) == ["library_card", "pension_card"]
    keys = [vault.open(CITIZEN, c.id).holder_key for c in stored]
    assert thumbprint(public_jwk(keys[0])) != thumbprint(public_jwk(keys[1]))
    assert len(spec_issuer.token_requests) == 1  # one offer, one token


@pytest.mark.parametrize("spec_issuer", [{"credential_identifiers": True}], indirect=True)
def test_credential_identifiers_from_the_token_response_are_each_requested(spec_issuer, receiver, vault) -> None:
    receiver.receive(CITIZEN, receiver.parse_offer(spec_issuer.offer(CITIZEN)))
    assert [r["credential_identifier"] for r in spec_issuer.credential_requests] == [
        "pension_card-dataset-1",
        "pension_card-dataset-2",
    ]
    assert all("credential_configuration_id" not in r for r in spec_issuer.credential_requests)
    assert len(vault.list(CITIZEN)) == 2


@pytest.mark.parametrize("spec_issuer", [{"separate_authorization_server": True}], indirect=True)
def test_an_issuer_with_a_separate_authorization_server(spec_issuer, receiver, hosts, vault) -> None:
    receiver.receive(CITIZEN, receiver.parse_offer(spec_issuer.offer(CITIZEN)))
    paths = [r.url.path for r in hosts.requests]
    assert "/.well-known/oauth-authorization-server/auth" in paths and "/auth/token" in paths
    assert len(vault.list(CITIZEN)) == 1


def test_a_stale_nonce_is_replaced_once(spec_issuer, receiver, vault) -> None:
    spec_issuer.misbehave.reject_first_nonce = True
    receiver.receive(CITIZEN, receiver.parse_offer(spec_issuer.offer(CITIZEN)))
    assert len(spec_issuer.proofs) == 2 and spec_issuer.proofs[0][1]["nonce"] != spec_issuer.proofs[1][1]["nonce"]
    assert len(vault.list(CITIZEN)) == 1


# -- refusals: each says which step failed and why, and nothing is stored -------------------------------


def test_a_bad_issuer_signature_is_refused(spec_issuer, receiver, refused) -> None:
    spec_issuer.misbehave.forge_signature = True
    error = refused(receiver.receive, CITIZEN, receiver.parse_offer(spec_issuer.offer(CITIZEN)))
    assert (error.step, error.reason) == ("verification", "signature_invalid")
    assert "signature" in error.messages["en"] and "서명" in error.messages["ko"]


def test_a_credential_from_another_issuer_is_refused_before_its_keys_are_fetched(
    spec_issuer, receiver, hosts, refused
) -> None:
    spec_issuer.misbehave.iss = "http://issuer.example/elsewhere"
    error = refused(receiver.receive, CITIZEN, receiver.parse_offer(spec_issuer.offer(CITIZEN)))
    assert (error.step, error.reason) == ("verification", "issuer_mismatch")
    assert not [r for r in hosts.requests if r.url.path.startswith("/.well-known/jwt-vc-issuer")]


def test_a_credential_of_another_type_is_refused(spec_issuer, receiver, refused) -> None:
    spec_issuer.misbehave.vct = "urn:example:spec:library_card:1"
    error = refused(receiver.receive, CITIZEN, receiver.parse_offer(spec_issuer.offer(CITIZEN)))
    assert (error.step, error.reason) == ("verification", "vct_mismatch")


def test_a_credential_bound_to_another_key_is_refused(spec_issuer, receiver, refused) -> None:
    spec_issuer.misbehave.bind_to_other_key = True
    error = refused(receiver.receive, CITIZEN, receiver.parse_offer(spec_issuer.offer(CITIZEN)))
    assert (error.step, error.reason) == ("verification", "holder_key_mismatch")


def test_a_credential_about_someone_else_is_refused(spec_issuer, receiver, refused) -> None:
    error = refused(receiver.receive, CITIZEN, receiver.parse_offer(spec_issuer.offer(OTHER_CITIZEN)))
    assert (error.step, error.reason) == ("verification", "subject_mismatch")


def test_a_credential_revoked_at_receipt_is_refused(spec_issuer, receiver, refused) -> None:
    spec_issuer.misbehave.status_at_issuance = INVALID
    error = refused(receiver.receive, CITIZEN, receiver.parse_offer(spec_issuer.offer(CITIZEN)))
    assert (error.step, error.reason) == ("status", "revoked")
    assert "폐지" in error.messages["ko"] and "revoked" in error.messages["en"]


def test_a_credential_suspended_at_receipt_is_refused(spec_issuer, receiver, refused) -> None:
    spec_issuer.misbehave.status_at_issuance = SUSPENDED
    error = refused(receiver.receive, CITIZEN, receiver.parse_offer(spec_issuer.offer(CITIZEN)))
    assert (error.step, error.reason) == ("status", "suspended")


def test_one_refused_credential_of_an_offer_leaves_the_other_unstored(spec_issuer, receiver, refused) -> None:
    offer = receiver.parse_offer(spec_issuer.offer(CITIZEN, ("pension_card", "library_card")))
    spec_issuer.misbehave.status_of = {"library_card": INVALID}
    error = refused(receiver.receive, CITIZEN, offer)
    assert (error.step, error.reason) == ("status", "revoked")
    assert len(spec_issuer.credential_requests) == 2  # the pension card was issued, and is not kept


def test_a_missing_pin_is_refused_before_any_request(spec_issuer, receiver, hosts, refused) -> None:
    offer = receiver.parse_offer(spec_issuer.offer(CITIZEN, tx_code="4321"))
    hosts.requests.clear()
    error = refused(receiver.receive, CITIZEN, offer, None)
    assert (error.step, error.reason) == ("token", "tx_code_required")
    assert hosts.requests == [] and spec_issuer.token_requests == []


def test_a_pin_of_the_wrong_form_is_refused_before_any_request(spec_issuer, receiver, hosts, refused) -> None:
    offer = receiver.parse_offer(spec_issuer.offer(CITIZEN, tx_code="4321"))
    hosts.requests.clear()
    for typed in ("43210", "43a1"):
        assert refused(receiver.receive, CITIZEN, offer, typed).reason == "tx_code_malformed"
    assert hosts.requests == []


def test_a_wrong_pin_at_the_spec_issuer(spec_issuer, receiver, refused) -> None:
    offer = receiver.parse_offer(spec_issuer.offer(CITIZEN, tx_code="4321"))
    error = refused(receiver.receive, CITIZEN, offer, "1234")
    assert (error.step, error.reason) == ("token", "invalid_grant")
    assert error.issuer_description == "the transaction code is wrong"
    assert "(invalid_grant: the transaction code is wrong)" in error.messages["en"]


def test_metadata_naming_another_issuer_is_refused(spec_issuer, receiver, refused) -> None:
    link = spec_issuer.offer(CITIZEN)
    offer = receiver.parse_offer(link)
    spec_issuer.misbehave.metadata_issuer = spec_issuer.identifier + "/"  # a trailing / is another identifier
    for call, args in ((receiver.parse_offer, (link,)), (receiver.receive, (CITIZEN, offer))):
        error = refused(call, *args)
        assert (error.step, error.reason) == ("issuer_metadata", "metadata_issuer_mismatch")
    assert spec_issuer.token_requests == []


def _link(offer: object) -> str:
    return "openid-credential-offer://?credential_offer=" + quote(json.dumps(offer), safe="")


GOOD_OFFER = {
    "credential_issuer": "http://issuer.example/agency",
    "credential_configuration_ids": ["pension_card"],
    "grants": {"urn:ietf:params:oauth:grant-type:pre-authorized_code": {"pre-authorized_code": "abc"}},
}
GRANT = "urn:ietf:params:oauth:grant-type:pre-authorized_code"


@pytest.mark.parametrize(
    "given",
    [
        "openid-credential-offer://?credential_offer=%7Bnot%20json",
        "openid-credential-offer://?credential_offer=" + "[" * 100_000,  # oversized and deeply nested
        "openid-credential-offer://?credential_offer=" + quote("[" * 5000 + "]" * 5000),  # nested past the parser
        "openid-credential-offer://?nothing=here",
        "mailto:someone@example.com",
        _link([GOOD_OFFER]),
        _link({**GOOD_OFFER, "credential_issuer": 42}),
        _link({**GOOD_OFFER, "credential_issuer": "http://issuer.example/agency?x=1"}),
        _link({**GOOD_OFFER, "credential_configuration_ids": "pension_card"}),
        _link({**GOOD_OFFER, "credential_configuration_ids": []}),
        _link({**GOOD_OFFER, "credential_configuration_ids": ["pension_card", "pension_card"]}),
        _link({**GOOD_OFFER, "credential_configuration_ids": [7]}),
        _link({**GOOD_OFFER, "grants": []}),
        _link({**GOOD_OFFER, "grants": {GRANT: "abc"}}),
        _link({**GOOD_OFFER, "grants": {GRANT: {"pre-authorized_code": 12}}}),
        _link({**GOOD_OFFER, "grants": {GRANT: {"pre-authorized_code": "abc", "tx_code": "1234"}}}),
        _link({**GOOD_OFFER, "grants": {GRANT: {"pre-authorized_code": "abc", "tx_code": {"input_mode": "emoji"}}}}),
        _link({**GOOD_OFFER, "grants": {GRANT: {"pre-authorized_code": "abc", "tx_code": {"length": "6"}}}}),
        _link({**GOOD_OFFER, "grants": {GRANT: {"pre-authorized_code": "abc", "tx_code": {"description": "x" * 301}}}}),
        {"credential_offer": json.dumps(GOOD_OFFER), "credential_offer_uri": "http://issuer.example/o/1"},
        {"credential_offer": [json.dumps(GOOD_OFFER), json.dumps(GOOD_OFFER)]},
        {"credential_offer": {"already": "an object"}},
        {},
        None,
        12,
    ],
)
def test_a_malformed_offer_is_refused(given, receiver, hosts, refused) -> None:
    error = refused(receiver.parse_offer, given)
    assert (error.step, error.reason) == ("offer", "malformed_offer")
    assert hosts.requests == []


def test_an_offer_for_the_authorization_code_flow_only_is_refused(receiver, refused) -> None:
    offer = {**GOOD_OFFER, "grants": {"authorization_code": {"issuer_state": "s"}}}
    error = refused(receiver.parse_offer, _link(offer))
    assert (error.step, error.reason) == ("offer", "unsupported_grant")


def test_an_http_issuer_is_refused_outside_development(spec_issuer, vault, hosts, refused) -> None:
    production = CredentialReceiver(vault, httpx.Client(transport=hosts), development=False)
    for link in (spec_issuer.offer(CITIZEN), spec_issuer.offer(CITIZEN, by_reference=True)):
        error = refused(production.parse_offer, link)
        assert (error.step, error.reason) == ("offer", "unsafe_url")
    assert hosts.requests == []  # refused before any connection


def test_an_issuer_that_cannot_be_reached(vault, refused) -> None:
    isolated = CredentialReceiver(vault, httpx.Client(transport=Hosts({})), development=True)
    error = refused(isolated.parse_offer, _link(GOOD_OFFER))
    assert (error.step, error.reason) == ("issuer_metadata", "issuer_unreachable")


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda m: [m], "malformed_metadata"),
        (lambda m: {**m, "credential_endpoint": None}, "malformed_metadata"),
        (lambda m: {**m, "credential_endpoint": "ftp://issuer.example/credential"}, "unsafe_url"),
        (lambda m: {**m, "credential_configurations_supported": ["pension_card"]}, "malformed_metadata"),
        (lambda m: {**m, "credential_configurations_supported": {}}, "unknown_configuration"),
        (lambda m: {**m, "authorization_servers": "http://issuer.example/auth"}, "malformed_metadata"),
        (lambda m: _configuration(m, format="mso_mdoc"), "unsupported_configuration"),
        (lambda m: _configuration(m, vct=None), "malformed_metadata"),
        (lambda m: _configuration(m, cryptographic_binding_methods_supported=None), "unsupported_configuration"),
        (
            lambda m: _configuration(
                m, proof_types_supported={"jwt": {"proof_signing_alg_values_supported": ["RS256"]}}
            ),
            "unsupported_configuration",
        ),
    ],
)
def test_unusable_issuer_metadata_is_refused(edit, reason, spec_issuer, receiver, refused) -> None:
    spec_issuer.misbehave.edit_metadata = edit
    error = refused(receiver.parse_offer, spec_issuer.offer(CITIZEN))
    assert (error.step, error.reason) == ("issuer_metadata", reason)


def _configuration(metadata: dict, **changes) -> dict:
    configs = metadata["credential_configurations_supported"]
    return {
        **metadata,
        "credential_configurations_supported": {**configs, "pension_card": {**configs["pension_card"], **changes}},
    }


def test_a_citizen_without_a_wallet_is_refused(spec_issuer, receiver, refused) -> None:
    offer = receiver.parse_offer(spec_issuer.offer(OTHER_CITIZEN))
    error = refused(receiver.receive, OTHER_CITIZEN, offer)
    assert (error.step, error.reason) == ("wallet", "no_wallet")
    assert spec_issuer.token_requests == []
