"""The consent gateway over HTTP: the verifier records each presentation's grant in the ledger's API,
exactly as a verifier run by another organisation would.

The call is awaited on the event loop, on keep-alive connections kept per event loop (so per worker
process). No worker thread waits for the answer: when the ledger is this same server, a thread held
while its own route waits for a thread is how 60 simultaneous presentations starved one worker
(issue 14, defect 8). Over the network the gateway sends through an `httpcore` connection pool, the
layer httpx itself sends through: one JSON POST whose answer is read whole needs none of httpx's
request and response models (measured: the call went from 9.8 % to 8.5 % of a loaded worker's
time; bench/RESULTS.md, issue 15's second pass).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict

import httpcore
import httpx
from anyio import to_thread
from anyio.lowlevel import RunVar

from auth.tokens import AccessTokenService
from storage.threads import LoopThreads
from verifiers.consent_gateway import ConsentRefused, ConsentUnavailable, GrantRecord, PresentationGrant

GRANTS_PATH = "/consent/presentation-grants"
TOKEN_TTL = 300
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
# Keep-alive connections to the ledger, per worker: the grant call costs a request, not a handshake.
LIMITS = httpx.Limits(max_connections=32, max_keepalive_connections=16, keepalive_expiry=60.0)
# What httpcore raises for a ledger that cannot be reached or answers something that is not HTTP
# (httpx maps these same classes to its HTTPError).
UNREACHABLE = (
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
    httpcore.ProxyError,
    OSError,
)
# Threads for the rare synchronous steps (minting the verifier's token, a synchronous client that
# tests route into the app): a few of their own, never the pool the synchronous routes share.
SIDE_THREADS = 8
# The ledger said no to this very grant: nothing was logged. (Anything else may be transient.)
DEFINITIVE_REFUSALS = (409, 422)
side_threads = LoopThreads("consent_gateway_threads", SIDE_THREADS)


def reaches_the_network(http: httpx.Client, url: str) -> bool:
    """Whether `http` sends to `url` on httpx's own network transport (as the platform builds it):
    not through a transport someone put in its place (tests route the platform's outbound HTTP into
    the app), nor through a proxy the environment names for that address (the gateway's own pool
    would bypass it). httpx keeps both private; if that ever changes, this answers False and the
    gateway goes through `http` in a thread: slower, still correct."""
    transport = getattr(http, "_transport", None)
    transport_for = getattr(http, "_transport_for_url", None)
    if type(transport) is not httpx.HTTPTransport or transport_for is None:
        return False
    return transport_for(httpx.URL(url)) is transport


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
    the gateway has a keep-alive pool of its own beside it (on the event loop); when it
    is routed elsewhere (tests) or through a proxy, the gateway follows it (`ThroughSyncClient`)."""

    def __init__(self, http: httpx.Client, ledger_url: str, tokens: AccessTokenService) -> None:
        self._url = ledger_url.rstrip("/") + GRANTS_PATH
        self._sync = None if reaches_the_network(http, self._url) else http
        self._tokens = tokens
        self._cache: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()
        # A pool or client is bound to the event loop that first uses it: one per loop.
        self._clients: RunVar[httpcore.AsyncConnectionPool | httpx.AsyncClient] = RunVar(
            f"consent_gateway_client_{id(self)}"
        )

    @property
    def pooled(self) -> bool:
        """True when the calls go over the network on the gateway's own keep-alive pool."""
        return self._sync is None

    def _client(self) -> httpcore.AsyncConnectionPool | httpx.AsyncClient:
        try:
            return self._clients.get()
        except LookupError:
            client: httpcore.AsyncConnectionPool | httpx.AsyncClient
            if self._sync is None:
                client = httpcore.AsyncConnectionPool(
                    # httpx's own TLS set-up (its CA bundle, SSL_CERT_FILE), for an https ledger.
                    ssl_context=httpx.create_ssl_context() if self._url.startswith("https:") else None,
                    max_connections=LIMITS.max_connections,
                    max_keepalive_connections=LIMITS.max_keepalive_connections,
                    keepalive_expiry=LIMITS.keepalive_expiry,
                )
            else:
                client = httpx.AsyncClient(transport=ThroughSyncClient(self._sync), timeout=TIMEOUT)
            self._clients.set(client)
            return client

    async def _post(self, body: bytes, token: str) -> tuple[int, bytes]:
        """POST `body` (JSON) to the ledger; its status and whole body."""
        client = self._client()
        if isinstance(client, httpx.AsyncClient):
            json_headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
            answer = await client.post(self._url, content=body, headers=json_headers)
            return answer.status_code, answer.content
        # No Accept-Encoding: the answer comes as it is, nothing to decode.
        headers = [(b"Content-Type", b"application/json"), (b"Authorization", b"Bearer " + token.encode("ascii"))]
        response = await client.request(  # reads the body whole, then releases the connection
            "POST", self._url, headers=headers, content=body, extensions={"timeout": TIMEOUT.as_dict()}
        )
        return response.status, response.content

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
            # As httpx encodes `json=`: compact, UTF-8.
            content = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
            status, answer = await self._post(content, token)
        except (httpx.HTTPError, *UNREACHABLE) as exc:
            raise ConsentUnavailable(f"consent ledger unreachable: {exc.__class__.__name__}") from None
        if status in (200, 201):
            try:
                payload = json.loads(answer)
                return GrantRecord(record_id=str(payload["record_id"]), receipt=str(payload["receipt"]))
            except (ValueError, KeyError, TypeError):
                raise ConsentUnavailable("consent ledger answered an unreadable grant") from None
        if status in DEFINITIVE_REFUSALS:
            try:
                problem = json.loads(answer)
            except ValueError:
                problem = {}
            problem = problem if isinstance(problem, dict) else {}
            reason = problem.get("reason") if status == 409 else "consent_not_recorded"
            detail = problem.get("detail") if isinstance(problem.get("detail"), str) else ""
            raise ConsentRefused(reason if isinstance(reason, str) else "consent_refused", detail)
        raise ConsentUnavailable(f"consent ledger answered HTTP {status}")
