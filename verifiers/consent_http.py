"""The consent gateway over HTTP: the verifier records each presentation's grant in the ledger's API,
exactly as a verifier run by another organisation would."""

from __future__ import annotations

import threading
import time
from dataclasses import asdict

import httpx

from auth.tokens import AccessTokenService
from verifiers.consent_gateway import ConsentRefused, ConsentUnavailable, GrantRecord, PresentationGrant

GRANTS_PATH = "/consent/presentation-grants"
TOKEN_TTL = 300


class HttpConsentGateway:
    """Records grants at `{ledger_url}/consent/presentation-grants` with a token acting for the verifier.

    The token is issued by the platform's authorization server to the verifier party (client id
    `verifiers`), scoped `consent:record` and bound to `verifier:<slug>`, and reused until shortly
    before it expires."""

    def __init__(self, http: httpx.Client, ledger_url: str, tokens: AccessTokenService) -> None:
        self._http = http
        self._url = ledger_url.rstrip("/") + GRANTS_PATH
        self._tokens = tokens
        self._cache: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def _token(self, verifier: str) -> str:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(verifier)
            if cached is not None and cached[0] > now:
                return cached[1]
        token = self._tokens.issue(f"verifier:{verifier}", "verifiers", ["consent:record"], ttl=TOKEN_TTL)
        with self._lock:
            self._cache[verifier] = (now + TOKEN_TTL - 30, token)
        return token

    def record_presentation_grant(self, grant: PresentationGrant) -> GrantRecord:
        body = asdict(grant)
        body["data_items"] = [list(item) for item in grant.data_items]
        body["holder_keys"] = list(grant.holder_keys)
        try:
            response = self._http.post(
                self._url, json=body, headers={"Authorization": f"Bearer {self._token(grant.verifier)}"}, timeout=10.0
            )
        except httpx.HTTPError as exc:
            raise ConsentUnavailable(f"consent ledger unreachable: {exc}") from None
        if response.status_code in (200, 201):
            payload = response.json()
            return GrantRecord(record_id=payload["record_id"], receipt=payload["receipt"])
        if response.status_code == 409:
            problem = response.json()
            raise ConsentRefused(problem.get("reason", "consent_refused"), problem.get("detail", ""))
        raise ConsentUnavailable(f"consent ledger answered HTTP {response.status_code}")
