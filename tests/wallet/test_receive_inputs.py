"""Property tests: whatever JSON an offer, issuer metadata or an issuer's answer holds, the wallet
either accepts it or refuses it with a `ReceiveError`; nothing else escapes (no 500 for the
citizen who pasted it)."""

from __future__ import annotations

import json
from urllib.parse import quote

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from outbound.exchange import BoundedResponse
from wallet.credential_offer import PRE_AUTHORIZED_GRANT, check_tx_code, read_offer_reference, validate_offer
from wallet.issuer_metadata import credential_display, read_issuer_metadata, token_endpoint_from
from wallet.oid4vci_client import IssuerClient
from wallet.receive_errors import ReceiveError

ISSUER = "https://issuer.example/agency"
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
OFFER_KEYS = ["credential_issuer", "credential_configuration_ids", "grants"]
GRANT_KEYS = ["pre-authorized_code", "tx_code", "authorization_server"]
TX_KEYS = ["input_mode", "length", "description"]


def _near(keys: list[str], values=JSON):
    """Objects with the spec's member names and arbitrary values: closer to the real thing than
    random dictionaries, so validation gets past its first check."""
    return st.dictionaries(st.sampled_from(keys), values, max_size=len(keys))


OFFERS = st.one_of(
    JSON,
    _near(OFFER_KEYS),
    st.builds(
        lambda offer, grant, tx: {
            **offer,
            "credential_issuer": ISSUER,
            "credential_configuration_ids": offer.get("credential_configuration_ids", ["x"]),
            "grants": {PRE_AUTHORIZED_GRANT: {**grant, "tx_code": tx}},
        },
        _near(OFFER_KEYS),
        _near(GRANT_KEYS),
        _near(TX_KEYS) | JSON,
    ),
)


@settings(max_examples=300, deadline=None)
@given(OFFERS)
def test_any_offer_json_is_accepted_or_refused(value) -> None:
    link = "openid-credential-offer://?credential_offer=" + quote(json.dumps(value), safe="")
    try:
        offer = validate_offer(read_offer_reference(link).offer, development=False)
    except ReceiveError as error:
        assert error.step == "offer"
        return
    assert offer.credential_issuer == ISSUER and offer.pre_authorized_code


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200) | st.dictionaries(st.text(max_size=30), st.text(max_size=30) | st.lists(st.text())))
def test_any_offer_link_or_parameters_are_accepted_or_refused(given_value) -> None:
    try:
        read_offer_reference(given_value)
    except ReceiveError as error:
        assert (error.step, error.reason) == ("offer", "malformed_offer")


@settings(max_examples=200, deadline=None)
@given(st.none() | st.text(max_size=70), st.sampled_from(["numeric", "text"]), st.none() | st.integers(1, 64))
def test_any_typed_code_is_sent_or_refused_before_sending(typed, mode, length) -> None:
    from wallet.credential_offer import TxCodePrompt

    try:
        code = check_tx_code(TxCodePrompt(mode, length, None), typed)
    except ReceiveError as error:
        assert error.reason in ("tx_code_required", "tx_code_malformed")
        return
    assert code and (length is None or len(code) == length)
    assert mode == "text" or code.isdigit()


METADATA_KEYS = [
    "credential_issuer",
    "credential_endpoint",
    "nonce_endpoint",
    "authorization_servers",
    "display",
    "credential_configurations_supported",
]
CONFIG_KEYS = [
    "format",
    "vct",
    "cryptographic_binding_methods_supported",
    "proof_types_supported",
    "credential_metadata",
]


@settings(max_examples=300, deadline=None)
@given(_near(METADATA_KEYS), _near(CONFIG_KEYS), JSON)
def test_any_issuer_metadata_is_accepted_or_refused(metadata, configuration, display) -> None:
    metadata = {
        **metadata,
        "credential_issuer": ISSUER,
        "credential_configurations_supported": {"x": {**configuration, "credential_metadata": {"display": display}}},
    }
    try:
        read = read_issuer_metadata(metadata, ISSUER, development=False)
        config = read.configuration("x")
    except ReceiveError as error:
        assert error.step == "issuer_metadata"
        return
    json.dumps(config.display)  # what is stored is plain JSON


@settings(max_examples=200, deadline=None)
@given(JSON, JSON)
def test_any_display_metadata_becomes_plain_json(issuer_display, credential_metadata) -> None:
    display = credential_display(issuer_display, {"credential_metadata": credential_metadata})
    assert set(display) == {"issuer", "credential", "claims"}
    json.dumps(display)


@settings(max_examples=200, deadline=None)
@given(JSON)
def test_any_authorization_server_metadata_is_accepted_or_refused(metadata) -> None:
    try:
        token_endpoint_from(metadata, ISSUER, development=False)
    except ReceiveError as error:
        assert error.step == "authorization_server"


_NO_NETWORK = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(599)))


class _Answers(IssuerClient):
    """An IssuerClient whose POSTs get `answer` back, to feed it arbitrary issuer answers."""

    def __init__(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        super().__init__(_NO_NETWORK, development=False)
        self.answer = BoundedResponse(status, httpx.Headers(headers), body)

    def _post(self, url, step, max_bytes, **body):
        return self.answer


ANSWER_BODIES = st.one_of(
    st.binary(max_size=40),
    JSON.map(lambda v: json.dumps(v).encode()),
    _near(["access_token", "token_type", "authorization_details", "c_nonce", "credentials", "error"]).map(
        lambda v: json.dumps(v).encode()
    ),
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([200, 202, 400, 401, 500]), ANSWER_BODIES, st.sampled_from([{}, {"WWW-Authenticate": "Bearer"}]))
def test_any_issuer_answer_is_accepted_or_refused(status, body, headers) -> None:
    client = _Answers(status, body, headers)
    for call in (
        lambda: client.token("https://issuer.example/token", "code", None),
        lambda: client.nonce("https://issuer.example/nonce"),
        lambda: client.credential("https://issuer.example/credential", "token", {}),
    ):
        try:
            call()
        except ReceiveError as error:
            assert error.messages["en"]
