"""Size attacks: bodies of 10 MB (with and without a length), header sections of a megabyte or ten
thousand fields, 10,000 disclosures, JSON nested 10,000 deep wherever JSON is read (bodies, the
vp_token, disclosures, issuer JWT and KB-JWT payloads), numbers JSON can write but Python reads as
infinity (1e400) or refuses to read (10**5000), tokens past their size bound.

What needs a real socket (a header section the ASGI TestClient cannot send, a body streamed without a
length, a Content-Length of 31 digits) goes to a live `seoul-wallet serve` over the same database.
Every case is a 4xx, and the service answers an honest request right after.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from tests.security.attack_support import (
    World,
    digest_of,
    disclosure,
    es256_raw,
    issue_honest_credential,
    open_world,
    presentation_refused,
    problem,
    still_serving,
)
from tests.verifiers.spec_vp_wallet import b64url

TEN_MB = 10 * 1024 * 1024
DEEP = 10_000


@pytest.fixture(scope="module")
def world(tmp_path_factory, database_url, migrated_engine) -> Iterator[World]:
    for opened in open_world(tmp_path_factory, database_url, migrated_engine):
        opened.held = issue_honest_credential(opened)
        yield opened


@pytest.fixture(scope="module")
def live(world, tmp_path_factory) -> Iterator[str]:
    from tests.security.attack_support import serve_live

    yield from serve_live(world, tmp_path_factory.mktemp("live"))


def _nested(depth: int = DEEP) -> str:
    return "[" * depth + "]" * depth


def _raw_exchange(base_url: str, request: bytes) -> bytes:
    """Send `request` bytes as they are and read the status line and headers of the answer."""
    parts = urlsplit(base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=15) as connection:
        # The server may answer and close before it has read everything.
        with contextlib.suppress(OSError):
            connection.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = connection.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer


def _status_of(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer.split(b" ", 2)[1])


def _live_still_serving(live: str) -> None:
    assert httpx.get(f"{live}/healthz", timeout=10).status_code == 200
    assert httpx.get(f"{live}/.well-known/jwt-vc-issuer/issuers/mois", timeout=10).status_code == 200


# -- bodies ---------------------------------------------------------------------------------------------


def test_a_10_mb_json_body(world) -> None:
    admin = world.bearer("platform:admin", "verifiers:admin")
    body = b'{"slug": "' + b"a" * TEN_MB + b'"}'
    response = world.client.post(
        "/admin/verifiers", content=body, headers={**admin, "content-type": "application/json"}
    )
    problem(response, 413)
    assert world.client.get("/admin/verifiers", headers=admin).status_code == 200


def test_a_10_mb_body_streamed_without_a_length(world, live) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(TEN_MB // 65536):
            yield b"a" * 65536

    response = httpx.post(
        f"{live}/verifiers/seoul-transport/response",
        content=chunks(),
        headers={"content-type": "application/x-www-form-urlencoded"},
        timeout=30,
    )
    assert response.status_code == 413, response.text
    _live_still_serving(live)


def test_a_content_length_of_31_digits(world, live) -> None:
    request = b"POST /admin/verifiers HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    request += b"Content-Length: " + b"9" * 31 + b"\r\n\r\n{}"
    assert _status_of(_raw_exchange(live, request)) in (400, 413)
    _live_still_serving(live)


def test_100_000_form_fields(world) -> None:
    _, request = world.check()
    fields = "&".join(f"f{i}=x" for i in range(100_000))
    body = f"state={request.claims['state']}&{fields}"
    response = world.client.post(
        request.claims["response_uri"], content=body, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert 400 <= response.status_code < 500, response.text
    still_serving(world)


# -- headers --------------------------------------------------------------------------------------------


def test_a_one_megabyte_header(world, live) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"a" * (1024 * 1024) + b"\r\n\r\n"
    assert _status_of(_raw_exchange(live, request)) == 431
    _live_still_serving(live)


def test_ten_thousand_headers(world, live) -> None:
    many = b"".join(b"X-Field-%d: v\r\n" % i for i in range(10_000))
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + many + b"\r\n"
    assert _status_of(_raw_exchange(live, request)) == 431
    _live_still_serving(live)


def test_a_200_kib_request_target(world, live) -> None:
    request = b"GET /healthz?" + b"q" * (200 * 1024) + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    assert _status_of(_raw_exchange(live, request)) in (414, 431)
    _live_still_serving(live)


def test_a_bearer_token_of_a_megabyte(world) -> None:
    response = world.client.get("/admin/verifiers", headers={"Authorization": "Bearer " + "a" * (1024 * 1024)})
    problem(response, 401)
    assert (
        world.client.get("/admin/verifiers", headers=world.bearer("platform:admin", "verifiers:admin")).status_code
        == 200
    )


# -- presentations --------------------------------------------------------------------------------------


def _refused(world: World, make, *reasons: str, detail: str | None = None) -> None:
    request_id, request = world.check()
    presentation_refused(world, request_id, world.post(request, make(request)), *reasons)
    if detail is not None:
        assert detail in world.result(request_id)["failure"]["detail"]
    still_serving(world)


def test_ten_thousand_disclosures(world) -> None:
    many = [disclosure(str(i), "c", 0) for i in range(10_000)]
    _refused(
        world, lambda r: world.bind(r, world.held.issuer_jwt, many), "limit_exceeded", detail="too many disclosures"
    )


def test_a_presentation_over_its_size_bound(world) -> None:
    bulky = disclosure("salt", "note", "x" * 300_000)
    chosen = [*world.disclosures("birth_date", "sub"), bulky]
    _refused(world, lambda r: world.bind(r, world.held.issuer_jwt, chosen), "limit_exceeded", detail="too large")


def test_a_vp_token_nested_10_000_deep(world) -> None:
    request_id, request = world.check()
    response = world.client.post(
        request.claims["response_uri"], data={"vp_token": _nested(), "state": request.claims["state"]}
    )
    presentation_refused(world, request_id, response, "malformed_vp_token")
    still_serving(world)


def test_a_vp_token_with_ten_thousand_credential_queries(world) -> None:
    request_id, request = world.check()
    vp_token = {f"q{i}": ["x~"] for i in range(10_000)}
    response = world.client.post(
        request.claims["response_uri"], data={"vp_token": json.dumps(vp_token), "state": request.claims["state"]}
    )
    assert response.status_code in (400, 413), response.text
    assert world.result(request_id).get("eligible") is not True
    still_serving(world)


def test_a_disclosure_nested_10_000_deep(world) -> None:
    deep = b64url(('["salt", "birth_date", ' + _nested() + "]").encode())
    chosen = [deep, *world.disclosures("sub")]
    _refused(world, lambda r: world.bind(r, world.held.issuer_jwt, chosen), "malformed_disclosure")


def _mois_raw(world: World, payload: bytes) -> str:
    """An issuer JWT over exactly these payload bytes, signed by MOIS's key."""
    return es256_raw({"typ": "dc+sd-jwt", "kid": world.mois_kid()}, payload, world.mois_private_key())


def _payload_with(world: World, name: str, raw_json: str) -> bytes:
    """The honest payload with one more claim whose JSON text is `raw_json`, verbatim."""
    text = json.dumps(world.held.payload)
    return (text[:-1] + f', "{name}": {raw_json}}}').encode()


def test_an_issuer_jwt_nested_10_000_deep(world) -> None:
    issuer_jwt = _mois_raw(world, _payload_with(world, "padding", _nested()))
    _refused(world, lambda r: world.bind(r, issuer_jwt), "malformed_issuer_jwt")


def test_an_issuer_jwt_over_its_size_bound(world) -> None:
    issuer_jwt = world.resign(padding="x" * 70_000)
    _refused(world, lambda r: world.bind(r, issuer_jwt), "malformed_issuer_jwt", "limit_exceeded")


def test_an_issuer_jwt_with_an_integer_of_5000_digits(world) -> None:
    issuer_jwt = _mois_raw(world, _payload_with(world, "household_size", "1" + "0" * 5000))
    _refused(world, lambda r: world.bind(r, issuer_jwt), "malformed_issuer_jwt")


def test_a_status_index_of_1e400(world) -> None:
    # 1e400 is valid JSON; Python reads it as infinity.
    payload = json.dumps(world.held.payload).replace('"idx": ', '"idx": 1e400, "was": ', 1).encode()
    _refused(world, lambda r: world.bind(r, _mois_raw(world, payload)), "malformed_status_list")


def _kb_over_raw_payload(world: World, request, payload_json: str) -> str:
    presented = world.held.issuer_jwt + "~" + "".join(d + "~" for d in world.disclosures("birth_date", "sub"))
    return _kb_over_raw_payload_for(world, request, presented, payload_json)


def _kb_over_raw_payload_for(world: World, request, presented: str, payload_json: str | None = None) -> str:
    """`presented` with a KB-JWT signed by the holder over exact payload bytes (`payload_json` added)."""
    payload_json = payload_json or f'"iat": {int(time.time())}'
    claims = {"aud": request.client_id, "nonce": request.claims["nonce"], "sd_hash": digest_of(presented)}
    text = json.dumps(claims)[:-1] + ", " + payload_json + "}"
    return presented + es256_raw({"typ": "kb+jwt"}, text.encode(), world.held.holder)


def test_a_key_binding_iat_of_1e400(world) -> None:
    _refused(world, lambda r: _kb_over_raw_payload(world, r, '"iat": 1e400'), "kb_iat_invalid")


def test_a_key_binding_with_an_integer_of_5000_digits(world) -> None:
    _refused(world, lambda r: _kb_over_raw_payload(world, r, '"iat": 1' + "0" * 5000), "kb_malformed")


def test_a_key_binding_nested_10_000_deep(world) -> None:
    payload = f'"iat": {int(time.time())}, "padding": {_nested()}'
    _refused(world, lambda r: _kb_over_raw_payload(world, r, payload), "kb_malformed")


def test_control_raw_signed_tokens_are_accepted_when_nothing_is_hostile(world) -> None:
    # The cases above sign exact bytes; the same signing with innocent bytes is accepted, so each
    # refusal above is the hostile number's or nesting's doing.
    request_id, request = world.check()
    issuer_jwt = _mois_raw(world, _payload_with(world, "note", '"ok"'))
    presented = issuer_jwt + "~" + "".join(d + "~" for d in world.disclosures("birth_date", "sub"))
    assert world.post(request, _kb_over_raw_payload_for(world, request, presented)).status_code == 200
    assert world.result(request_id)["eligible"] is True


@pytest.mark.parametrize(
    "path",
    [
        "/consent/log/entries?start=" + "9" * 30,
        "/consent/log/entries?start=0&limit=9223372036854775808",
        "/consent/log/proof/inclusion?tree_size=9223372036854775807&index=9223372036854775806",
        "/consent/log/proof/consistency?first=1e400&second=1e400",
    ],
    ids=["entries_start_10_to_the_30", "entries_limit_2_to_the_63", "inclusion_at_bigint_max", "consistency_1e400"],
)
def test_a_huge_integer_in_a_query(world, path) -> None:
    # Past PostgreSQL's bigint, or not an integer at all: refused before any query runs.
    problem(world.client.get(path), 400, 422)
    assert world.client.get("/consent/log/checkpoint").status_code == 200


# -- JSON bodies of the APIs ------------------------------------------------------------------------------


def _offer_body(raw_value: str) -> bytes:
    claims = (
        '{"income_basis": "nhis_premium", "household_scope": "own", "household_size": 1, '
        f'"income_pct_median": {raw_value}, "median_year": 2026, "assessed_month": "2026-10"}}'
    )
    return f'{{"subject": "citizen-1", "credential_type": "household_income", "claims": {claims}}}'.encode()


@pytest.mark.parametrize(
    "raw_value",
    ["1e400", "-1e400", "1" + "0" * 5000, _nested()],
    ids=["1e400", "minus_1e400", "ten_to_the_5000", "nested_10_000_deep"],
)
def test_an_offer_with_a_number_json_cannot_hold(world, raw_value) -> None:
    agency = world.bearer("agency:ssis", "credentials:offer")
    headers = {**agency, "content-type": "application/json"}
    response = world.client.post("/issuers/ssis/offers", content=_offer_body(raw_value), headers=headers)
    problem(response, 400, 422)
    honest = world.client.post("/issuers/ssis/offers", content=_offer_body("90"), headers=headers)
    assert honest.status_code == 201, honest.text


def test_an_admin_body_nested_10_000_deep(world) -> None:
    admin = world.bearer("platform:admin", "verifiers:admin")
    response = world.client.post(
        "/admin/verifiers", content=_nested(), headers={**admin, "content-type": "application/json"}
    )
    problem(response, 400, 422)
    assert world.client.get("/admin/verifiers", headers=admin).status_code == 200


def test_a_wallet_body_nested_10_000_deep(world) -> None:
    citizen = world.bearer("citizen:citizen-1", "wallet")
    body = ('{"offer": ' + _nested() + "}").encode()
    response = world.client.post(
        "/wallet/api/offers", content=body, headers={**citizen, "content-type": "application/json"}
    )
    problem(response, 400, 422)
    assert world.client.get("/wallet/api/credentials", headers=citizen).status_code == 200


def test_an_offer_link_larger_than_the_wallet_reads(world) -> None:
    citizen = world.bearer("citizen:citizen-1", "wallet")
    link = "openid-credential-offer://?credential_offer=" + "%7B" * 100_000
    response = world.client.post("/wallet/api/offers", json={"offer": link}, headers=citizen)
    problem(response, 400, 422)
    assert world.client.get("/wallet/api/credentials", headers=citizen).status_code == 200
