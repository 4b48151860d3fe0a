"""A credential issuer written from the specs alone, to test the wallet against: OpenID4VCI 1.0
(pre-authorized code flow, nonce endpoint, `jwt` proofs), RFC 8414 metadata, SD-JWT (RFC 9901),
SD-JWT VC (draft -18, `/.well-known/jwt-vc-issuer`) and the IETF Token Status List (draft -20).

Starlette, PyJWT, cryptography and hashlib only: nothing from the project, so a wallet that
receives from it follows the specs rather than our own issuer's habits. Tests tell it to misbehave
(`issuer.misbehave.…`) to watch the wallet refuse.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

PRE_AUTH = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
NO_STORE = {"Cache-Control": "no-store"}
VALID, INVALID, SUSPENDED = 0, 1, 2

# Two credential types, with display metadata in Korean and English (§12.2.4 credential_metadata).
CONFIGURATIONS: dict[str, dict[str, Any]] = {
    "pension_card": {
        "vct": "urn:example:spec:pension_card:1",
        "display": [
            {
                "name": "연금 수급 증명",
                "locale": "ko",
                "description": "국민연금 수급 사실",
                "background_color": "#12107c",
            },
            {"name": "Pension card", "locale": "en", "description": "Proof of a state pension"},
        ],
        "claims": {
            "pension_number": {"ko": "연금 번호", "en": "Pension number"},
            "monthly_amount": {"ko": "월 지급액", "en": "Monthly amount"},
        },
    },
    "library_card": {
        "vct": "urn:example:spec:library_card:1",
        "display": [{"name": "도서관 회원증", "locale": "ko"}, {"name": "Library card", "locale": "en"}],
        "claims": {"member_since": {"ko": "가입일", "en": "Member since"}},
    },
}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def public_jwk(key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) -> dict[str, str]:
    public = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
    jwk = ECAlgorithm.to_jwk(public, as_dict=True)
    return {k: jwk[k] for k in ("kty", "crv", "x", "y")}


def error(code: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": code, "error_description": description}, status_code=status, headers=NO_STORE)


@dataclass
class Misbehaviour:
    """What the issuer gets wrong, on purpose, for the next credentials it issues."""

    forge_signature: bool = False  # signed with a key the issuer does not publish (same kid)
    iss: str | None = None  # another `iss`
    vct: str | None = None  # another `vct`
    bind_to_other_key: bool = False  # `cnf.jwk` a key the wallet never proved
    status_at_issuance: int = VALID  # the credential's status list entry when it is issued…
    status_of: dict[str, int] = field(default_factory=dict)  # …or per credential configuration
    metadata_issuer: str | None = None  # another `credential_issuer` in the metadata
    edit_metadata: Callable[[dict[str, Any]], Any] | None = None  # any other change to the metadata
    reject_first_nonce: bool = False  # answer invalid_nonce to the first credential request


@dataclass
class PendingOffer:
    configuration_ids: list[str]
    subject: str
    claims: dict[str, dict[str, Any]]
    tx_code: str | None
    redeemed: bool = False
    issued: list[str] = field(default_factory=list)  # configuration ids or credential identifiers done


class SpecIssuer:
    """One credential issuer at `http://{host}{path}`; `app` serves it."""

    def __init__(
        self,
        host: str = "issuer.example",
        path: str = "/agency",
        *,
        separate_authorization_server: bool = False,
        credential_identifiers: bool = False,
    ) -> None:
        self.host = host
        self.identifier = f"http://{host}{path}"
        self.authorization_server = f"http://{host}/auth" if separate_authorization_server else self.identifier
        self.credential_identifiers = credential_identifiers
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.kid = "spec-issuer-key-1"
        self.misbehave = Misbehaviour()
        self.offers: dict[str, PendingOffer] = {}  # by pre-authorized code
        self.offer_objects: dict[str, dict[str, Any]] = {}  # by reference, for credential_offer_uri
        self.tokens: dict[str, PendingOffer] = {}
        self.nonces: set[str] = set()
        self.statuses: list[int] = [VALID] * 64
        self.next_index = 0
        self.status_uri = f"{self.identifier}/status-lists/1"
        # What the wallet sent, for tests to inspect.
        self.token_requests: list[dict[str, str]] = []
        self.proofs: list[tuple[dict[str, Any], dict[str, Any]]] = []
        self.credential_requests: list[dict[str, Any]] = []
        self._nonce_rejected = False
        as_path = self.authorization_server.removeprefix(f"http://{host}")
        self.app = Starlette(
            routes=[
                Route(f"/.well-known/openid-credential-issuer{path}", self.issuer_metadata),
                Route(f"/.well-known/oauth-authorization-server{as_path}", self.as_metadata),
                Route(f"/.well-known/jwt-vc-issuer{path}", self.jwt_vc_issuer),
                Route(f"{as_path}/token", self.token, methods=["POST"]),
                Route(f"{path}/nonce", self.nonce, methods=["POST"]),
                Route(f"{path}/credential", self.credential, methods=["POST"]),
                Route(f"{path}/offers/{{reference}}", self.offer_by_reference),
                Route(f"{path}/status-lists/1", self.status_list),
            ]
        )

    # -- offers (what the agency's back office would do) -----------------------------------------

    def offer(
        self,
        subject: str,
        configuration_ids: tuple[str, ...] = ("pension_card",),
        *,
        claims: dict[str, dict[str, Any]] | None = None,
        tx_code: str | None = None,
        by_reference: bool = False,
    ) -> str:
        """A Credential Offer link (§4.1), by value or by reference."""
        code = secrets.token_urlsafe(24)
        default_claims = {
            "pension_card": {"pension_number": "NPS-2026-0042", "monthly_amount": 612000},
            "library_card": {"member_since": "2019-03-02"},
        }
        self.offers[code] = PendingOffer(list(configuration_ids), subject, claims or default_claims, tx_code)
        grant: dict[str, Any] = {"pre-authorized_code": code}
        if tx_code is not None:
            grant["tx_code"] = {"input_mode": "numeric", "length": len(tx_code), "description": "SMS로 받은 번호"}
        offer = {
            "credential_issuer": self.identifier,
            "credential_configuration_ids": list(configuration_ids),
            "grants": {PRE_AUTH: grant},
        }
        if not by_reference:
            return "openid-credential-offer://?credential_offer=" + quote(json.dumps(offer), safe="")
        reference = secrets.token_urlsafe(16)
        self.offer_objects[reference] = offer
        uri = f"{self.identifier}/offers/{reference}"
        return "openid-credential-offer://?credential_offer_uri=" + quote(uri, safe="")

    def set_status(self, index: int, status: int) -> None:
        self.statuses[index] = status

    # -- metadata --------------------------------------------------------------------------------

    async def issuer_metadata(self, request: Request) -> JSONResponse:
        configurations = {
            config_id: {
                "format": "dc+sd-jwt",
                "vct": spec["vct"],
                "cryptographic_binding_methods_supported": ["jwk"],
                "credential_signing_alg_values_supported": ["ES256"],
                "proof_types_supported": {"jwt": {"proof_signing_alg_values_supported": ["ES256"]}},
                "credential_metadata": {
                    "display": spec["display"],
                    "claims": [
                        {"path": ["sub"], "display": [{"name": "이용자 번호", "locale": "ko"}]},
                        *(
                            {"path": [name], "display": [{"name": n, "locale": loc} for loc, n in names.items()]}
                            for name, names in spec["claims"].items()
                        ),
                    ],
                },
            }
            for config_id, spec in CONFIGURATIONS.items()
        }
        metadata: dict[str, Any] = {
            "credential_issuer": self.misbehave.metadata_issuer or self.identifier,
            "credential_endpoint": f"{self.identifier}/credential",
            "nonce_endpoint": f"{self.identifier}/nonce",
            "display": [{"name": "스펙 연금공단", "locale": "ko"}, {"name": "Spec Pension Agency", "locale": "en"}],
            "credential_configurations_supported": configurations,
        }
        if self.authorization_server != self.identifier:
            metadata["authorization_servers"] = [self.authorization_server]
        edit = self.misbehave.edit_metadata
        return JSONResponse(edit(metadata) if edit else metadata)

    async def as_metadata(self, request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "issuer": self.authorization_server,
                "token_endpoint": f"{self.authorization_server}/token",
                "grant_types_supported": [PRE_AUTH],
                "pre-authorized_grant_anonymous_access_supported": True,
            }
        )

    async def jwt_vc_issuer(self, request: Request) -> JSONResponse:
        jwk = {**public_jwk(self.key), "kid": self.kid, "use": "sig", "alg": "ES256"}
        return JSONResponse({"issuer": self.identifier, "jwks": {"keys": [jwk]}})

    async def offer_by_reference(self, request: Request) -> JSONResponse:
        offer = self.offer_objects.get(request.path_params["reference"])
        if offer is None:
            return JSONResponse({"detail": "no such offer"}, status_code=404)
        return JSONResponse(offer, headers=NO_STORE)

    # -- token, nonce, credential ----------------------------------------------------------------

    async def token(self, request: Request) -> JSONResponse:
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        self.token_requests.append(form)
        if form.get("grant_type") != PRE_AUTH:
            return error("unsupported_grant_type", "only the pre-authorized code grant")
        offer = self.offers.get(form.get("pre-authorized_code", ""))
        if offer is None or offer.redeemed:
            return error("invalid_grant", "unknown or used pre-authorized code")
        if offer.tx_code is None and "tx_code" in form:
            return error("invalid_request", "no transaction code was asked for")
        if offer.tx_code is not None:
            if "tx_code" not in form:
                return error("invalid_request", "tx_code is required")
            if not secrets.compare_digest(form["tx_code"], offer.tx_code):
                return error("invalid_grant", "the transaction code is wrong")
        offer.redeemed = True
        token = secrets.token_urlsafe(24)
        self.tokens[token] = offer
        body: dict[str, Any] = {"access_token": token, "token_type": "Bearer", "expires_in": 300}
        if self.credential_identifiers:
            body["authorization_details"] = [
                {
                    "type": "openid_credential",
                    "credential_configuration_id": config_id,
                    "credential_identifiers": [f"{config_id}-dataset-1", f"{config_id}-dataset-2"],
                }
                for config_id in offer.configuration_ids
            ]
        return JSONResponse(body, headers=NO_STORE)

    async def nonce(self, request: Request) -> JSONResponse:
        nonce = secrets.token_urlsafe(16)
        self.nonces.add(nonce)
        return JSONResponse({"c_nonce": nonce}, headers=NO_STORE)

    async def credential(self, request: Request) -> JSONResponse:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        offer = self.tokens.get(token) if scheme.lower() == "bearer" else None
        if offer is None:
            return JSONResponse(
                {"error": "invalid_token"},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        try:
            body = json.loads(await request.body())
        except ValueError:
            return error("invalid_credential_request", "the body is not JSON")
        self.credential_requests.append(body)
        if self.credential_identifiers:
            target = body.get("credential_identifier")
            if "credential_configuration_id" in body or not isinstance(target, str):
                return error("invalid_credential_request", "use the credential_identifier of the token response")
            config_id = target.rsplit("-dataset-", 1)[0]
        else:
            target = config_id = body.get("credential_configuration_id")
        if config_id not in offer.configuration_ids or target in offer.issued:
            return error("invalid_credential_request", "not offered, or already issued")
        proofs = body.get("proofs", {}).get("jwt")
        if not isinstance(proofs, list) or len(proofs) != 1:
            return error("invalid_proof", "one jwt proof is required")
        holder_jwk = self._check_proof(proofs[0])
        if isinstance(holder_jwk, JSONResponse):
            return holder_jwk
        offer.issued.append(target)
        credential = self._issue(offer.subject, config_id, offer.claims.get(config_id, {}), holder_jwk)
        return JSONResponse({"credentials": [{"credential": credential}]}, headers=NO_STORE)

    def _check_proof(self, proof: Any) -> dict[str, Any] | JSONResponse:
        """Appendix F.1 and F.4: typ, alg, the key in `jwk`, aud, iat, a nonce from the nonce endpoint."""
        try:
            header = jwt.get_unverified_header(proof)
            if header.get("typ") != "openid4vci-proof+jwt" or header.get("alg") != "ES256":
                return error("invalid_proof", "typ must be openid4vci-proof+jwt, alg ES256")
            if "kid" in header or "x5c" in header or not isinstance(header.get("jwk"), dict):
                return error("invalid_proof", "the key must be in jwk, alone")
            key = ECAlgorithm.from_jwk(json.dumps(header["jwk"]))
            payload = jwt.decode(
                proof, key, algorithms=["ES256"], audience=self.identifier, options={"require": ["iat"]}
            )
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            return error("invalid_proof", f"the proof does not verify: {type(exc).__name__}")
        self.proofs.append((header, payload))
        if "iss" in payload:  # §F.1: omitted in the pre-authorized code flow with anonymous access
            return error("invalid_proof", "no iss in an anonymous pre-authorized proof")
        if abs(payload["iat"] - time.time()) > 300:
            return error("invalid_proof", "iat is not recent")
        if self.misbehave.reject_first_nonce and not self._nonce_rejected:
            self._nonce_rejected = True
            return error("invalid_nonce", "the nonce has expired")
        if payload.get("nonce") not in self.nonces:
            return error("invalid_nonce", "unknown or used nonce")
        self.nonces.discard(payload["nonce"])
        return {k: header["jwk"][k] for k in ("kty", "crv", "x", "y")}

    # -- SD-JWT VC (RFC 9901, draft-ietf-oauth-sd-jwt-vc-18) ---------------------------------------

    def _issue(self, subject: str, config_id: str, claims: dict[str, Any], holder_jwk: dict[str, Any]) -> str:
        disclosures, digests = [], []
        for name, value in {"sub": subject, **claims}.items():
            disclosure = b64url(json.dumps([b64url(secrets.token_bytes(16)), name, value]).encode("utf-8"))
            disclosures.append(disclosure)
            digests.append(b64url(hashlib.sha256(disclosure.encode("ascii")).digest()))
        index = self.next_index
        self.next_index += 1
        bad = self.misbehave
        self.statuses[index] = bad.status_of.get(config_id, bad.status_at_issuance)
        now = int(time.time())
        other_key = ec.generate_private_key(ec.SECP256R1())
        payload = {
            "iss": bad.iss or self.identifier,
            "vct": bad.vct or CONFIGURATIONS[config_id]["vct"],
            "iat": now,
            "exp": now + 365 * 86400,
            "cnf": {"jwk": public_jwk(other_key) if bad.bind_to_other_key else holder_jwk},
            "status": {"status_list": {"idx": index, "uri": self.status_uri}},
            "_sd": sorted(digests),
            "_sd_alg": "sha-256",
        }
        signing_key = other_key if bad.forge_signature else self.key
        issuer_jwt = jwt.encode(payload, signing_key, algorithm="ES256", headers={"typ": "dc+sd-jwt", "kid": self.kid})
        return "~".join([issuer_jwt, *disclosures, ""])

    # -- Token Status List (draft -20) -----------------------------------------------------------

    async def status_list(self, request: Request) -> Response:
        packed = bytearray((len(self.statuses) + 3) // 4)
        for index, status in enumerate(self.statuses):  # 2 bits per entry, least significant first
            packed[index // 4] |= status << (2 * (index % 4))
        now = int(time.time())
        token = jwt.encode(
            {
                "sub": self.status_uri,
                "iat": now,
                "exp": now + 3600,
                "ttl": 300,
                "status_list": {"bits": 2, "lst": b64url(zlib.compress(bytes(packed)))},
            },
            self.key,
            algorithm="ES256",
            headers={"typ": "statuslist+jwt", "kid": self.kid},
        )
        return Response(token, media_type="application/statuslist+jwt")
