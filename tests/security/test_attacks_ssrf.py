"""SSRF through every URL a client supplies, in production mode (development=False), where the
development exceptions (http, loopback, any port) no longer apply.

The platform's public URL is a public IP literal (https://93.184.215.14), so the whole platform works in
production mode without DNS: its issuers, status lists, request objects and consent ledger are
reached over that address, which the world's outbound transport routes to the app. Every other host an
attack names would be routed there too if it were ever contacted, so each case also checks that no
outbound request went anywhere but the public address.

The URLs: a verifier's callback URL and registered redirect_uri, a credential_offer_uri and a
credential_issuer (issuer metadata) pasted into the wallet, a request_uri opened by the wallet, the
response_uri of a certified verifier's request, a credential's status list URI, a trusted issuer's
identifier and the jwks_uri its metadata names. The address forms: loopback, link-local (the cloud
metadata address), 0.0.0.0, private ranges, IPv6 that embeds an IPv4 address (mapped, compatible,
NAT64, 6to4, Teredo), integer, octal, hex and short IPv4 hosts, userinfo tricks, http, other ports,
internal names, other schemes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.security.attack_support import (
    SERVICE,
    World,
    issue_honest_credential,
    open_world,
    presentation_refused,
    problem,
    still_serving,
)

PUBLIC_HOST = "93.184.215.14"
PUBLIC_URL = f"https://{PUBLIC_HOST}"
# Another public address: an issuer of the attacker's whose metadata names where its keys are.
ATTACKER_ISSUER_HOST = "93.184.216.34"

FORMS: dict[str, str] = {
    "loopback": "https://127.0.0.1/x",
    "localhost": "https://localhost/x",
    "localhost_trailing_dot": "https://localhost./x",
    "loopback_trailing_dot": "https://127.0.0.1./x",
    "internal_name_trailing_dot": "https://metadata.google.internal./x",
    "ipv6_loopback": "https://[::1]/x",
    "cloud_metadata": "https://169.254.169.254/latest/meta-data/",
    "unspecified": "https://0.0.0.0/x",
    "private": "https://10.0.0.7/x",
    "ipv4_mapped": "https://[::ffff:127.0.0.1]/x",
    "ipv4_mapped_hex": "https://[::ffff:a9fe:a9fe]/x",
    "ipv4_compatible": "https://[::127.0.0.1]/x",
    "nat64": "https://[64:ff9b::a9fe:a9fe]/x",
    "sixtofour": "https://[2002:7f00:1::1]/x",
    "teredo": "https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/x",
    "ipv6_link_local": "https://[fe80::1]/x",
    "integer": "https://2130706433/x",
    "octal": "https://0177.0.0.1/x",
    "hex": "https://0x7f000001/x",
    "short": "https://127.1/x",
    "userinfo_then_loopback": f"https://{PUBLIC_HOST}@127.0.0.1/x",
    "userinfo_credentials": f"https://user:secret@{PUBLIC_HOST}/x",
    "http": f"http://{PUBLIC_HOST}/x",
    "other_port": f"https://{PUBLIC_HOST}:8443/x",
    "internal_name": "https://metadata.google.internal/x",
    "file_scheme": "file:///etc/passwd",
}
# The forms tried on the URLs that cost a presentation or a fetch to reach.
FETCHED = ["loopback", "cloud_metadata", "unspecified", "ipv4_mapped", "integer", "userinfo_then_loopback", "http"]


@pytest.fixture(scope="module")
def world(tmp_path_factory, database_url, migrated_engine) -> Iterator[World]:
    for opened in open_world(tmp_path_factory, database_url, migrated_engine, development=False, public_url=PUBLIC_URL):
        assert opened.platform.settings.development is False
        opened.held = issue_honest_credential(opened)
        yield opened


class Outbound:
    """Watches the world's outbound requests from the start of a case."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.start = len(world.hosts.requests)

    def only_public(self) -> None:
        hosts = {r.url.host for r in self.world.hosts.requests[self.start :]}
        assert hosts <= {PUBLIC_HOST}, f"an outbound request went to {hosts - {PUBLIC_HOST}}"


def _reason(response) -> str:
    body = problem(response)
    return body.get("reason", "")


# -- URLs a verifier registers ------------------------------------------------------------------------


@pytest.mark.parametrize("url", list(FORMS.values()), ids=list(FORMS))
def test_a_callback_url(world, url) -> None:
    watch = Outbound(world)
    body = {"service_id": SERVICE, "callback_url": url}
    response = world.client.post("/verifiers/requests", json=body, headers=world.backend)
    assert response.status_code == 422 and _reason(response) == "unsafe_url", response.text
    public = world.client.post(
        "/verifiers/requests", json={**body, "callback_url": f"{PUBLIC_URL}/callbacks"}, headers=world.backend
    )
    assert public.status_code == 201, public.text
    watch.only_public()


@pytest.mark.parametrize("url", list(FORMS.values()), ids=list(FORMS))
def test_a_registered_redirect_uri(world, url) -> None:
    admin = world.bearer("platform:admin", "verifiers:admin")
    slug = f"ssrf-{abs(hash(url)) % 10**8}"
    body = {"slug": slug, "name": {"ko": "가", "en": "A"}, "services": [SERVICE], "redirect_uri": url}
    response = world.client.post("/admin/verifiers", json=body, headers=admin)
    assert response.status_code == 422 and _reason(response) == "unsafe_url", response.text
    assert slug not in world.client.get("/admin/verifiers", headers=admin).text


# -- URLs pasted into the wallet ------------------------------------------------------------------------


def _citizen(world: World) -> dict[str, str]:
    return world.bearer("citizen:citizen-1", "wallet")


def _wallet_refused(world: World, path: str, body: dict[str, Any], *reasons: str) -> None:
    watch = Outbound(world)
    response = world.client.post(path, json=body, headers=_citizen(world))
    assert response.status_code == 400, response.text
    assert _reason(response) in reasons, response.text
    watch.only_public()
    assert world.client.get("/wallet/api/credentials", headers=_citizen(world)).status_code == 200


@pytest.mark.parametrize("form", FETCHED)
def test_a_credential_offer_uri(world, form) -> None:
    link = f"openid-credential-offer://?credential_offer_uri={quote(FORMS[form], safe='')}"
    _wallet_refused(world, "/wallet/api/offers", {"offer": link}, "unsafe_url")


@pytest.mark.parametrize("form", FETCHED)
def test_a_credential_issuer_whose_metadata_would_be_fetched(world, form) -> None:
    offer = {
        "credential_issuer": FORMS[form].rsplit("/", 1)[0],
        "credential_configuration_ids": ["resident_registration"],
        "grants": {"urn:ietf:params:oauth:grant-type:pre-authorized_code": {"pre-authorized_code": "abc"}},
    }
    link = f"openid-credential-offer://?credential_offer={quote(json.dumps(offer), safe='')}"
    _wallet_refused(world, "/wallet/api/offers", {"offer": link}, "unsafe_url")


@pytest.mark.parametrize("form", FETCHED)
def test_a_request_uri(world, form) -> None:
    client_id = quote(f"x509_san_dns:{PUBLIC_HOST}", safe="")
    link = f"openid4vp://?client_id={client_id}&request_uri={quote(FORMS[form], safe='')}"
    _wallet_refused(world, "/wallet/api/sharing-requests", {"request": link}, "unsafe_request_uri")


def test_the_wallet_opens_an_honest_request_in_production(world) -> None:
    # The control for the request_uri cases: the same endpoint fetches a public request_uri.
    created = world.client.post("/verifiers/requests", json={"service_id": SERVICE}, headers=world.backend).json()
    opened = world.client.post(
        "/wallet/api/sharing-requests", json={"request": created["link"]}, headers=_citizen(world)
    )
    assert opened.status_code == 200, opened.text


@pytest.mark.parametrize("dns_name", ["127.0.0.1", "localhost", "169.254.169.254"])
def test_a_certified_verifier_whose_response_uri_is_local(world, dns_name) -> None:
    # A verifier registered under a local name gets an RP certificate for it, so its request object
    # verifies; the wallet must still refuse to post a citizen's presentation to that address.
    admin = world.bearer("platform:admin", "verifiers:admin")
    slug = "local-" + dns_name.replace(".", "-")
    body = {"slug": slug, "name": {"ko": "가", "en": "A"}, "services": [SERVICE], "dns_name": dns_name}
    registered = world.client.post("/admin/verifiers", json=body, headers=admin)
    if registered.status_code != 201:  # refusing the name at registration is as good a refusal
        problem(registered, 422)
        return
    backend = world.bearer(f"verifier:{slug}", "presentations:request")
    created = world.client.post("/verifiers/requests", json={"service_id": SERVICE}, headers=backend).json()
    _wallet_refused(world, "/wallet/api/sharing-requests", {"request": created["link"]}, "unsafe_response_uri")


@pytest.mark.parametrize("dns_name", ["127.0.0.1", "localhost", "169.254.169.254", "10.0.0.7", "localhost."])
def test_the_rp_ca_certifies_no_local_name_outside_development(world, dns_name) -> None:
    # A certificate for a local name would make a request object verify whose response_uri points
    # inside our network: refused at registration, and nothing registered.
    admin = world.bearer("platform:admin", "verifiers:admin")
    slug = "cert-" + dns_name.strip(".").replace(".", "-")
    body = {"slug": slug, "name": {"ko": "가", "en": "A"}, "services": [SERVICE], "dns_name": dns_name}
    problem(world.client.post("/admin/verifiers", json=body, headers=admin), 422)
    assert slug not in world.client.get("/admin/verifiers", headers=admin).text


# -- URLs inside a credential and the issuer's metadata ---------------------------------------------------------


@pytest.mark.parametrize("form", FETCHED)
def test_a_status_list_uri(world, form) -> None:
    watch = Outbound(world)
    issuer_jwt = world.resign(status={"status_list": {"idx": 3, "uri": FORMS[form]}})
    request_id, request = world.check()
    presentation_refused(world, request_id, world.post(request, world.bind(request, issuer_jwt)), "status_unavailable")
    watch.only_public()
    still_serving(world)


def _trusted_issuer_presented(world: World, iss: str):
    admin = world.bearer("platform:admin", "verifiers:admin")
    vct = world.held.payload["vct"]
    world.client.post("/admin/trusted-issuers", json={"issuer": iss, "vcts": [vct]}, headers=admin)
    watch = Outbound(world)
    issuer_jwt = world.resign(iss=iss)
    request_id, request = world.check()
    response = world.post(request, world.bind(request, issuer_jwt))
    return watch, request_id, response


@pytest.mark.parametrize("form", ["loopback", "cloud_metadata", "ipv4_mapped", "integer"])
def test_a_trusted_issuer_identifier(world, form) -> None:
    # Whether or not an administrator may enter it, the platform never fetches metadata from it.
    admin = world.bearer("platform:admin", "verifiers:admin")
    iss = FORMS[form].rsplit("/", 1)[0] + "/issuers/mois"
    watch, request_id, response = _trusted_issuer_presented(world, iss)
    presentation_refused(world, request_id, response, "issuer_keys_unavailable", "issuer_not_trusted")
    watch.only_public()
    world.client.delete("/admin/trusted-issuers", params={"issuer": iss}, headers=admin)
    still_serving(world)


@pytest.fixture(scope="module")
def attacker_issuer(world) -> str:
    """A public issuer of the attacker's: its metadata says its keys are at a jwks_uri it chooses."""
    answers: dict[str, str] = {}

    def metadata(request) -> JSONResponse:
        name = request.path_params["name"]
        return JSONResponse({"issuer": f"https://{ATTACKER_ISSUER_HOST}/issuers/{name}", "jwks_uri": answers[name]})

    world.hosts.add(
        ATTACKER_ISSUER_HOST, Starlette(routes=[Route("/.well-known/jwt-vc-issuer/issuers/{name}", metadata)])
    )
    world.attacker_jwks_uris = answers  # type: ignore[attr-defined]
    return f"https://{ATTACKER_ISSUER_HOST}/issuers"


@pytest.mark.parametrize("form", ["loopback", "cloud_metadata", "ipv4_mapped", "octal", "http"])
def test_a_jwks_uri_in_issuer_metadata(world, attacker_issuer, form) -> None:
    name = f"keys-{form.replace('_', '-')}"
    world.attacker_jwks_uris[name] = FORMS[form]
    iss = f"{attacker_issuer}/{name}"
    watch, request_id, response = _trusted_issuer_presented(world, iss)
    presentation_refused(world, request_id, response, "issuer_keys_unavailable")
    hosts = {r.url.host for r in world.hosts.requests[watch.start :]}
    assert hosts <= {PUBLIC_HOST, ATTACKER_ISSUER_HOST}, hosts  # the metadata, never the jwks_uri it names
    still_serving(world)
