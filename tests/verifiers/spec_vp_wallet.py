"""A wallet written from the OpenID4VP 1.0 and RFC 9901 texts alone: httpx, PyJWT and cryptography,
no project code. Each function is one step a real wallet takes, so a failure names the step.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.verification import PolicyBuilder, Store


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


@dataclass
class HeldCredential:
    """An SD-JWT VC as issued (`<issuer JWT>~<D1>~...~<Dn>~`) and the holder key it is bound to."""

    sd_jwt: str
    holder: ec.EllipticCurvePrivateKey

    @property
    def issuer_jwt(self) -> str:
        return self.sd_jwt.split("~")[0]

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(b64url_decode(self.issuer_jwt.split(".")[1]))

    @property
    def disclosures(self) -> dict[str, tuple[str, Any]]:
        """Top-level object-property disclosures by claim name: (encoded disclosure, value)."""
        out = {}
        for encoded in self.sd_jwt.split("~")[1:-1]:
            content = json.loads(b64url_decode(encoded))
            if len(content) == 3:
                out[content[1]] = (encoded, content[2])
        return out

    def value(self, name: str) -> Any:
        if name in self.payload:
            return self.payload[name]
        return self.disclosures[name][1] if name in self.disclosures else None


@dataclass
class Request:
    client_id: str
    claims: dict[str, Any]
    leaf: x509.Certificate
    raw: str = field(repr=False)


def fetch_request(link: str, http: httpx.Client, trust_anchor_pem: bytes) -> Request:
    """§5 + §5.10: resolve request_uri, check the x509_san_dns client identifier against the RP CA."""
    assert link.startswith("openid4vp://"), link
    query = {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}
    response = http.get(query["request_uri"])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/oauth-authz-req+jwt"
    header = jwt.get_unverified_header(response.text)
    assert header["typ"] == "oauth-authz-req+jwt"
    chain = [x509.load_der_x509_certificate(base64.b64decode(c)) for c in header["x5c"]]
    anchor = x509.load_pem_x509_certificate(trust_anchor_pem)
    verifier = PolicyBuilder().store(Store([anchor])).time(dt.datetime.now(dt.UTC)).build_client_verifier()
    verifier.verify(chain[0], chain[1:])
    claims = jwt.decode(
        response.text, chain[0].public_key(), algorithms=["ES256"], audience="https://self-issued.me/v2"
    )
    assert claims["client_id"] == query["client_id"]  # §5.10: identical in the link and the object
    prefix, _, dns_name = claims["client_id"].partition(":")
    assert prefix == "x509_san_dns"
    san = chain[0].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert dns_name in san.get_values_for_type(x509.DNSName)
    assert urlsplit(claims["response_uri"]).hostname == dns_name
    assert claims["response_type"] == "vp_token" and claims["response_mode"] == "direct_post"
    return Request(client_id=claims["client_id"], claims=claims, leaf=chain[0], raw=response.text)


def _matches(credential_query: dict[str, Any], held: HeldCredential, claim_ids: list[str] | None) -> list[str] | None:
    """The claim names to disclose if `held` satisfies the credential query (§6.4.1), else None."""
    if held.payload.get("vct") not in credential_query.get("meta", {}).get("vct_values", []):
        return None
    claims = {c.get("id", c["path"][0]): c for c in credential_query.get("claims", [])}
    wanted = claim_ids if claim_ids is not None else list(claims)
    names = []
    for claim_id in wanted:
        claim = claims[claim_id]
        name = claim["path"][0]
        value = held.value(name)
        if value is None or ("values" in claim and value not in claim["values"]):
            return None
        names.append(name)
    return names


def select(dcql: dict[str, Any], wallet: list[HeldCredential]) -> dict[str, tuple[HeldCredential, list[str]]]:
    """§6.4: pick credentials and claims; the first satisfiable claim set and credential set option wins."""
    candidates: dict[str, tuple[HeldCredential, list[str]]] = {}
    for query in dcql["credentials"]:
        for held in wallet:
            for claim_set in query.get("claim_sets") or [None]:
                names = _matches(query, held, claim_set)
                if names is not None:
                    candidates[query["id"]] = (held, names)
                    break
            if query["id"] in candidates:
                break
    if "credential_sets" not in dcql:
        assert set(candidates) == {q["id"] for q in dcql["credentials"]}, "cannot satisfy the query"
        return candidates
    chosen: dict[str, tuple[HeldCredential, list[str]]] = {}
    for credential_set in dcql["credential_sets"]:
        for option in credential_set["options"]:
            if all(query_id in candidates for query_id in option):
                chosen.update({query_id: candidates[query_id] for query_id in option})
                break
        else:
            assert not credential_set.get("required", True), "cannot satisfy a required credential set"
    return chosen


def present(held: HeldCredential, names: list[str], *, aud: str, nonce: str, iat: int | None = None) -> str:
    """RFC 9901 §4.3: the issuer JWT, the chosen disclosures, then a KB-JWT over them."""
    disclosures = held.disclosures
    presented = held.issuer_jwt + "~" + "".join(disclosures[n][0] + "~" for n in names if n in disclosures)
    sd_hash = b64url(hashlib.sha256(presented.encode("ascii")).digest())
    kb = jwt.encode(
        {"iat": int(time.time()) if iat is None else iat, "aud": aud, "nonce": nonce, "sd_hash": sd_hash},
        held.holder,
        algorithm="ES256",
        headers={"typ": "kb+jwt"},
    )
    return presented + kb


def respond(request: Request, vp_token: dict[str, list[str]], http: httpx.Client) -> httpx.Response:
    """§8.2: direct_post of vp_token (a JSON object keyed by credential query id) and state."""
    return http.post(
        request.claims["response_uri"], data={"vp_token": json.dumps(vp_token), "state": request.claims["state"]}
    )


def answer(request: Request, wallet: list[HeldCredential], http: httpx.Client) -> httpx.Response:
    """The whole wallet side for one request."""
    chosen = select(request.claims["dcql_query"], wallet)
    vp_token = {
        query_id: [present(held, names, aud=request.client_id, nonce=request.claims["nonce"])]
        for query_id, (held, names) in chosen.items()
    }
    return respond(request, vp_token, http)
