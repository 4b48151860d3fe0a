"""What the attack corpus shares: one app per test module ("a world"), a real credential issued over
OpenID4VCI, checks opened by a verifier backend, and the forgeries' raw material.

A world is built once per module, not per test: every case is a refusal that changes nothing a later
case depends on, and rebuilding the platform, its keys and a credential for each of ~75 cases would
cost over a minute. It is the `client` fixture's app (tests/conftest.py) over the same migrated
database, with one difference: outbound HTTP goes through `tests.wallet.hosts.Hosts`, so a case can
put an attacker's server (a status list, issuer metadata) on a host name of its own, while every other
host still reaches the app.

Forgeries are signed with real keys: the issuer's own key from the keyring where the attack is a
well-signed token with a poisonous header or claim, an attacker's fresh key where it is a stranger's
signature, and no signature only where the attack is its absence.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from keys.jwk import b64url_encode
from seoul_wallet.app import Platform, build_platform, create_app
from seoul_wallet.bootstrap import prepare
from seoul_wallet.settings import Settings
from tests.conftest import AppTransport, bearer_for
from tests.live_servers import (
    empty_all_tables,
    free_port,
    server_environment,
    start_server,
    stop_server,
    wait_until_ready,
)
from tests.verifiers.conftest import CredentialFactory, birth_date_for_age, youth_claims
from tests.verifiers.spec_vp_wallet import HeldCredential, Request, b64url, fetch_request, present, respond
from tests.wallet.hosts import Hosts

# K-Pass youth (seoul-transport) needs one credential, the resident registration: the cheapest
# complete presentation there is, so a follow-up honest answer costs little.
SERVICE = "k_pass_youth"
VERIFIER = "seoul-transport"
QUERY_ID = "resident_registration"
MOIS = "agency:mois"


# -- raw JWS, for what the project's signer refuses to make -------------------------------------------


def compact(header: dict[str, Any], payload: dict[str, Any] | bytes, signature: bytes = b"") -> str:
    """A compact JWS from parts: `payload` as JSON, or as exact bytes (for numbers JSON cannot round-trip)."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return f"{b64url(json.dumps(header).encode())}.{b64url(body)}.{b64url(signature)}"


def unsigned(header: dict[str, Any], payload: dict[str, Any]) -> str:
    """`alg: none`: the attack is the missing signature."""
    return compact({**header, "alg": "none"}, payload)


def hs256(header: dict[str, Any], payload: dict[str, Any], secret: bytes) -> str:
    """HMAC-SHA256 keyed with `secret`: the algorithm-confusion attack signs with the issuer's PUBLIC key bytes."""
    signing_input = compact({**header, "alg": "HS256"}, payload).rsplit(".", 1)[0]
    mac = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def es256_raw(header: dict[str, Any], payload: bytes, key: ec.EllipticCurvePrivateKey) -> str:
    """A real ES256 signature over a payload given as bytes (PyJWT would re-serialise it), and over
    the header exactly as given (`alg` defaults to ES256; a hostile `alg` value is signed as it is)."""
    signing_input = compact({"alg": "ES256", **header}, payload).rsplit(".", 1)[0]
    r, s = decode_dss_signature(key.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{b64url_encode(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def attacker_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def disclosure(*content: Any) -> str:
    """An encoded disclosure `[salt, name, value]` or `[salt, value]` exactly as given."""
    return b64url(json.dumps(list(content)).encode())


def digest_of(encoded: str) -> str:
    return b64url(hashlib.sha256(encoded.encode("ascii")).digest())


def with_kb(presented: str, holder: ec.EllipticCurvePrivateKey, headers: dict[str, Any] | None = None, **claims) -> str:
    """`presented` (ending in `~`) with a KB-JWT over it; `claims` replace or add KB-JWT claims."""
    payload = {"sd_hash": digest_of(presented), **claims}
    return presented + jwt.encode(payload, holder, algorithm="ES256", headers={"typ": "kb+jwt", **(headers or {})})


# -- the world ----------------------------------------------------------------------------------------


@dataclass
class World:
    platform: Platform
    app: Any
    client: TestClient
    hosts: Hosts
    held: HeldCredential | None = None
    _headers: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)

    def bearer(self, subject: str, *scopes: str) -> dict[str, str]:
        key = (subject, " ".join(scopes))
        if key not in self._headers:
            self._headers[key] = bearer_for(self.client, self.platform, subject, list(scopes))
        return self._headers[key]

    @property
    def backend(self) -> dict[str, str]:
        return self.bearer(f"verifier:{VERIFIER}", "presentations:request")

    @property
    def public_url(self) -> str:
        return self.platform.settings.public_url

    def check(self) -> tuple[str, Request]:
        """A new K-Pass check by the transport office's backend, as its wallet-facing request."""
        created = self.client.post("/verifiers/requests", json={"service_id": SERVICE}, headers=self.backend)
        assert created.status_code == 201, created.text
        body = created.json()
        request = fetch_request(body["link"], self.client, self.client.get("/verifiers/rp-ca.pem").content)
        return body["request_id"], request

    def result(self, request_id: str) -> dict[str, Any]:
        return self.client.get(f"/verifiers/requests/{request_id}", headers=self.backend).json()

    def post(self, request: Request, presentation: str, query_id: str = QUERY_ID) -> httpx.Response:
        return respond(request, {query_id: [presentation]}, self.client)

    def honest(self, request: Request, held: HeldCredential | None = None) -> str:
        held = held or self.held
        assert held is not None
        return present(held, ["birth_date", "sub"], aud=request.client_id, nonce=request.claims["nonce"])

    def disclosures(self, *names: str) -> list[str]:
        """The honest credential's encoded disclosures for these claim names."""
        assert self.held is not None
        return [self.held.disclosures[name][0] for name in names]

    def bind(self, request: Request, issuer_jwt: str, disclosures: list[str] | None = None, **kb: Any) -> str:
        """`issuer_jwt` with `disclosures` (default: the honest birth_date and sub) and a KB-JWT made by
        the honest holder for `request`; `kb` replaces or adds KB-JWT claims."""
        assert self.held is not None
        chosen = self.disclosures("birth_date", "sub") if disclosures is None else disclosures
        presented = issuer_jwt + "~" + "".join(d + "~" for d in chosen)
        claims = {"aud": request.client_id, "nonce": request.claims["nonce"], "iat": int(time.time()), **kb}
        return with_kb(presented, self.held.holder, **claims)

    def resign(self, held: HeldCredential | None = None, *, headers: dict[str, Any] | None = None, **changes) -> str:
        """The issuer JWT re-signed by MOIS's own key with changed claims (None deletes one)."""
        held = held or self.held
        assert held is not None
        payload = {k: v for k, v in {**held.payload, **changes}.items() if v is not None}
        # Signed over raw bytes: PyJWT refuses to encode claims of the wrong type (an `iss` array).
        header = {"typ": "dc+sd-jwt", "kid": self.mois_kid(), **(headers or {})}
        return es256_raw(header, json.dumps(payload).encode(), self.mois_private_key())

    def mois_private_key(self) -> ec.EllipticCurvePrivateKey:
        return self.platform.keyring.active_key(MOIS).private_key  # type: ignore[return-value]

    def mois_kid(self) -> str:
        return self.platform.keyring.active_key(MOIS).kid


def open_world(
    tmp_path_factory: pytest.TempPathFactory, database_url: str, engine: Engine, **changes
) -> Iterator[World]:
    """An app over the migrated test database, as the `client` fixture builds it, once per module.
    `changes` override settings (e.g. development=False, public_url=https://… for production)."""
    values: dict[str, Any] = {
        "data_dir": tmp_path_factory.mktemp("world"),
        "database_url": database_url,
        "master_key": b64url_encode(secrets.token_bytes(32)),
        "public_url": "http://127.0.0.1:8000",
        "development": True,
        "callback_worker": False,
        "wallet_status_refresh_seconds": 0,
    }
    # The corpus opens hundreds of checks and asks for tokens within seconds; the limits that would
    # slow that have their own tests (test_rate_limits.py), so a world's limits are out of reach.
    values |= {name: "100000/minute" for name in Settings.model_fields if name.startswith("rate_limit_")}
    settings = Settings(**{**values, **changes})
    empty_all_tables(engine)
    platform = build_platform(settings, engine)
    to_app = AppTransport()
    hosts = Hosts({}, fallback=to_app)
    platform.http = httpx.Client(transport=hosts)
    prepare(platform)
    app = create_app(platform=platform)
    base_url = settings.public_url
    to_app.client = TestClient(app, base_url=base_url)
    platform.provider_transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    with TestClient(app, base_url=base_url) as client:
        yield World(platform=platform, app=app, client=client, hosts=hosts)
    empty_all_tables(engine)


def issue_honest_credential(world: World, subject: str = "citizen-1") -> HeldCredential:
    """A resident registration of a 27-year-old (K-Pass youth: 19 to 34), issued over the real
    OpenID4VCI endpoints."""
    factory = CredentialFactory(world.client, world.platform)
    claims = youth_claims(resident_registration={"birth_date": birth_date_for_age(27)})["resident_registration"]
    return factory.issue("resident_registration", claims, subject)


# -- outcomes -----------------------------------------------------------------------------------------


def refused(response: httpx.Response, *reasons: str, status: int = 400) -> dict[str, Any]:
    """A protocol refusal (OAuth-style `{"error": …}`) whose reason is one of `reasons` (any when none)."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    body = response.json()
    assert body["error"] == "invalid_request", body
    if reasons:
        assert body["error_description"].split(":")[0] in reasons, body
    return body


def problem(response: httpx.Response, *statuses: int) -> dict[str, Any]:
    """An RFC 9457 problem with one of `statuses` (any 4xx when none)."""
    assert (response.status_code in statuses) if statuses else (400 <= response.status_code < 500), (
        response.status_code,
        response.text[:500],
    )
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    return response.json()


def presentation_refused(world: World, request_id: str, response: httpx.Response, *reasons: str) -> None:
    """Refused with one of `reasons`, recorded for the backend, and nothing decided eligible."""
    body = refused(response, *reasons)
    result = world.result(request_id)
    assert result.get("eligible") is not True and "decision" not in result, result
    assert result["failure"]["reason"] == body["error_description"].split(":")[0]


def still_serving(world: World) -> None:
    """The follow-up that must succeed: a fresh check, answered honestly, is decided eligible."""
    request_id, request = world.check()
    response = world.post(request, world.honest(request))
    assert response.status_code == 200, response.text
    assert world.result(request_id)["eligible"] is True


# -- a live server over a world's database ------------------------------------------------------------


def serve_live(world: World, tmp_path: Path) -> Iterator[str]:
    """A real `seoul-wallet serve` (one worker) over the world's database and master key, for the
    attacks a TestClient cannot make (oversized header sections, a body streamed without a length)."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = server_environment(
        world.platform.settings,
        base_url,
        tmp_path,
        SEOUL_WALLET_CALLBACK_WORKER="false",
        SEOUL_WALLET_WALLET_STATUS_REFRESH_SECONDS="0",
    )
    process = start_server(env, port)
    try:
        wait_until_ready(process, base_url)
        yield base_url
    finally:
        stop_server(process)
