"""A wallet written from the OpenID4VCI 1.0 text alone: httpx, PyJWT and cryptography, no project code.

Each step is one section of the spec, so a failure points at the step a real wallet would trip on.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

PRE_AUTH = "urn:ietf:params:oauth:grant-type:pre-authorized_code"


def well_known(identifier: str, suffix: str) -> str:
    """RFC 8615 / OpenID4VCI §12.2.2: the well-known segment goes between host and path."""
    parts = urlsplit(identifier)
    return urlunsplit((parts.scheme, parts.netloc, f"/.well-known/{suffix}{parts.path.rstrip('/')}", "", ""))


def parse_offer_link(link: str, http: httpx.Client) -> dict[str, Any]:
    """§4.1: by value (credential_offer) or by reference (credential_offer_uri)."""
    assert link.startswith("openid-credential-offer://"), link
    query = parse_qs(urlsplit(link).query)
    if "credential_offer" in query:
        return json.loads(query["credential_offer"][0])
    response = http.get(query["credential_offer_uri"][0])
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    return response.json()


@dataclass
class HolderKey:
    private: ec.EllipticCurvePrivateKey

    @classmethod
    def generate(cls) -> HolderKey:
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @property
    def public_jwk(self) -> dict[str, Any]:
        jwk = json.loads(ECAlgorithm.to_jwk(self.private.public_key()))
        return {k: jwk[k] for k in ("kty", "crv", "x", "y")}

    def proof(self, aud: str, nonce: str | None, *, typ: str = "openid4vci-proof+jwt", **extra: Any) -> str:
        """Appendix F.1: a key proof with the public key in the `jwk` header."""
        payload: dict[str, Any] = {"aud": aud, "iat": int(time.time()), **extra}
        if nonce is not None:
            payload["nonce"] = nonce
        return jwt.encode(payload, self.private, algorithm="ES256", headers={"typ": typ, "jwk": self.public_jwk})


@dataclass
class Issuance:
    offer: dict[str, Any]
    metadata: dict[str, Any]
    as_metadata: dict[str, Any]
    access_token: str
    credential: str
    holder: HolderKey


def receive(link: str, http: httpx.Client, tx_code: str | None = None) -> Issuance:
    """The whole pre-authorized code flow, checking each response the way the spec describes it."""
    offer = parse_offer_link(link, http)
    issuer = offer["credential_issuer"]
    metadata_response = http.get(well_known(issuer, "openid-credential-issuer"))
    assert metadata_response.status_code == 200, metadata_response.text
    metadata = metadata_response.json()
    assert metadata["credential_issuer"] == issuer  # §12.2.3: compared exactly
    config_id = offer["credential_configuration_ids"][0]
    configuration = metadata["credential_configurations_supported"][config_id]
    assert configuration["format"] == "dc+sd-jwt"
    assert "jwk" in configuration["cryptographic_binding_methods_supported"]
    assert "ES256" in configuration["proof_types_supported"]["jwt"]["proof_signing_alg_values_supported"]
    as_issuer = (metadata.get("authorization_servers") or [issuer])[0]
    as_metadata = http.get(well_known(as_issuer, "oauth-authorization-server")).json()
    assert as_metadata["issuer"] == as_issuer
    assert as_metadata["pre-authorized_grant_anonymous_access_supported"] is True

    grant = offer["grants"][PRE_AUTH]
    form = {"grant_type": PRE_AUTH, "pre-authorized_code": grant["pre-authorized_code"]}
    if "tx_code" in grant:
        assert tx_code is not None, "the offer asks for a transaction code"
        form["tx_code"] = tx_code
    token_response = http.post(as_metadata["token_endpoint"], data=form)
    assert token_response.status_code == 200, token_response.text
    assert token_response.headers["cache-control"] == "no-store"
    token = token_response.json()
    assert token["token_type"].lower() == "bearer"

    nonce_response = http.post(metadata["nonce_endpoint"])
    assert nonce_response.status_code == 200 and nonce_response.headers["cache-control"] == "no-store"
    c_nonce = nonce_response.json()["c_nonce"]

    holder = HolderKey.generate()
    credential_response = http.post(
        metadata["credential_endpoint"],
        json={"credential_configuration_id": config_id, "proofs": {"jwt": [holder.proof(issuer, c_nonce)]}},
        headers={"Authorization": f"Bearer {token['access_token']}"},
    )
    assert credential_response.status_code == 200, credential_response.text
    assert credential_response.headers["content-type"].startswith("application/json")
    assert credential_response.headers["cache-control"] == "no-store"
    credentials = credential_response.json()["credentials"]
    assert len(credentials) == 1
    return Issuance(offer, metadata, as_metadata, token["access_token"], credentials[0]["credential"], holder)
