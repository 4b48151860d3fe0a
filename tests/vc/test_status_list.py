"""Token Status List draft -20: packing, spec vectors, compression bounds, the JWT."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keys import jws
from keys.jwk import b64url_encode
from vc import status_list as sl

from .conftest import ISSUER_KEY, NOW, OTHER_KEY

URI = "https://status.seoul.example/lists/1"


def test_spec_vector_one_bit():
    statuses = [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1]
    lst = sl.StatusList(16, bits=1)
    for index, status in enumerate(statuses):
        lst.set(index, status)
    assert lst.to_bytes() == bytes([0xB9, 0xA3])
    decoded = sl.StatusList.decompress("eNrbuRgAAhcBXQ", 1)
    assert [decoded.get(i) for i in range(16)] == statuses


def test_spec_vector_two_bits():
    statuses = [1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3]
    lst = sl.StatusList(12, bits=2)
    for index, status in enumerate(statuses):
        lst.set(index, status)
    assert lst.to_bytes() == bytes([0xC9, 0x44, 0xF9])
    decoded = sl.StatusList.decompress("eNo76fITAAPfAgc", 2)
    assert [decoded.get(i) for i in range(12)] == statuses


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
@given(data=st.data())
def test_round_trip_all_widths(bits, data):
    size = data.draw(st.integers(min_value=1, max_value=200))
    statuses = data.draw(st.lists(st.integers(0, (1 << bits) - 1), min_size=size, max_size=size))
    lst = sl.StatusList(size, bits)
    for index, status in enumerate(statuses):
        lst.set(index, status)
    decoded = sl.StatusList.decompress(lst.compress(), bits)
    assert [decoded.get(i) for i in range(size)] == statuses


def test_eight_bit_value_and_constants():
    lst = sl.StatusList(3, bits=8)
    lst.set(2, sl.SUSPENDED)
    assert (sl.VALID, sl.INVALID, sl.SUSPENDED) == (0, 1, 2)
    assert lst.to_bytes() == b"\x00\x00\x02" and lst.size == 3


@pytest.mark.parametrize("bits", [0, 3, 16])
def test_bad_bits_rejected(bits):
    with pytest.raises(sl.MalformedStatusList):
        sl.StatusList(8, bits)


def test_status_too_wide_rejected():
    with pytest.raises(sl.MalformedStatusList):
        sl.StatusList(8, 1).set(0, 2)


@pytest.mark.parametrize("index", [-1, 8, 1000])
def test_index_out_of_range_rejected(index):
    with pytest.raises(sl.IndexOutOfRange):
        sl.StatusList(8, 1).get(index)


def test_decompression_bomb_rejected():
    bomb = b64url_encode(zlib.compress(bytes(10_000_000), 9))
    with pytest.raises(sl.StatusListTooLarge):
        sl.StatusList.decompress(bomb, 1, max_bytes=1_000_000)


@pytest.mark.parametrize("lst", ["***", b64url_encode(b"not zlib"), b64url_encode(zlib.compress(b"abc")[:-3])])
def test_malformed_lst_rejected(lst):
    with pytest.raises(sl.MalformedStatusList):
        sl.StatusList.decompress(lst, 1)


def _token(**kwargs):
    lst = sl.StatusList(64, 2)
    lst.set(5, sl.SUSPENDED)
    lst.set(7, sl.INVALID)
    options = {"uri": URI, "iat": NOW - 10, "exp": NOW + 3600, "ttl": 300, "kid": "k1"}
    options.update(kwargs)
    return sl.build_status_list_token(lst, ISSUER_KEY, **options)


def test_status_list_token_round_trip():
    token = _token()
    assert jws.read_header(token)["typ"] == "statuslist+jwt"
    verified = sl.verify_status_list_token(token, ISSUER_KEY.public_key(), expected_uri=URI, now=NOW)
    assert verified.payload["sub"] == URI and verified.payload["ttl"] == 300
    assert [verified.status(i) for i in (4, 5, 7)] == [sl.VALID, sl.SUSPENDED, sl.INVALID]
    with pytest.raises(sl.IndexOutOfRange):
        verified.status(64)


def test_status_list_token_wrong_typ_rejected():
    token = jws.sign(
        {"sub": URI, "iat": NOW, "status_list": {"bits": 1, "lst": "eNrbuRgAAhcBXQ"}}, ISSUER_KEY, typ="JWT"
    )
    with pytest.raises(sl.StatusListWrongType):
        sl.verify_status_list_token(token, ISSUER_KEY.public_key(), expected_uri=URI, now=NOW)


def test_status_list_token_sub_mismatch_rejected():
    with pytest.raises(sl.StatusListSubjectMismatch):
        sl.verify_status_list_token(_token(), ISSUER_KEY.public_key(), expected_uri=URI + "/", now=NOW)


def test_status_list_token_expired_rejected():
    with pytest.raises(sl.StatusListExpired):
        sl.verify_status_list_token(_token(exp=NOW - 100), ISSUER_KEY.public_key(), expected_uri=URI, now=NOW)


def test_status_list_token_bad_signature_rejected():
    with pytest.raises(sl.StatusListTokenInvalid):
        sl.verify_status_list_token(_token(), OTHER_KEY.public_key(), expected_uri=URI, now=NOW)


def test_status_list_token_missing_status_list_rejected():
    token = jws.sign({"sub": URI, "iat": NOW}, ISSUER_KEY, typ="statuslist+jwt")
    with pytest.raises(sl.MalformedStatusList):
        sl.verify_status_list_token(token, ISSUER_KEY.public_key(), expected_uri=URI, now=NOW)


def test_status_reference():
    assert sl.status_reference({"status": {"status_list": {"idx": 3, "uri": URI}}}) == (3, URI)
    assert sl.status_reference({"vct": "x"}) is None
    with pytest.raises(sl.MalformedStatusList):
        sl.status_reference({"status": {"status_list": {"idx": -1, "uri": URI}}})


def _signed(**claims) -> str:
    payload = {"sub": URI, "iat": NOW, "status_list": {"bits": 1, "lst": "eNrbuRgAAhcBXQ"}, **claims}
    return jws.sign({k: v for k, v in payload.items() if v is not None}, ISSUER_KEY, typ="statuslist+jwt")


@pytest.mark.parametrize(
    ("claims", "error"),
    [
        ({"iat": None}, sl.MalformedStatusList),  # §5.1: iat is required
        ({"iat": "yesterday"}, sl.MalformedStatusList),
        ({"ttl": 0}, sl.MalformedStatusList),  # a positive number of seconds
        ({"ttl": -5}, sl.MalformedStatusList),
        ({"ttl": True}, sl.MalformedStatusList),
        ({"exp": [NOW + 100]}, sl.MalformedStatusList),
        ({"nbf": NOW + 3600}, sl.StatusListNotYetValid),
        ({"iat": NOW + 3600}, sl.StatusListNotYetValid),
    ],
)
def test_status_list_token_time_claims_are_checked(claims, error):
    with pytest.raises(error):
        sl.verify_status_list_token(_signed(**claims), ISSUER_KEY.public_key(), expected_uri=URI, now=NOW)
