"""The verifier's in-process pipeline: what a presentation costs without HTTP, the database or the ledger.

Two measurements, each on one core with caches warm as in a running verifier:
- one credential (resident registration, ES256, KB-JWT) through the checks the response endpoint
  runs per credential: SD-JWT VC verification with the trusted-issuer registry's keys, the
  registry's vct check, the status list (cached within its ttl), the DCQL query, the policy;
- the full youth-allowance presentation (6 credentials) through `PresentationChecks.check`, the
  response endpoint's own code (12 signatures, 6 status checks, the applicant, DCQL, policy, the
  grant) and the signing of its decision: the line the HTTP path is measured against (issue 15).
Raw ES256 verifications with `cryptography` are measured in the same run.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx


def rate(fn: Callable[[], object], seconds: float) -> float:
    n, start = 0, time.perf_counter()
    while True:
        for _ in range(20):
            fn()
        n += 20
        now = time.perf_counter()
        if now - start >= seconds:
            return n / (now - start)


@contextmanager
def in_process_platform() -> Iterator[tuple[Any, Any, Any]]:
    """A platform over SQLite in a temp dir, its app and a TestClient routed into it (also as the
    platform's outbound HTTP, so status lists and issuer keys are fetched from the same app)."""
    from fastapi.testclient import TestClient

    from keys.jwk import b64url_encode
    from seoul_wallet.app import build_platform, create_app
    from seoul_wallet.bootstrap import prepare
    from seoul_wallet.settings import Settings
    from tests.conftest import AppTransport

    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings(
            data_dir=Path(scratch),
            master_key=b64url_encode(secrets.token_bytes(32)),
            public_url="http://127.0.0.1:8000",
            development=True,
            callback_worker=False,
        )
        platform = build_platform(settings)
        platform.http = httpx.Client(transport=(transport := AppTransport()))
        prepare(platform)
        app = create_app(platform=platform)
        client = transport.client = TestClient(app)
        try:
            yield platform, app, client
        finally:
            client.close()
            platform.engine.dispose()


def _bearer(platform: Any, client: Any, subject: str, scopes: list[str]) -> dict[str, str]:
    from auth.clients import register_client

    creds = register_client(platform.engine, subject, scopes)
    answer = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(creds.client_id, creds.client_secret)
    )
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def _issue(platform: Any, client: Any, claims_by_type: dict[str, dict[str, Any]]) -> list[Any]:
    from tests.issuers.spec_wallet import receive
    from tests.verifiers.conftest import AGENCY_OF
    from tests.verifiers.spec_vp_wallet import HeldCredential

    held = []
    for type_id, claims in claims_by_type.items():
        agency = AGENCY_OF[type_id]
        offer = client.post(
            f"/issuers/{agency}/offers",
            json={"subject": "bench-citizen", "credential_type": type_id, "claims": claims},
            headers=_bearer(platform, client, f"agency:{agency}", ["credentials:offer"]),
        ).json()
        issuance = receive(offer["offer_link"], client)
        held.append(HeldCredential(issuance.credential, issuance.holder.private))
    return held


def one_credential(platform: Any, app: Any, client: Any) -> Callable[[], bool]:
    """What verifiers/presentation_checks.py does for one credential, minus the consent write."""
    from eligibility.policies import HeldCredential as PolicyInput
    from eligibility.policies import evaluate
    from tests.verifiers.conftest import youth_claims
    from tests.verifiers.spec_vp_wallet import present
    from vc import sd_jwt_vc
    from vc.dcql import check_presentation
    from vc.status_list import status_reference

    (held,) = _issue(platform, client, {"resident_registration": youth_claims()["resident_registration"]})
    service = app.state.verifiers
    policy = service.policies["climate_card_youth"]
    query = service.parsed_query("climate_card_youth")
    aud, nonce = "x509_san_dns:127.0.0.1", "bench-nonce-0123456789"
    # `sub` too: every query derived from a policy asks for it (the applicant binding).
    presentation = present(held, ["sub", "birth_date"], aud=aud, nonce=nonce)
    today = dt.date.today()

    def verify_one() -> bool:
        result = sd_jwt_vc.verify_sd_jwt_vc(
            presentation, service.registry, expected_aud=aud, expected_nonce=nonce, now=int(time.time())
        )
        assert service.registry.is_trusted_for(result.payload["iss"], result.payload["vct"])
        index, uri = status_reference(result.payload)
        iss = result.payload["iss"]
        service.status_lists.check(uri, index, lambda h, p: service.registry.resolve(iss, h.get("kid")))
        check_presentation(query, {"resident_registration": [result]})
        return evaluate(policy, [PolicyInput("resident_registration", result.claims)], today).eligible

    return verify_one


def full_presentation(platform: Any, app: Any, client: Any) -> Callable[[], bool]:
    """The response endpoint's checks of a full youth-allowance presentation, and its decision signed."""
    from sqlmodel import Session, select

    from tests.verifiers.conftest import youth_claims
    from tests.verifiers.spec_vp_wallet import fetch_request, present
    from tests.verifiers.spec_vp_wallet import select as choose
    from verifiers.models import PresentationRequest
    from verifiers.presentation_checks import PresentationChecks
    from verifiers.service import DECISION_TYP, DECISIONS_OWNER

    wallet = _issue(platform, client, youth_claims())
    backend = _bearer(platform, client, "verifier:seoul-youth", ["presentations:request"])
    created = client.post("/verifiers/requests", json={"service_id": "seoul_youth_allowance"}, headers=backend)
    anchor = client.get("/verifiers/rp-ca.pem").content
    request = fetch_request(created.json()["link"], client, anchor)
    vp = {
        qid: [present(held, names, aud=request.client_id, nonce=request.claims["nonce"])]
        for qid, (held, names) in choose(request.claims["dcql_query"], wallet).items()
    }
    vp_token = json.dumps(vp)
    service = app.state.verifiers
    state = request.claims["state"]
    with Session(platform.engine, expire_on_commit=False) as session:
        row = session.exec(select(PresentationRequest).where(PresentationRequest.state == state)).one()
    checks = PresentationChecks(service)

    def verify_full() -> bool:
        checked = checks.check(row, vp_token, int(time.time()))
        claims = {**checked.decision_claims, "iat": int(time.time()), "consent": {"record_id": "r", "receipt": "x"}}
        service.keyring.sign(DECISIONS_OWNER, claims, typ=DECISION_TYP)
        return checked.eligible

    return verify_full


def measure(seconds: float, rounds: int) -> dict[str, float]:
    """Medians over `rounds` of: one credential, the full presentation, raw ES256 (per second)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    with in_process_platform() as (platform, app, client):
        one = one_credential(platform, app, client)
        full = full_presentation(platform, app, client)
        # Warm the key and status list caches, and check the outcome the rates are of.
        assert one() is True and full() is True
        key = ec.generate_private_key(ec.SECP256R1())
        message = secrets.token_bytes(300)
        signature = key.sign(message, ec.ECDSA(hashes.SHA256()))
        public = key.public_key()

        def raw() -> None:
            public.verify(signature, message, ec.ECDSA(hashes.SHA256()))

        samples: dict[str, list[float]] = {"one": [], "full": [], "raw": []}
        for _ in range(rounds):
            samples["one"].append(rate(one, seconds))
            samples["full"].append(rate(full, seconds))
            samples["raw"].append(rate(raw, seconds))
    return {name: statistics.median(values) for name, values in samples.items()}
