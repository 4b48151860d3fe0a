"""A verifier written from the specs alone, to test the wallet against: OpenID4VP 1.0 (signed
request objects by reference with `x509_san_dns` / `x509_hash` client identifiers, unsigned
`redirect_uri` requests by value, `direct_post`), RFC 9101 (JAR), RFC 5280 certificates and
RFC 9901 (SD-JWT, KB-JWT).

Starlette, PyJWT, cryptography and hashlib only: nothing from the project. It makes its own
certificate authority and leaf certificate, serves request objects, and records every direct_post
it receives, decoding what a verifier would see (disclosed claims, the KB-JWT checked against
`cnf.jwk`), so tests can assert what reached it, or that nothing did. Tests make it misbehave
through the knobs of `request()`.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from jwt.algorithms import ECAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

REQUEST_OBJECT_TYP = "oauth-authz-req+jwt"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


class SpecCA:
    """A certificate authority issuing relying-party (access) certificates: RFC 5280 profile with
    key identifiers, a DNS name in the SAN and the client-authentication EKU."""

    def __init__(self, name: str = "Spec RP Access CA") -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = dt.datetime.now(dt.UTC)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(self.name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def issue(self, dns_name: str, organization: str, public_key: ec.EllipticCurvePublicKey) -> x509.Certificate:
        now = dt.datetime.now(dt.UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name(
                    [
                        x509.NameAttribute(NameOID.COMMON_NAME, dns_name),
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
                    ]
                )
            )
            .issuer_name(self.name)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=7))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns_name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(self.key, hashes.SHA256())
        )


def x509_hash(certificate: x509.Certificate) -> str:
    """OpenID4VP 1.0 §5.9.3: base64url of the SHA-256 of the DER-encoded certificate."""
    return b64url(hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).digest())


@dataclass
class Presentation:
    """One SD-JWT+KB as this verifier sees it (RFC 9901 §4.3, §7.3)."""

    issuer_payload: dict[str, Any]
    disclosed: dict[str, Any]  # claim name -> value, from the disclosures sent
    kb_header: dict[str, Any]
    kb_payload: dict[str, Any]
    kb_signature_valid: bool
    sd_hash_valid: bool
    disclosures_referenced: bool


@dataclass
class Received:
    """One direct_post: the form as sent, and each presentation decoded."""

    form: dict[str, str]
    presentations: dict[str, list[Presentation]] = field(default_factory=dict)


def decode_presentation(presentation: str) -> Presentation:
    parts = presentation.split("~")
    issuer_jwt, disclosures, kb_jwt = parts[0], parts[1:-1], parts[-1]
    payload = json.loads(b64url_decode(issuer_jwt.split(".")[1]))
    digests = set(payload.get("_sd", []))
    disclosed = {}
    referenced = True
    for encoded in disclosures:
        content = json.loads(b64url_decode(encoded))
        if len(content) == 3:
            disclosed[content[1]] = content[2]
        referenced &= b64url(hashlib.sha256(encoded.encode("ascii")).digest()) in digests
    kb_header = jwt.get_unverified_header(kb_jwt)
    holder = ECAlgorithm.from_jwk(json.dumps(payload["cnf"]["jwk"]))
    try:
        kb_payload = jwt.decode(kb_jwt, holder, algorithms=["ES256"], options={"verify_aud": False})
        valid = True
    except jwt.InvalidTokenError:
        kb_payload, valid = jwt.decode(kb_jwt, options={"verify_signature": False}), False
    presented = presentation[: len(presentation) - len(kb_jwt)]
    sd_hash = b64url(hashlib.sha256(presented.encode("ascii")).digest())
    return Presentation(
        payload, disclosed, kb_header, kb_payload, valid, kb_payload.get("sd_hash") == sd_hash, referenced
    )


class SpecVerifier:
    """A verifier at `http://{host}`: `app` serves its request objects and response endpoint."""

    def __init__(self, host: str = "verifier.example", *, ca: SpecCA | None = None, organization: str = "") -> None:
        self.host = host
        self.ca = ca or SpecCA()
        self.organization = organization or "Spec Verifier Co."
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.certificate = self.ca.issue(host, self.organization, self.key.public_key())
        self.response_uri = f"http://{host}/response"
        self.done_uri = f"http://{host}/done"
        self.objects: dict[str, str] = {}
        self.states: dict[str, dict[str, Any]] = {}  # state -> the request's claims
        self.received: list[Received] = []
        self.app = Starlette(
            routes=[
                Route("/requests/{ref}", self.request_object),
                Route("/response", self.response, methods=["POST"]),
            ]
        )

    def client_id(self, prefix: str) -> str:
        if prefix == "x509_san_dns":
            return f"x509_san_dns:{self.host}"
        if prefix == "x509_hash":
            return f"x509_hash:{x509_hash(self.certificate)}"
        if prefix == "redirect_uri":
            return f"redirect_uri:{self.response_uri}"
        raise ValueError(prefix)

    def request(
        self,
        dcql_query: dict[str, Any],
        prefix: str = "x509_san_dns",
        *,
        link_client_id: str | None = None,
        changes: dict[str, Any] | None = None,
        signing_key: ec.EllipticCurvePrivateKey | None = None,
    ) -> str:
        """An `openid4vp://` link to a new request (§5). `link_client_id`: what the link says the
        client is (normally the object's own); `changes`: claims of the request object to replace;
        `signing_key`: sign with another key than the certificate's."""
        client_id = self.client_id(prefix)
        claims: dict[str, Any] = {
            "client_id": client_id,
            "response_type": "vp_token",
            "response_mode": "direct_post",
            "response_uri": self.response_uri,
            "nonce": secrets.token_urlsafe(16),
            "state": secrets.token_urlsafe(16),
            "dcql_query": dcql_query,
            "client_metadata": {
                "client_name": self.organization,
                "vp_formats_supported": {"dc+sd-jwt": {"sd-jwt_alg_values": ["ES256"], "kb-jwt_alg_values": ["ES256"]}},
            },
        }
        claims.update(changes or {})
        self.states[claims["state"]] = claims
        if prefix == "redirect_uri":  # §5.9.3: unsigned, by value
            values = {k: v if isinstance(v, str) else json.dumps(v) for k, v in claims.items()}
            return "openid4vp://?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in values.items())
        now = int(time.time())
        token = jwt.encode(
            {**claims, "aud": "https://self-issued.me/v2", "iat": now, "exp": now + 300},
            signing_key or self.key,
            algorithm="ES256",
            headers={
                "typ": REQUEST_OBJECT_TYP,
                # RFC 7515 §4.1.6: standard base64 DER, the leaf first; the trust anchor is left out.
                "x5c": [base64.b64encode(self.certificate.public_bytes(serialization.Encoding.DER)).decode()],
            },
        )
        ref = secrets.token_urlsafe(8)
        self.objects[ref] = token
        request_uri = f"http://{self.host}/requests/{ref}"
        link_id = link_client_id or claims["client_id"]
        return f"openid4vp://?client_id={quote(link_id, safe='')}&request_uri={quote(request_uri, safe='')}"

    async def request_object(self, request: Request) -> Response:
        token = self.objects.get(request.path_params["ref"])
        if token is None:
            return JSONResponse({"error": "invalid_request_uri"}, status_code=404)
        return Response(token, media_type=f"application/{REQUEST_OBJECT_TYP}")

    async def response(self, request: Request) -> JSONResponse:
        """§8.2 direct_post; §8.5 error responses (`error=access_denied`) are acknowledged too."""
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        received = Received(form)
        self.received.append(received)
        if form.get("state") not in self.states:
            return JSONResponse({"error": "invalid_request", "error_description": "unknown state"}, status_code=400)
        if "error" in form:
            return JSONResponse({})
        try:
            vp_token = json.loads(form["vp_token"])
            received.presentations = {q: [decode_presentation(p) for p in ps] for q, ps in vp_token.items()}
        except (KeyError, ValueError, TypeError):
            return JSONResponse({"error": "invalid_request", "error_description": "bad vp_token"}, status_code=400)
        return JSONResponse({"redirect_uri": f"{self.done_uri}#response_code={secrets.token_urlsafe(16)}"})

    def posts(self) -> list[Received]:
        return list(self.received)
