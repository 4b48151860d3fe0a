"""Before the timed part: the parties' OAuth clients, and citizens holding their six credentials.

Every citizen receives the six youth-allowance credentials over HTTP from the demo agencies
(OpenID4VCI pre-authorized flow, tests/issuers/spec_wallet.py), as bench/bench_verifiers.py did.
One request object is then checked completely (x509 chain to the RP CA, signature, client_id:
tests/verifiers/spec_vp_wallet.py) and its DCQL query answered per citizen, so the generator's
processes only sign the KB-JWTs at run time: what depends on the nonce is made fresh for every
flow, what a wallet computes once per credential is computed once here.
"""

from __future__ import annotations

import base64
import concurrent.futures
import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization

if TYPE_CHECKING:  # the generator's processes import this module for its dataclasses: kept light
    import httpx
    from sqlalchemy.engine import Engine

    from tests.verifiers.spec_vp_wallet import HeldCredential

SERVICE_ID = "seoul_youth_allowance"
BACKEND_SUBJECT = "verifier:seoul-youth"
BULK_AGENCY = "mois"  # resident registration: the cohort file of a notification round
CITIZEN_SCOPES = ["consent:read", "consent:withdraw"]


@dataclass(frozen=True, slots=True)
class Credentials:
    """An OAuth client (client credentials grant)."""

    client_id: str
    client_secret: str


@dataclass(slots=True)
class Citizen:
    """What the generator needs of one citizen, picklable for its processes: per credential query
    id, the presented SD-JWT without its KB-JWT (`<JWT>~<chosen disclosures>~`), its `sd_hash`
    and the holder key (PKCS#8 DER); and the citizen app's access token (consent churn)."""

    platform_id: str
    presented: dict[str, tuple[str, str, bytes]]
    app_token: str = ""


@dataclass(slots=True)
class Population:
    backend: Credentials
    bulk_agency: Credentials
    dcql_query: dict[str, Any]
    citizens: list[Citizen] = field(default_factory=list)


def token(http: httpx.Client, base_url: str, client: Credentials) -> str:
    response = http.post(
        f"{base_url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client.client_id, client.client_secret),
    )
    if response.status_code != 200:
        raise RuntimeError(f"token endpoint answered {response.status_code}: {response.text[:300]}")
    return response.json()["access_token"]


def _client(engine: Engine, subject: str, scopes: list[str]) -> Credentials:
    from auth.clients import register_client

    created = register_client(engine, subject, scopes, name=f"load test {subject}")
    return Credentials(created.client_id, created.client_secret)


def _holder_der(held: HeldCredential) -> bytes:
    return held.holder.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _prepared(platform_id: str, chosen: dict[str, tuple[HeldCredential, list[str]]]) -> Citizen:
    presented = {}
    for query_id, (held, names) in chosen.items():
        disclosures = held.disclosures
        text = held.issuer_jwt + "~" + "".join(disclosures[n][0] + "~" for n in names if n in disclosures)
        sd_hash = base64.urlsafe_b64encode(hashlib.sha256(text.encode("ascii")).digest()).rstrip(b"=").decode()
        presented[query_id] = (text, sd_hash, _holder_der(held))
    return Citizen(platform_id, presented)


def build_population(
    base_url: str, engine: Engine, citizens: int, *, churn: bool, parallel: int = 6, prefix: str = "load-citizen"
) -> Population:
    """`citizens` citizens, each with the six credentials issued to her over HTTP; with `churn`,
    each also gets her app's access token (consent:read, consent:withdraw)."""
    # Here, not at the top: these pull in httpx, pytest's fixtures and the test client.
    import httpx

    from tests.issuers.spec_wallet import receive
    from tests.verifiers.conftest import AGENCY_OF, youth_claims
    from tests.verifiers.spec_vp_wallet import HeldCredential, fetch_request, select

    agencies = {slug: _client(engine, f"agency:{slug}", ["credentials:offer"]) for slug in set(AGENCY_OF.values())}
    backend = _client(engine, BACKEND_SUBJECT, ["presentations:request"])
    claims = youth_claims()
    with httpx.Client(timeout=60) as http:
        agency_headers = {
            slug: {"Authorization": f"Bearer {token(http, base_url, creds)}"} for slug, creds in agencies.items()
        }
        backend_headers = {"Authorization": f"Bearer {token(http, base_url, backend)}"}
        created = http.post(f"{base_url}/verifiers/requests", json={"service_id": SERVICE_ID}, headers=backend_headers)
        if created.status_code != 201:
            raise RuntimeError(f"POST /verifiers/requests answered {created.status_code}: {created.text[:300]}")
        anchor = http.get(f"{base_url}/verifiers/rp-ca.pem").content
        # The one complete check of a request object (chain, SAN, signature, client_id): the
        # generator's processes then only decode theirs (tests/load/flows.py says why).
        request = fetch_request(created.json()["link"], http, anchor)
    dcql_query = request.claims["dcql_query"]

    def one(number: int) -> Citizen:
        platform_id = f"{prefix}-{number:05d}"
        with httpx.Client(timeout=60) as http:
            wallet = []
            for type_id, type_claims in claims.items():
                agency = AGENCY_OF[type_id]
                offer = http.post(
                    f"{base_url}/issuers/{agency}/offers",
                    json={"subject": platform_id, "credential_type": type_id, "claims": type_claims},
                    headers=agency_headers[agency],
                )
                if offer.status_code != 201:
                    raise RuntimeError(f"offer for {platform_id} answered {offer.status_code}: {offer.text[:300]}")
                issuance = receive(offer.json()["offer_link"], http)
                wallet.append(HeldCredential(issuance.credential, issuance.holder.private))
            citizen = _prepared(platform_id, select(dcql_query, wallet))
            if churn:
                app = _client(engine, f"citizen:{platform_id}", CITIZEN_SCOPES)
                citizen.app_token = token(http, base_url, app)
            return citizen

    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
        population = list(pool.map(one, range(1, citizens + 1)))
    bulk_agency = _client(engine, f"agency:{BULK_AGENCY}", ["credentials:offer"])
    return Population(backend, bulk_agency, dcql_query, population)


def dcql_fingerprint(dcql_query: dict[str, Any]) -> str:
    """Whether a request asks what the citizens were prepared for (same query, same answer)."""
    return hashlib.sha256(json.dumps(dcql_query, sort_keys=True).encode()).hexdigest()
