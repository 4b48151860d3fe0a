"""A relying party written from the OpenID Connect specs alone (Core 1.0 §3.1, Discovery 1.0, RFC 7636,
RP-Initiated Logout 1.0) with httpx, PyJWT and hashlib. It imports nothing from `auth/`, so the
provider is tested against what the specs say, not against its own code.

`Browser` reads the provider's HTML forms the way a citizen's browser submits them.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass
class AuthorizationRequest:
    url: str
    state: str
    nonce: str
    code_verifier: str
    redirect_uri: str


@dataclass
class SignIn:
    id_token: str
    claims: dict[str, Any]
    access_token: str
    token_response: dict[str, Any]


class RelyingParty:
    """One registered client. `http` is its back channel (token, userinfo, discovery)."""

    def __init__(self, http: httpx.Client, issuer: str, client_id: str, client_secret: str, redirect_uri: str) -> None:
        self.http, self.issuer = http, issuer
        self.client_id, self.client_secret, self.redirect_uri = client_id, client_secret, redirect_uri
        response = http.get(f"{issuer}/.well-known/openid-configuration")
        response.raise_for_status()
        self.metadata: dict[str, Any] = response.json()
        # Discovery §4.3: the issuer in the document must be exactly the one we asked.
        assert self.metadata["issuer"] == issuer

    def authorization_request(self, scope: str = "openid profile", **extra: str) -> AuthorizationRequest:
        verifier = b64url(secrets.token_bytes(32))
        state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": scope,
            "state": state,
            "nonce": nonce,
            "code_challenge": b64url(hashlib.sha256(verifier.encode("ascii")).digest()),
            "code_challenge_method": "S256",
            **extra,
        }
        params = {k: v for k, v in params.items() if v is not None}
        url = f"{self.metadata['authorization_endpoint']}?{urlencode(params)}"
        return AuthorizationRequest(url, state, nonce, verifier, self.redirect_uri)

    def callback_params(self, location: str, request: AuthorizationRequest) -> dict[str, str]:
        """The authorization response (§3.1.2.5), after checking it came to our redirect URI with our state."""
        parts = urlsplit(location)
        assert f"{parts.scheme}://{parts.netloc}{parts.path}" == request.redirect_uri, location
        params = {k: v[0] for k, v in parse_qs(parts.query).items()}
        assert params.get("state") == request.state, "state must be echoed"
        return params

    def exchange(self, code: str, request: AuthorizationRequest, *, basic: bool = True, verifier: str | None = None):
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": request.redirect_uri,
            "code_verifier": verifier or request.code_verifier,
        }
        if basic:
            return self.http.post(self.metadata["token_endpoint"], data=form, auth=(self.client_id, self.client_secret))
        form |= {"client_id": self.client_id, "client_secret": self.client_secret}
        return self.http.post(self.metadata["token_endpoint"], data=form)

    def verify_id_token(self, id_token: str, request: AuthorizationRequest, access_token: str) -> dict[str, Any]:
        """ID token validation (Core §3.1.3.7): signature with the JWKS from discovery, iss, aud, exp,
        iat, nonce, and at_hash (§3.1.3.8)."""
        header = jwt.get_unverified_header(id_token)
        assert header["alg"] in self.metadata["id_token_signing_alg_values_supported"]
        jwks = jwt.PyJWKSet.from_dict(self.http.get(self.metadata["jwks_uri"]).json())
        key = next(k for k in jwks.keys if k.key_id == header["kid"])
        claims = jwt.decode(
            id_token,
            key.key,
            algorithms=[header["alg"]],
            audience=self.client_id,
            issuer=self.issuer,
            options={"require": ["iss", "sub", "aud", "exp", "iat"]},
        )
        assert claims["nonce"] == request.nonce
        digest = hashlib.sha256(access_token.encode("ascii")).digest()
        assert claims["at_hash"] == b64url(digest[: len(digest) // 2])
        return claims

    def finish(self, location: str, request: AuthorizationRequest) -> SignIn:
        code = self.callback_params(location, request)["code"]
        response = self.exchange(code, request)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["token_type"].lower() == "bearer"
        claims = self.verify_id_token(body["id_token"], request, body["access_token"])
        return SignIn(body["id_token"], claims, body["access_token"], body)

    def userinfo(self, access_token: str) -> httpx.Response:
        return self.http.get(self.metadata["userinfo_endpoint"], headers={"Authorization": f"Bearer {access_token}"})


@dataclass
class Form:
    action: str
    fields: dict[str, str] = field(default_factory=dict)
    buttons: list[tuple[str, str]] = field(default_factory=list)


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append(Form(attributes.get("action", "")))
        elif self.forms and tag == "input" and attributes.get("name"):
            self.forms[-1].fields[attributes["name"]] = attributes.get("value", "")
        elif self.forms and tag == "button" and attributes.get("name"):
            self.forms[-1].buttons.append((attributes["name"], attributes.get("value", "")))


def forms_of(page: str) -> list[Form]:
    parser = _Forms()
    parser.feed(page)
    return parser.forms


class Browser:
    """The citizen's browser: follows nothing by itself, submits forms as they are on the page."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def open(self, url: str) -> httpx.Response:
        return self.http.get(url, follow_redirects=False)

    def submit(self, form: Form, **values: str) -> httpx.Response:
        return self.http.post(form.action, data={**form.fields, **values}, follow_redirects=False)

    def sign_in_with_password(self, page: httpx.Response, platform_id: str, password: str) -> httpx.Response:
        form = next(f for f in forms_of(page.text) if "password" in f.fields)
        return self.submit(form, platform_id=platform_id, password=password)

    def pick_account(self, page: httpx.Response, platform_id: str) -> httpx.Response:
        form = next(f for f in forms_of(page.text) if ("account", platform_id) in f.buttons)
        return self.submit(form, account=platform_id)
