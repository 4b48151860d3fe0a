"""The steps of `seoul-wallet demo`: the youth-allowance journey against a running server, over HTTP.

Every step talks to the server's public endpoints only, as each party would from outside: the
agencies' backends (OAuth client credentials), the citizen's app (OpenID Connect sign-in with PKCE
at the provider, then the wallet's JSON API), the service backend (client credentials) and anyone
auditing the ledger. Nothing here opens the database or needs the master key; what is verified
locally (ID token, decision, receipt, checkpoints, status list) uses the pure verification code of
`keys/`, `vc/` and `consent/receipts.py` over the keys the server publishes.

The clients file it acts with is read by `seoul_wallet/demo_clients.py`; what the server answered is
read by `seoul_wallet/demo_http.py`.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx

from consent.checkpoint import CheckpointError, open_checkpoint
from consent.receipts import ReceiptError, VerifiedReceipt, note_verifiers, verify_in_current_log, verify_receipt
from keys import jws
from seoul_wallet.demo_clients import DemoClients, StepFailed, load_clients
from seoul_wallet.demo_http import describe, forms_of, jwks_resolver
from vc.status_list import INVALID, SUSPENDED, VALID, StatusListError, verify_status_list_token

DEMO_PASSWORD = "seoul-demo"  # every development account's (README, "Signing in")
SERVICE_ID = "seoul_youth_allowance"
VERIFIER = "seoul-youth"
PIN_CREDENTIAL = "household_income"  # the offer whose agency asks for a transaction code
DECISION_TYP = "eligibility-decision+jwt"
STATUS_NAMES = {VALID: "VALID", INVALID: "INVALID", SUSPENDED: "SUSPENDED"}

# The six credentials of a citizen who qualifies (tests/verifiers/conftest.py youth_claims()),
# each with the demo agency that issues it (catalog/agencies.yaml).
YOUTH_OFFERS: dict[str, tuple[str, dict[str, Any]]] = {
    "resident_registration": (
        "mois",
        {
            "birth_date": "1999-05-01",
            "nationality_status": "citizen",
            "resident_sido": "11",
            "resident_sigungu": "11110",
            "as_of": "2026-11-01",
        },
    ),
    "education_status": ("sen", {"enrollment_status": "graduated", "school_level": "university_undergrad"}),
    "employment_insurance": ("moel", {"currently_insured": False}),
    "household_income": (
        "ssis",
        {
            "income_basis": "nhis_premium",
            "household_scope": "own",
            "household_size": 1,
            "income_pct_median": 120,
            "median_year": 2026,
            "assessed_month": "2026-10",
        },
    ),
    "welfare_status": ("ssis", {"nbls_benefits": [], "near_poverty": False, "single_parent_family": False}),
    "program_participation": ("ssis", {"active_programs": [], "past_programs": []}),
}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


# -- the journey ---------------------------------------------------------------------------------------


@dataclass
class Offer:
    type_id: str
    agency: str
    offer_id: str
    link: str
    tx_code: str | None


@dataclass
class Journey:
    """What the steps learn, in order. Each step returns its key facts as lines."""

    url: str
    clients_path: Path
    citizen: str
    password: str
    http: httpx.Client
    clients: DemoClients | None = None
    tokens: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    offers: list[Offer] = field(default_factory=list)
    me: dict[str, str] = field(default_factory=dict)
    received: dict[str, str] = field(default_factory=dict)  # configuration id -> credential id
    application: dict[str, Any] = field(default_factory=dict)
    consent_id: str = ""
    receipt: str = ""
    outcome: dict[str, Any] = field(default_factory=dict)

    def steps(self) -> list[tuple[str, Callable[[], list[str]]]]:
        return [
            ("The agencies' offers", self.agencies_offer),
            ("The wallet receives them", self.wallet_receives),
            ("Services for me", self.services_for_me),
            ("The verifier's request and exactly the claims it asks for", self.verifier_request),
            ("The consent and its receipt", self.consent_and_receipt),
            ("The decision", self.decision),
            ("The consent's inclusion proof in the ledger", self.inclusion_proof),
            ("The withdrawal, and the verifier seeing it", self.withdrawal),
        ]

    # -- HTTP ----------------------------------------------------------------------------------------
    def call(self, method: str, url: str, *, expect: tuple[int, ...] = (200,), **kwargs: Any) -> httpx.Response:
        if not url.startswith(("http://", "https://")):
            url = self.url + url
        try:
            response = self.http.request(method, url, **kwargs)
        except httpx.TimeoutException:
            raise StepFailed(f"{method} {url}: no answer in time") from None
        except httpx.HTTPError as exc:
            parts = urlsplit(url)
            raise StepFailed(f"cannot reach {parts.scheme}://{parts.netloc}: {exc or type(exc).__name__}") from None
        if response.status_code not in expect:
            raise StepFailed(f"{method} {urlsplit(url).path} answered {describe(response)}")
        return response

    def json(self, method: str, url: str, **kwargs: Any) -> Any:
        response = self.call(method, url, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise StepFailed(f"{method} {urlsplit(url).path} answered something that is not JSON") from None

    def backend_token(self, subject: str, scope: str) -> dict[str, str]:
        """A platform access token for one of the demo's backends (client credentials, RFC 6749 §4.4)."""
        if (subject, scope) not in self.tokens:
            assert self.clients is not None
            client = self.clients.for_subject(subject, scope)
            try:
                answer = self.json(
                    "POST",
                    self.clients.token_endpoint,
                    data={"grant_type": "client_credentials", "scope": scope},
                    auth=(client.client_id, client.client_secret),
                )
            except StepFailed as exc:
                raise StepFailed(f"{subject}'s token (client {client.client_id}): {exc}") from None
            self.tokens[subject, scope] = {"Authorization": f"Bearer {answer['access_token']}"}
        return self.tokens[subject, scope]

    # -- 1 -------------------------------------------------------------------------------------------
    def agencies_offer(self) -> list[str]:
        self.clients = load_clients(self.clients_path)
        self.call("GET", "/readyz")
        facts = [f"clients from {self.clients_path}; tokens from {self.clients.token_endpoint}"]
        elsewhere = [
            name
            for name, address in (("token_endpoint", self.clients.token_endpoint), ("sign_in", self.sign_in_issuer()))
            if address and not address.startswith(self.url + "/")
        ]
        if elsewhere:
            facts.append(f"note: the clients file's {' and '.join(elsewhere)} are not at {self.url}")
        if self.clients.readable_by_others:
            facts.append(f"warning: {self.clients_path} is readable by others (it holds client secrets): chmod 600")
        for type_id, (agency, claims) in YOUTH_OFFERS.items():
            headers = self.backend_token(f"agency:{agency}", "credentials:offer")
            body: dict[str, Any] = {"subject": self.citizen, "credential_type": type_id, "claims": claims}
            if type_id == PIN_CREDENTIAL:
                body["tx_code"] = {"length": 6}
            created = self.json("POST", f"/issuers/{agency}/offers", json=body, headers=headers, expect=(201,))
            offer = Offer(type_id, agency, created["offer_id"], created["offer_link"], created.get("tx_code"))
            self.offers.append(offer)
            pin = f"; PIN {offer.tx_code} (the agency sends it to the citizen separately)" if offer.tx_code else ""
            facts.append(f"agency:{agency:<5} {type_id:<22} offer {offer.offer_id}{pin}")
        return facts

    def sign_in_issuer(self) -> str:
        return self.clients.sign_in.issuer if self.clients and self.clients.sign_in else ""

    # -- 2 -------------------------------------------------------------------------------------------
    def sign_in(self) -> str:
        """The citizen signs in at the provider as a mobile app does: authorization code with PKCE
        (S256), state and nonce; her password on the provider's own form; the ID token verified."""
        assert self.clients is not None
        client = self.clients.sign_in
        if client is None:
            raise StepFailed(
                "the clients file has no sign_in client (issuer, client_id, client_secret, redirect_uri, "
                "scopes): the provider accepts only clients that authenticate at its token endpoint, so the "
                "demo needs an OpenID client of its own"
            )
        metadata = self.json("GET", f"{client.issuer}/.well-known/openid-configuration")
        if metadata.get("issuer") != client.issuer:
            raise StepFailed(
                f"the provider's metadata names the issuer {metadata.get('issuer')!r}, not {client.issuer}"
            )
        verifier = _b64url(secrets.token_bytes(32))
        state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        query = {
            "response_type": "code",
            "client_id": client.client_id,
            "redirect_uri": client.redirect_uri,
            "scope": " ".join(client.scopes),
            "state": state,
            "nonce": nonce,
            "code_challenge": _b64url(hashlib.sha256(verifier.encode("ascii")).digest()),
            "code_challenge_method": "S256",
        }
        page = self.call("GET", f"{metadata['authorization_endpoint']}?{urlencode(query)}", expect=(200, 302, 303))
        if page.status_code == 200:
            form = next((f for f in forms_of(page.text) if "password" in f.fields), None)
            if form is None:
                raise StepFailed(f"the provider's page has no sign-in form: {describe(page)}")
            action = urljoin(str(page.url), form.action)
            fields = {**form.fields, "platform_id": self.citizen, "password": self.password}
            page = self.call("POST", action, data=fields, expect=(302, 303, 400))
            if page.status_code == 400:
                raise StepFailed(f"the provider refused the sign-in of {self.citizen}: {describe(page)}")
        location = page.headers.get("location", "")
        parts = urlsplit(location)
        answer = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if f"{parts.scheme}://{parts.netloc}{parts.path}" != client.redirect_uri or answer.get("state") != state:
            raise StepFailed("the provider's answer did not come back to the redirect URI with our state")
        if "error" in answer:
            raise StepFailed(f"the provider answered {answer['error']}: {answer.get('error_description', '')}")
        tokens = self.json(
            "POST",
            metadata["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": answer.get("code", ""),
                "redirect_uri": client.redirect_uri,
                "code_verifier": verifier,
            },
            auth=(client.client_id, client.client_secret),
        )
        jwks = self.json("GET", metadata["jwks_uri"])
        try:
            claims = jws.verify(tokens["id_token"], jwks_resolver(jwks, "ID token"), typ="JWT").payload
        except jws.JWSError as exc:
            raise StepFailed(f"the ID token does not verify: {exc}") from None
        audience = claims.get("aud")
        if (
            claims.get("iss") != client.issuer
            or client.client_id not in ([audience] if isinstance(audience, str) else audience or [])
            or claims.get("nonce") != nonce
            or not isinstance(claims.get("exp"), int)
            or claims["exp"] <= time.time()
        ):
            raise StepFailed("the ID token's iss, aud, nonce or exp is not ours")
        if claims.get("sub") != self.citizen:
            raise StepFailed(f"the provider signed in {claims.get('sub')!r}, not {self.citizen}")
        self.me = {"Authorization": f"Bearer {tokens['access_token']}"}
        return (
            f"signed in as {self.citizen} at {client.issuer} (client {client.client_id}, code + PKCE S256, "
            f"password form); ID token verified; token scope: {tokens.get('scope', '')}"
        )

    def wallet_receives(self) -> list[str]:
        facts = [self.sign_in()]
        for offer in self.offers:
            preview = self.json("POST", "/wallet/api/offers", json={"offer": offer.link}, headers=self.me)
            asked = preview.get("tx_code")
            body: dict[str, Any] = {"offer": offer.link}
            note = ""
            if asked:
                if not offer.tx_code:
                    raise StepFailed(f"the {offer.type_id} offer asks for a code its agency did not give")
                body["tx_code"] = offer.tx_code
                note = f"; asked for a {asked.get('length')}-digit code, entered"
            stored = self.json("POST", "/wallet/api/credentials", json=body, headers=self.me, expect=(201,))
            for credential in stored["credentials"]:
                self.received[credential["configuration_id"]] = credential["id"]
                display = credential.get("display", {})
                name = display.get("credential", {}).get("name", {})
                issuer = display.get("issuer", {}).get("name") or preview.get("issuer_name", {})
                facts.append(
                    f"{name.get('ko', offer.type_id)} ({name.get('en', '')}) from {issuer.get('ko', '')}: "
                    f"{credential['status']}, verified and stored{note}"
                )
        if len(self.received) != len(YOUTH_OFFERS):
            raise StepFailed(f"received {len(self.received)} credential types, expected {len(YOUTH_OFFERS)}")
        return facts

    # -- 3 -------------------------------------------------------------------------------------------
    def services_for_me(self) -> list[str]:
        view = self.json("GET", "/wallet/api/services", headers=self.me)
        services = {s["service_id"]: s for s in view["services"]}
        youth = services.pop(SERVICE_ID, None)
        if youth is None:
            raise StepFailed(f"the wallet lists no {SERVICE_ID}")
        if youth["standing"] != "eligible":
            reasons = "; ".join(r["text"].get("en", "") for r in youth["reasons"]) or "credentials missing"
            raise StepFailed(f"{youth['name']['ko']} is {youth['standing']}: {reasons}")
        counts: dict[str, int] = {}
        for other in services.values():
            counts[other["standing"]] = counts.get(other["standing"], 0) + 1
        others = ", ".join(f"{n} {standing.replace('_', ' ')}" for standing, n in sorted(counts.items()))
        return [
            f"{youth['name']['ko']} ({youth['name']['en']}, {SERVICE_ID}): eligible; "
            f"{youth['benefit'].get('en', '')} (policy {youth['policy_version']})",
            f"{len(services)} other services: {others}",
            f"evaluated in the wallet on {view['on']} over {view['credentials_considered']} credentials; nothing sent",
        ]

    # -- 4 -------------------------------------------------------------------------------------------
    def verifier_request(self) -> list[str]:
        self.application = self.json("POST", f"/wallet/api/services/{SERVICE_ID}/apply", headers=self.me)
        view = self.application["sharing_request"]
        verifier = view["verifier"]
        trusted = f"verified by {verifier.get('verified_by')}" if verifier.get("verified") else "NOT verified"
        facts = [
            f"check {self.application['request_id']} of {self.application['verifier']}, bound to the applicant",
            f"verifier {verifier['name']['ko']} ({verifier['name']['en']}): {trusted}; "
            f"client id {verifier['client_id']}",
        ]
        for query in view["credentials"]:
            candidate = self._chosen(query)
            claims = ", ".join(
                "/".join(str(p) for p in claim["path"]) + (" (binding)" if claim.get("binding") else "")
                for claim in candidate["claims"]
            )
            facts.append(f"{query['name']['ko']} ({candidate['issuer_name']['ko']}): {claims}")
        receives = "only yes/no" if view.get("disclosure") == "predicate_only" else "the values"
        facts.append(
            f"the service receives {receives}; consent valid {view.get('consent_validity', 0) // 3600} h"
            f"{', one time' if view.get('one_time') else ''}; retention {view.get('retention_days')} days"
        )
        if not view.get("can_share"):
            missing = ", ".join(str(m) for m in view.get("missing", []))
            raise StepFailed(f"the wallet cannot answer this request: missing {missing}")
        return facts

    def _chosen(self, query: dict[str, Any]) -> dict[str, Any]:
        """The candidate for a query among the credentials received in this run (an earlier run's
        credentials fit as well; the demo shares the ones it just received)."""
        for candidate in query.get("candidates", []):
            if self.received.get(candidate["configuration_id"]) == candidate["credential_id"]:
                return candidate
        raise StepFailed(f"none of the credentials just received answers the query {query['query_id']}")

    # -- 5 -------------------------------------------------------------------------------------------
    def consent_and_receipt(self) -> list[str]:
        view = self.application["sharing_request"]
        choices = {q["query_id"]: self._chosen(q)["credential_id"] for q in view["credentials"]}
        body = {"request": self.application["link"], "notice_sha256": view["notice_sha256"], "choices": choices}
        self.outcome = self.json("POST", "/wallet/api/sharing-requests/approve", json=body, headers=self.me)
        if not self.outcome.get("accepted"):
            said = self.outcome.get("error_description") or self.outcome.get("error") or self.outcome.get("body")
            raise StepFailed(f"the verifier did not accept the presentation: {said}")
        self.consent_id = self.outcome["consent_record_id"]
        self.receipt = self.call("GET", f"/wallet/api/consents/{self.consent_id}/receipt", headers=self.me).text.strip()
        try:
            header, claims = jws.read_unverified(self.receipt)
            size = int(claims["log"]["checkpoint"].split("\n")[1])
            leaf = claims["log"]["leaf_index"]
        except (jws.JWSError, KeyError, IndexError, ValueError, TypeError) as exc:
            raise StepFailed(f"the receipt is not a consent receipt: {exc}") from None
        return [
            f"notice {view['notice_sha256'][:16]}… approved; {len(choices)} credentials presented, "
            f"accepted by the verifier",
            f"consent record {self.consent_id} (linked to the request: {self.outcome.get('linked_to_request')})",
            f"receipt ({header.get('typ')}, {header.get('alg')}): {claims['event']['type']} event at "
            f"leaf index {leaf}, checkpoint of tree size {size}",
        ]

    # -- 6 -------------------------------------------------------------------------------------------
    def decision(self) -> list[str]:
        backend = self.backend_token(f"verifier:{VERIFIER}", "presentations:request")
        result = self.json("GET", f"/verifiers/requests/{self.application['request_id']}", headers=backend)
        if result.get("status") != "answered" or "decision" not in result:
            raise StepFailed(f"the check is {result.get('status')}, without a decision")
        jwks = self.json("GET", "/verifiers/jwks.json")
        try:
            verified = jws.verify(result["decision"], jwks_resolver(jwks, "decision"), typ=DECISION_TYP)
        except jws.JWSError as exc:
            raise StepFailed(f"the decision does not verify against /verifiers/jwks.json: {exc}") from None
        decision = verified.payload
        if decision.get("request_id") != self.application["request_id"] or decision.get("subject") != result.get(
            "subject"
        ):
            raise StepFailed("the signed decision is about another check or another subject than the result")
        if decision.get("consent", {}).get("record_id") != self.consent_id:
            raise StepFailed("the decision names another consent")
        if decision.get("eligible") is not True:
            failed = [c for c in decision.get("conditions", []) if c.get("outcome") != "held"]
            raise StepFailed(f"not eligible: {failed[:3]}")
        outcomes: dict[str, int] = {}
        for condition in decision.get("conditions", []):
            outcomes[condition.get("outcome")] = outcomes.get(condition.get("outcome"), 0) + 1
        counted = ", ".join(f"{n} {outcome.replace('_', ' ')}" for outcome, n in sorted(outcomes.items()))
        unneeded = " (alternatives it did not need)" if set(outcomes) - {"held"} else ""
        return [
            f"eligible ({decision['policy']['id']} {decision['policy']['version']}, on "
            f"{decision.get('reference_date')}); conditions: {counted}{unneeded}",
            f"subject {decision['subject']} (pairwise for {VERIFIER}; applicant bound: "
            f"{decision.get('applicant_bound')})",
            f"decision JWT ({verified.header['typ']}, {verified.header['alg']}, kid {verified.header['kid'][:12]}…) "
            f"verified against /verifiers/jwks.json; consent {self.consent_id}",
        ]

    # -- 7 -------------------------------------------------------------------------------------------
    def inclusion_proof(self) -> list[str]:
        check = self.json("POST", f"/wallet/api/consents/{self.consent_id}/receipt-check", headers=self.me)
        failed = [c["name"] for c in check.get("checks", []) if not c.get("ok")]
        if failed or not check.get("valid"):
            raise StepFailed(f"the wallet's receipt check failed: {', '.join(failed) or 'not valid'}")
        facts = [
            f"the wallet's check: all {len(check['checks'])} passed ({', '.join(c['name'] for c in check['checks'])})"
        ]
        verified, current = self._outsider_check()
        facts.append(
            f"my own check from the public endpoints: receipt signature, commitment, inclusion of leaf "
            f"{verified.leaf_index} in the tree of size {verified.checkpoint.tree_size} (root "
            f"{base64.b64encode(verified.checkpoint.root_hash).decode()[:12]}…)"
        )
        facts.append(
            f"current checkpoint of {current.origin} signed, tree size {current.tree_size}; "
            f"consistent with the receipt's"
        )
        return facts

    def _outsider_check(self) -> tuple[VerifiedReceipt, Any]:
        """The receipt verified as anyone can: the ledger's JWKS and log origin, its current signed
        checkpoint, and a consistency proof from the receipt's checkpoint to it."""
        keys = self.json("GET", "/consent/log/keys")
        jwks = self.json("GET", "/consent/jwks.json")
        origin = keys["origin"]
        try:
            verified = verify_receipt(self.receipt, jwks, origin)
        except ReceiptError as exc:
            raise StepFailed(f"the receipt does not verify: {exc}") from None
        if verified.claims.get("sub") != self.consent_id:
            raise StepFailed("the receipt is another consent's")
        note = self.call("GET", "/consent/log/checkpoint").text
        try:
            current = open_checkpoint(note, note_verifiers(jwks, origin), origin)
        except CheckpointError as exc:
            raise StepFailed(f"the current checkpoint does not verify: {exc}") from None
        first, second = verified.checkpoint.tree_size, current.tree_size
        proof: list[bytes] = []
        if first != second:
            answer = self.json("GET", "/consent/log/proof/consistency", params={"first": first, "second": second})
            proof = [base64.b64decode(p, validate=True) for p in answer["proof"]]
        try:
            verify_in_current_log(verified, current, proof)
        except ReceiptError as exc:
            raise StepFailed(str(exc)) from None
        return verified, current

    # -- 8 -------------------------------------------------------------------------------------------
    def withdrawal(self) -> list[str]:
        backend = self.backend_token(f"verifier:{VERIFIER}", "consent:verifier-read")
        before = self._status(self._granted(backend))
        withdrawn = self.json("POST", f"/wallet/api/consents/{self.consent_id}/withdraw", headers=self.me)
        if withdrawn.get("state") != "withdrawn":
            raise StepFailed(f"the consent is {withdrawn.get('state')} after the withdrawal")
        granted = self._granted(backend)
        if granted["state"] != "withdrawn":
            raise StepFailed(f"the verifier's list says {granted['state']}, not withdrawn")
        after = self._status(granted)
        if after != INVALID:
            raise StepFailed(f"the status list says {STATUS_NAMES.get(after, after)} at {granted['status_index']}")
        return [
            f"withdrawn by the citizen: consent {self.consent_id} is {withdrawn['state']}",
            f"the verifier's GET /consent/granted: state {granted['state']}",
            f"{granted['status_list_uri']} (signed by the ledger) at index {granted['status_index']}: "
            f"{STATUS_NAMES.get(before, before)} before, {STATUS_NAMES[after]} now",
        ]

    def _granted(self, backend: dict[str, str]) -> dict[str, Any]:
        listed = self.json("GET", "/consent/granted", headers=backend)
        for consent in listed.get("consents", []):
            if consent.get("id") == self.consent_id:
                return consent
        raise StepFailed(f"the verifier's list of granted consents has no {self.consent_id}")

    def _status(self, granted: dict[str, Any]) -> int:
        uri, index = granted["status_list_uri"], granted["status_index"]
        token = self.call("GET", uri, headers={"Accept": "application/statuslist+jwt"}).text.strip()
        jwks = self.json("GET", "/consent/jwks.json")
        try:
            verified = verify_status_list_token(
                token, jwks_resolver(jwks, "status list"), expected_uri=uri, now=int(time.time())
            )
            return verified.status(index)
        except StatusListError as exc:
            raise StepFailed(f"the consent status list does not verify: {exc}") from None
