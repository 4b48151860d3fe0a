"""Token Status List attacks (draft-ietf-oauth-status-list-20) on the verifier's status check.

A credential says where its status list is (`status.status_list.uri`); whoever controls that address,
or sits in the way, serves the verifier what it likes. Here the list is served by an attacker's host
(`status.attacker.example`, an ASGI app behind the world's outbound transport) and the credential that
points there is re-signed by MOIS's own key, so the only thing wrong in each case is the list: signed
by someone else or edited after signing, for another address, expired, a decompression bomb, bits
nobody defined, an index past the end. Each is refused as `status_unavailable` (never trusted, never a
500), the detail says which check caught it, and an honest presentation is accepted right after. The
first test shows a well-formed list on that host is accepted, so every refusal is the attack's doing.
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Callable, Iterator
from itertools import count
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from keys.jwk import b64url_encode
from tests.security.attack_support import (
    MOIS,
    World,
    attacker_key,
    es256_raw,
    issue_honest_credential,
    open_world,
    presentation_refused,
    still_serving,
    unsigned,
)
from tests.verifiers.spec_vp_wallet import b64url
from vc.status_list import StatusList

HOST = "status.attacker.example"
_names = count()


class ListHost:
    """What the attacker's host answers at /lists/<name>: (HTTP status, content type, body)."""

    def __init__(self) -> None:
        self.answers: dict[str, tuple[int, str, bytes | str]] = {}

    def app(self) -> Starlette:
        def serve(request: Request) -> Response:
            status, media_type, body = self.answers[request.path_params["name"]]
            if status in (301, 302, 307):
                return RedirectResponse(str(body), status_code=status)
            return Response(body, status_code=status, media_type=media_type)

        return Starlette(routes=[Route("/lists/{name}", serve)])


@pytest.fixture(scope="module")
def world(tmp_path_factory, database_url, migrated_engine) -> Iterator[World]:
    for opened in open_world(tmp_path_factory, database_url, migrated_engine):
        opened.held = issue_honest_credential(opened)
        yield opened


@pytest.fixture(scope="module")
def host(world) -> ListHost:
    served = ListHost()
    world.hosts.add(HOST, served.app())
    return served


def _list_payload(uri: str, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    payload = {
        "sub": uri,
        "iat": now,
        "exp": now + 3600,
        "ttl": 300,
        "status_list": {"bits": 1, "lst": StatusList(1024, 1).compress()},
        **changes,
    }
    return {k: v for k, v in payload.items() if v is not None}


def _json(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


def _mois_list(world: World, uri: str, typ: str = "statuslist+jwt", **changes: Any) -> str:
    """A status list token signed by MOIS's own key (the credential's issuer)."""
    return world.platform.keyring.sign(MOIS, _list_payload(uri, **changes), typ=typ)


def _presented_with_list(
    world: World, host: ListHost, make: Callable[[str], bytes | str], *, status: int = 200, idx: int = 3
) -> tuple[str, Any]:
    name = f"list-{next(_names)}"  # a fresh address per case: nothing cached from another
    uri = f"http://{HOST}/lists/{name}"
    host.answers[name] = (status, "application/statuslist+jwt", make(uri))
    issuer_jwt = world.resign(status={"status_list": {"idx": idx, "uri": uri}})
    request_id, request = world.check()
    return request_id, world.post(request, world.bind(request, issuer_jwt))


def _list_refused(world: World, host: ListHost, make: Callable[[str], bytes | str], detail: str, **kw: Any) -> None:
    request_id, response = _presented_with_list(world, host, make, **kw)
    presentation_refused(world, request_id, response, "status_unavailable")
    assert detail in world.result(request_id)["failure"]["detail"], world.result(request_id)["failure"]
    still_serving(world)


def test_control_a_well_formed_list_on_the_attackers_host_is_accepted(world, host) -> None:
    request_id, response = _presented_with_list(world, host, lambda uri: _mois_list(world, uri))
    assert response.status_code == 200, response.text
    assert world.result(request_id)["eligible"] is True


# -- the referenced token's index -----------------------------------------------------------------------


@pytest.mark.parametrize("idx", [1024, 10**30], ids=["one_past_the_end", "ten_to_the_30"])
def test_an_index_past_the_end_of_the_list(world, host, idx) -> None:
    _list_refused(world, host, lambda uri: _mois_list(world, uri), "outside the status list", idx=idx)


@pytest.mark.parametrize("idx", [-1, "3", True], ids=["negative", "string", "boolean"])
def test_an_index_of_the_wrong_kind(world, idx) -> None:
    status = {"status_list": {"idx": idx, "uri": world.held.payload["status"]["status_list"]["uri"]}}
    issuer_jwt = world.resign(status=status)
    request_id, request = world.check()
    response = world.post(request, world.bind(request, issuer_jwt))
    presentation_refused(world, request_id, response, "malformed_status_list")
    still_serving(world)


# -- the list's signature and identity -------------------------------------------------------------------


def test_a_list_signed_by_a_stranger_under_the_issuers_kid(world, host) -> None:
    def make(uri: str) -> str:
        header = {"typ": "statuslist+jwt", "kid": world.mois_kid()}
        return es256_raw(header, _json(_list_payload(uri)), attacker_key())

    _list_refused(world, host, make, "signature verification failed")


def test_a_genuine_list_edited_after_signing(world, host) -> None:
    # MOIS's list says index 3 is revoked; the attacker clears the bit and keeps the signature.
    def make(uri: str) -> str:
        revoked = StatusList(1024, 1)
        revoked.set(3, 1)
        header, _, signature = _mois_list(world, uri, status_list={"bits": 1, "lst": revoked.compress()}).split(".")
        return f"{header}.{b64url(_json(_list_payload(uri)))}.{signature}"

    _list_refused(world, host, make, "signature verification failed")


def test_a_list_signed_by_another_trusted_issuer(world, host) -> None:
    world.platform.keyring.ensure_key("agency:nts")
    make = lambda uri: world.platform.keyring.sign("agency:nts", _list_payload(uri), typ="statuslist+jwt")  # noqa: E731
    _list_refused(world, host, make, "is not (uniquely) in the issuer's key set")


def test_a_list_with_alg_none(world, host) -> None:
    make = lambda uri: unsigned({"typ": "statuslist+jwt", "kid": world.mois_kid()}, _list_payload(uri))  # noqa: E731
    _list_refused(world, host, make, "not allowed")


def test_the_issuers_genuine_list_served_at_another_address(world, host) -> None:
    # A real, well-signed MOIS list for another URI (its `sub`), replayed where the credential points.
    real_uri = world.held.payload["status"]["status_list"]["uri"]
    genuine = world.client.get(real_uri).text
    _list_refused(world, host, lambda uri: genuine, "sub does not equal")


@pytest.mark.parametrize("typ", ["JWT", "dc+sd-jwt"])
def test_a_list_of_the_wrong_type(world, host, typ) -> None:
    _list_refused(world, host, lambda uri: _mois_list(world, uri, typ=typ), "typ must be")


# -- the list's time ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "detail"),
    [
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"iat": int(time.time()) + 3600}, "in the future"),
        ({"nbf": int(time.time()) + 3600}, "not valid yet"),
        ({"iat": None}, "no iat"),
        ({"ttl": 0}, "ttl must be a positive"),
        ({"ttl": -300}, "ttl must be a positive"),
        ({"exp": "tomorrow"}, "exp must be a number"),
    ],
    ids=["expired", "issued_in_the_future", "not_yet_valid", "without_iat", "ttl_zero", "ttl_negative", "exp_text"],
)
def test_a_list_outside_its_time(world, host, changes, detail) -> None:
    _list_refused(world, host, lambda uri: _mois_list(world, uri, **changes), detail)


def test_a_cached_list_is_not_trusted_past_its_own_exp(world, host) -> None:
    # Status List §8.3 (issue 14 defect 2): a list fetched within the clock skew of its `exp` may
    # answer once; when the refresh then fails, the cached token has expired and is not used again.
    name = f"list-{next(_names)}"
    uri = f"http://{HOST}/lists/{name}"
    host.answers[name] = (200, "application/statuslist+jwt", _mois_list(world, uri, exp=int(time.time()) - 30))
    issuer_jwt = world.resign(status={"status_list": {"idx": 3, "uri": uri}})
    _, first = world.check()
    assert world.post(first, world.bind(first, issuer_jwt)).status_code == 200
    host.answers[name] = (503, "text/plain", b"down")
    request_id, request = world.check()
    presentation_refused(world, request_id, world.post(request, world.bind(request, issuer_jwt)), "status_unavailable")
    still_serving(world)


def test_a_revoked_credentials_list_with_a_ttl_of_1e400(world, host) -> None:
    # 1e400 is a JSON number Python reads as infinity (issue 14 defect 2: an OverflowError, 500):
    # the list is read, its ttl clamped, and the revocation it carries is honoured.
    def make(uri: str) -> str:
        revoked = StatusList(1024, 1)
        revoked.set(3, 1)
        payload = json.dumps(_list_payload(uri, status_list={"bits": 1, "lst": revoked.compress()}))
        payload = payload.replace('"ttl": 300', '"ttl": 1e400')
        return es256_raw({"typ": "statuslist+jwt", "kid": world.mois_kid()}, payload.encode(), world.mois_private_key())

    request_id, response = _presented_with_list(world, host, make)
    presentation_refused(world, request_id, response, "credential_revoked")
    still_serving(world)


# -- the list's content ---------------------------------------------------------------------------------


def test_a_zlib_bomb_in_lst(world, host) -> None:
    # 20 MiB of zeros compress to ~20 KB: well under every size bound until it is inflated.
    bomb = b64url_encode(zlib.compress(bytes(20 * 1024 * 1024), 9))
    assert len(bomb) < 40_000
    make = lambda uri: _mois_list(world, uri, status_list={"bits": 1, "lst": bomb})  # noqa: E731
    _list_refused(world, host, make, "decompresses to more than")


@pytest.mark.parametrize(
    ("bits", "detail"),
    [(16, "bits must be"), (2**64, "bits must be"), ("1", "{bits, lst}")],
    ids=["sixteen", "two_to_the_64", "text"],
)
def test_bits_nobody_defined(world, host, bits, detail) -> None:
    make = lambda uri: _mois_list(world, uri, status_list={"bits": bits, "lst": StatusList(8, 1).compress()})  # noqa: E731
    _list_refused(world, host, make, detail)


@pytest.mark.parametrize(
    "lst",
    [b64url_encode(b"not zlib at all"), b64url_encode(zlib.compress(bytes(128))[:-3]), "!!not base64!!"],
    ids=["not_zlib", "truncated_zlib", "not_base64url"],
)
def test_an_lst_that_is_not_a_compressed_list(world, host, lst) -> None:
    make = lambda uri: _mois_list(world, uri, status_list={"bits": 1, "lst": lst})  # noqa: E731
    _list_refused(world, host, make, "lst")


def test_a_list_larger_than_the_bound(world, host) -> None:
    # 5 MiB: more than any status list token the verifier reads (4 MiB).
    _list_refused(world, host, lambda uri: b"A" * (5 * 1024 * 1024), "larger than")


def test_a_redirect_instead_of_a_list(world, host) -> None:
    real_uri = world.held.payload["status"]["status_list"]["uri"]
    _list_refused(world, host, lambda uri: real_uri, "HTTP 302", status=302)


def test_an_error_page_instead_of_a_list(world, host) -> None:
    _list_refused(world, host, lambda uri: b"<html>maintenance</html>", "HTTP 503", status=503)
