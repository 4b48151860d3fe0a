"""The consent gateway over HTTP: the verifier records each presentation's grant in the ledger's API,
exactly as a verifier run by another organisation would.

The call is awaited on the event loop through one long-lived `httpx.AsyncClient` per event loop
(so per worker process), whose pool keeps connections to the ledger alive. No worker thread waits
for the answer: when the ledger is this same server, a thread held while its own route waits for
a thread is how 60 simultaneous presentations starved one worker (issue 14, defect 8).
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict

import httpx
from anyio import CapacityLimiter, to_thread
from anyio.lowlevel import RunVar

from auth.tokens import AccessTokenService
from verifiers.consent_gateway import ConsentRefused, ConsentUnavailable, GrantRecord, PresentationGrant

GRANTS_PATH = "/consent/presentation-grants"
TOKEN_TTL = 300
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
# Keep-alive connections to the ledger, per worker: the grant call costs a request, not a handshake.
LIMITS = httpx.Limits(max_connections=32, max_keepalive_connections=16, keepalive_expiry=60.0)
# Threads for the rare synchronous steps (minting the verifier's token, a synchronous client that
# tests route into the app): a few of their own, never the pool the synchronous routes share.
SIDE_THREADS = 8
# The ledger said no to this very grant: nothing was logged. (Anything else may be transient.)
DEFINITIVE_REFUSALS = (409, 422)
_side_threads: RunVar[CapacityLimiter] = RunVar("consent_gateway_threads")


def side_threads() -> CapacityLimiter:
    """This event loop's limiter for the gateway's synchronous steps."""
    try:
        return _side_threads.get()
    except LookupError:
        limiter = CapacityLimiter(SIDE_THREADS)
        _side_threads.set(limiter)
        return limiter


def reaches_the_network(http: httpx.Client) -> bool:
    """Whether `http` uses httpx's own network transport (as the platform builds it), rather than a
    transport someone put in its place (tests route the platform's outbound HTTP into the app).
    httpx keeps the transport private; if that ever changes, this answers False and the gateway
    goes through `http` in a thread: slower, still correct."""
    return type(getattr(http, "_transport", None)) is httpx.HTTPTransport


class ThroughSyncClient(httpx.AsyncBaseTransport):
    """An async transport that sends through a synchronous client, in a worker thread of the
    gateway's own limiter. For a platform whose outbound HTTP is not the network (the tests' app
    transport): the gateway then reaches exactly what the rest of the platform reaches."""

    def __init__(self, http: httpx.Client) -> None:
        self._http = http

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        outgoing = httpx.Request(request.method, request.url, headers=request.headers, content=body)
        answer = await to_thread.run_sync(self._send, outgoing, limiter=side_threads())
        # The body is already decoded: drop what described its encoding on the wire.
        headers = [
            (k, v)
            for k, v in answer.headers.multi_items()
            if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        ]
        return httpx.Response(answer.status_code, headers=headers, content=answer.content)

    def _send(self, request: httpx.Request) -> httpx.Response:
        response = self._http.send(request)
        response.read()
        response.close()
        return response


class HttpConsentGateway:
    """Records grants at `{ledger_url}/consent/presentation-grants` with a token acting for the verifier.

    The token is issued by the platform's authorization server to the verifier party (client id
    `verifiers`), scoped `consent:record` and bound to `verifier:<slug>`, and reused until shortly
    before it expires. `http` is the platform's synchronous client: when it reaches the network,
    the gateway has an async client of its own beside it (keep-alive, on the event loop); when it
    is routed elsewhere (tests), the gateway follows it (`ThroughSyncClient`)."""

    def __init__(self, http: httpx.Client, ledger_url: str, tokens: AccessTokenService) -> None:
        self._sync = None if reaches_the_network(http) else http
        self._url = ledger_url.rstrip("/") + GRANTS_PATH
        self._tokens = tokens
        self._cache: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()
        # An async client is bound to the event loop that first uses it: one per loop.
        self._clients: RunVar[httpx.AsyncClient] = RunVar(f"consent_gateway_client_{id(self)}")

    @property
    def pooled(self) -> bool:
        """True when the calls go over the network on the gateway's own keep-alive pool."""
        return self._sync is None

    def _client(self) -> httpx.AsyncClient:
        try:
            return self._clients.get()
        except LookupError:
            if self._sync is None:
                client = httpx.AsyncClient(timeout=TIMEOUT, limits=LIMITS)
            else:
                client = httpx.AsyncClient(transport=ThroughSyncClient(self._sync), timeout=TIMEOUT)
            self._clients.set(client)
            return client

    async def aclose(self) -> None:
        """Close this event loop's client (the app's lifespan does, at shutdown)."""
        try:
            client = self._clients.get()
        except LookupError:
            return
        await client.aclose()

    def _cached_token(self, verifier: str) -> str | None:
        with self._lock:
            cached = self._cache.get(verifier)
        return cached[1] if cached is not None and cached[0] > time.monotonic() else None

    def _issue_token(self, verifier: str) -> str:
        now = time.monotonic()
        token = self._tokens.issue(f"verifier:{verifier}", "verifiers", ["consent:record"], ttl=TOKEN_TTL)
        with self._lock:
            self._cache[verifier] = (now + TOKEN_TTL - 30, token)
        return token

    async def record_presentation_grant(self, grant: PresentationGrant) -> GrantRecord:
        body = asdict(grant)
        body["data_items"] = [list(item) for item in grant.data_items]
        body["holder_keys"] = list(grant.holder_keys)
        try:
            # Signing a token reads the keyring: off the event loop, once per TOKEN_TTL.
            token = self._cached_token(grant.verifier) or await to_thread.run_sync(
                self._issue_token, grant.verifier, limiter=side_threads()
            )
            response = await self._client().post(self._url, json=body, headers={"Authorization": f"Bearer {token}"})
        except httpx.HTTPError as exc:
            raise ConsentUnavailable(f"consent ledger unreachable: {exc.__class__.__name__}") from None
        if response.status_code in (200, 201):
            try:
                payload = response.json()
                return GrantRecord(record_id=str(payload["record_id"]), receipt=str(payload["receipt"]))
            except (ValueError, KeyError, TypeError):
                raise ConsentUnavailable("consent ledger answered an unreadable grant") from None
        if response.status_code in DEFINITIVE_REFUSALS:
            try:
                problem = response.json()
            except ValueError:
                problem = {}
            problem = problem if isinstance(problem, dict) else {}
            reason = problem.get("reason") if response.status_code == 409 else "consent_not_recorded"
            detail = problem.get("detail") if isinstance(problem.get("detail"), str) else ""
            raise ConsentRefused(reason if isinstance(reason, str) else "consent_refused", detail)
        raise ConsentUnavailable(f"consent ledger answered HTTP {response.status_code}")
