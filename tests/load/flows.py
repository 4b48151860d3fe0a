"""One load generator process: threads running youth-allowance flows (and consent withdrawals)
back to back with `http.client`, closed loop, until the deadline or the flow budget.

A flow, as a service backend and its citizen's wallet take part in it:
1. `create`: the backend's `POST /verifiers/requests` on the backend's keep-alive connection (one
   per thread: the backend's connection pool), with its client-credentials token, renewed only
   shortly before it expires;
2. `object`: the wallet opens a connection of its own (one per flow: many independent wallets;
   uvicorn workers accept connections, so long-lived ones would all stay on whichever worker took
   them) and GETs the request object. The wallet decodes the signed JWT without checking its x509
   chain: the wallet is not the party under test, and the chain is checked once in full before the
   timed part (tests/load/citizens.py). Its nonce, state, response_uri and client_id are used;
3. `answer`: six fresh KB-JWTs (ES256 over the request's nonce and client_id) and the
   `direct_post` on the same connection: it must answer 200, the decision made;
4. `result`: the backend reads the decision (`GET /verifiers/requests/{id}`, every
   `result_every`-th flow): `answered` and eligible, or an error.
With `withdraw_every` > 0, every such flow is followed by a consent withdrawal from the citizen's
app: `my_consents` (`GET /consent/me`) and `withdraw` (`POST /consent/me/{id}/withdraw`) of one
of her consents still granted or used, on a connection of its own.
"""

from __future__ import annotations

import base64
import json
import resource
import threading
import time
from dataclasses import dataclass, field
from http.client import HTTPConnection, HTTPResponse
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from tests.load.citizens import SERVICE_ID, Citizen, Credentials, dcql_fingerprint

TIMEOUT = 30.0  # seconds per request: a request slower than this is an error, never a hang
TOKEN_MARGIN = 60  # renew the backend's token this long before it expires
KB_HEADER = base64.urlsafe_b64encode(b'{"alg":"ES256","typ":"kb+jwt"}').rstrip(b"=").decode()
WITHDRAWABLE = ("granted", "used_up")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


@dataclass(slots=True)
class ProcessSpec:
    host: str
    port: int
    backend: Credentials
    citizens: list[Citizen]
    dcql_query: dict[str, Any]
    threads: int
    duration: float
    max_flows: int
    result_every: int = 1
    withdraw_every: int = 0
    rate: float = 0.0  # flows/s of this process; 0: closed loop


@dataclass(slots=True)
class Samples:
    """What one process measured: latencies in ms per step and per flow, errors by kind."""

    steps: dict[str, list[float]] = field(default_factory=dict)
    flows: list[float] = field(default_factory=list)
    withdrawals: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0
    cpu_seconds: float = 0.0

    def step(self, name: str, ms: float) -> None:
        self.steps.setdefault(name, []).append(ms)


class FlowError(Exception):
    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(kind)
        self.kind, self.detail = kind, detail


class Budget:
    """The process's flow budget, shared by its threads, and when to start each flow: at once
    (closed loop: each thread starts its next flow when the last ended, so latency follows from
    the concurrency, Little's law), or at a fixed rate (open loop: flows are due every
    1/rate seconds whether or not the earlier ones ended; a flow's latency counts from when it was
    due, so a server falling behind shows as latency, not as fewer requests)."""

    def __init__(self, flows: int, deadline: float, rate: float = 0.0) -> None:
        self.left, self.deadline, self.lock = flows, deadline, threading.Lock()
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.due = time.perf_counter()

    def take(self) -> float | None:
        """The time (perf_counter) the next flow is due, after waiting for it; None when done."""
        with self.lock:
            if self.left <= 0 or time.perf_counter() >= self.deadline:
                return None
            self.left -= 1
            if not self.interval:
                return time.perf_counter()
            due, self.due = self.due, self.due + self.interval
        if due >= self.deadline:
            return None
        time.sleep(max(0.0, due - time.perf_counter()))
        return due


class BackendToken:
    """The backend's access token, reused until shortly before it expires."""

    def __init__(self, spec: ProcessSpec) -> None:
        self.spec, self.lock, self.value, self.expires = spec, threading.Lock(), "", 0.0

    def header(self) -> str:
        with self.lock:
            if time.monotonic() > self.expires - TOKEN_MARGIN:
                connection = HTTPConnection(self.spec.host, self.spec.port, timeout=TIMEOUT)
                pair = f"{self.spec.backend.client_id}:{self.spec.backend.client_secret}"
                form = {"Content-Type": "application/x-www-form-urlencoded"}
                basic = {"Authorization": f"Basic {base64.b64encode(pair.encode()).decode()}"}
                try:
                    grant = b"grant_type=client_credentials"
                    status, body = _call(connection, "POST", "/oauth/token", grant, form | basic)
                finally:
                    connection.close()
                if status != 200:
                    raise FlowError(f"token:{status}", body[:200].decode(errors="replace"))
                answer = json.loads(body)
                self.value, self.expires = answer["access_token"], time.monotonic() + answer.get("expires_in", 3600)
            return f"Bearer {self.value}"


def _call(connection: HTTPConnection, method: str, path: str, body: bytes | None, headers: dict[str, str]):
    connection.request(method, path, body=body, headers=headers)
    response: HTTPResponse = connection.getresponse()
    return response.status, response.read()


class Wallet:
    """A citizen's KB-JWT signer: holder keys loaded once, a signature per credential per flow."""

    def __init__(self, citizen: Citizen) -> None:
        self.citizen = citizen
        self.keys = {
            qid: (text, sd_hash, serialization.load_der_private_key(der, None))
            for qid, (text, sd_hash, der) in citizen.presented.items()
        }

    def vp_token(self, client_id: str, nonce: str) -> str:
        now = int(time.time())
        vp = {}
        for query_id, (text, sd_hash, key) in self.keys.items():
            payload = _b64(json.dumps({"iat": now, "aud": client_id, "nonce": nonce, "sd_hash": sd_hash}).encode())
            signing_input = f"{KB_HEADER}.{payload}"
            r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
            vp[query_id] = [f"{text}{signing_input}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"]
        return json.dumps(vp)


class Worker:
    """One thread: its own citizens, its own backend connection."""

    def __init__(
        self, spec: ProcessSpec, token: BackendToken, citizens: list[Citizen], samples: Samples, lock: threading.Lock
    ) -> None:
        self.spec, self.token, self.samples = spec, token, samples
        self.wallets = [Wallet(c) for c in citizens]
        self.backend: HTTPConnection | None = None
        self.expected_dcql = dcql_fingerprint(spec.dcql_query)
        self.lock = lock  # the samples are shared by the threads of the process

    def _backend_call(self, method: str, path: str, body: bytes | None, headers: dict[str, str]):
        """On the backend's keep-alive connection; a connection the server closed while idle is
        reopened once, as a pooled HTTP client does."""
        for attempt in (1, 2):
            if self.backend is None:
                self.backend = HTTPConnection(self.spec.host, self.spec.port, timeout=TIMEOUT)
            try:
                return _call(self.backend, method, path, body, headers)
            except (ConnectionError, OSError) as exc:
                self.backend.close()
                self.backend = None
                if attempt == 2 or isinstance(exc, TimeoutError):
                    raise
        raise AssertionError("unreachable")

    def _timed(self, name: str, fn, *args):
        start = time.perf_counter()
        try:
            return fn(*args)
        except FlowError:
            raise
        except Exception as exc:
            raise FlowError(f"{name}:{type(exc).__name__}", str(exc)[:200]) from None
        finally:
            elapsed = (time.perf_counter() - start) * 1000
            with self.lock:
                self.samples.step(name, elapsed)

    def flow(self, wallet: Wallet, number: int, flow_start: float) -> None:
        headers = {"Authorization": self.token.header(), "Content-Type": "application/json"}
        body = json.dumps({"service_id": SERVICE_ID}).encode()
        status, raw = self._timed("create", self._backend_call, "POST", "/verifiers/requests", body, headers)
        if status != 201:
            raise FlowError(f"create:{status}", raw[:200].decode(errors="replace"))
        created = json.loads(raw)
        request_uri = parse_qs(urlsplit(created["link"]).query)["request_uri"][0]
        wallet_connection = HTTPConnection(self.spec.host, self.spec.port, timeout=TIMEOUT)
        try:
            status, raw = self._timed("object", _call, wallet_connection, "GET", urlsplit(request_uri).path, None, {})
            if status != 200:
                raise FlowError(f"object:{status}", raw[:200].decode(errors="replace"))
            claims = json.loads(_unb64(raw.decode().split(".")[1]))
            if dcql_fingerprint(claims["dcql_query"]) != self.expected_dcql:
                raise FlowError("object:unexpected-dcql-query")

            def answer() -> tuple[int, bytes]:
                vp_token = wallet.vp_token(claims["client_id"], claims["nonce"])
                form = urlencode({"vp_token": vp_token, "state": claims["state"]})
                return _call(
                    wallet_connection,
                    "POST",
                    urlsplit(claims["response_uri"]).path,
                    form.encode(),
                    {"Content-Type": "application/x-www-form-urlencoded"},
                )

            status, raw = self._timed("answer", answer)
        finally:
            wallet_connection.close()
        if status != 200:
            raise FlowError(f"answer:{status}", raw[:300].decode(errors="replace"))
        flow_ms = (time.perf_counter() - flow_start) * 1000
        with self.lock:
            self.samples.flows.append(flow_ms)
        if self.spec.result_every and number % self.spec.result_every == 0:
            path = f"/verifiers/requests/{created['request_id']}"
            auth = {"Authorization": headers["Authorization"]}
            status, raw = self._timed("result", self._backend_call, "GET", path, None, auth)
            result = json.loads(raw) if status == 200 else {}
            if status != 200 or result.get("status") != "answered" or result.get("eligible") is not True:
                raise FlowError(f"result:{status}:{result.get('status')}:{result.get('eligible')}", raw[:300].decode())
        if self.spec.withdraw_every and number % self.spec.withdraw_every == 0:
            self.withdraw(wallet.citizen)

    def withdraw(self, citizen: Citizen) -> None:
        """The citizen's app: her consents, then the withdrawal of one she granted."""
        start = time.perf_counter()
        headers = {"Authorization": f"Bearer {citizen.app_token}"}
        app = HTTPConnection(self.spec.host, self.spec.port, timeout=TIMEOUT)
        try:
            status, raw = self._timed("my_consents", _call, app, "GET", "/consent/me", None, headers)
            if status != 200:
                raise FlowError(f"my_consents:{status}", raw[:200].decode(errors="replace"))
            open_ones = [c["id"] for c in json.loads(raw)["consents"] if c["state"] in WITHDRAWABLE]
            if not open_ones:
                raise FlowError("my_consents:nothing-to-withdraw")
            path = f"/consent/me/{open_ones[0]}/withdraw"
            status, raw = self._timed("withdraw", _call, app, "POST", path, b"", headers)
            if status != 200 or json.loads(raw).get("state") != "withdrawn":
                raise FlowError(f"withdraw:{status}", raw[:200].decode(errors="replace"))
        finally:
            app.close()
        with self.lock:
            self.samples.withdrawals.append((time.perf_counter() - start) * 1000)

    def run(self, budget: Budget) -> None:
        number = 0
        while (due := budget.take()) is not None:
            wallet = self.wallets[number % len(self.wallets)]
            number += 1
            try:
                self.flow(wallet, number, due)
            except FlowError as exc:
                with self.lock:
                    self.samples.errors[exc.kind] = self.samples.errors.get(exc.kind, 0) + 1
                    if len(self.samples.error_samples) < 10:
                        self.samples.error_samples.append(f"{exc.kind}: {exc.detail}")
        if self.backend is not None:
            self.backend.close()


def run_process(spec: ProcessSpec, ready: Any, go: Any, results: Any) -> None:
    """The body of one generator process (multiprocessing target): prepare, wait for `go`, run,
    put its Samples on `results`."""
    samples = Samples()
    token = BackendToken(spec)
    shares = [spec.citizens[i :: spec.threads] for i in range(spec.threads)]
    lock = threading.Lock()
    workers = [Worker(spec, token, share, samples, lock) for share in shares if share]
    try:
        token.header()  # before the timed part, as a running backend already holds one
    except FlowError as exc:
        samples.errors[exc.kind] = 1
        samples.error_samples.append(f"{exc.kind}: {exc.detail}")
    ready.put(True)
    go.wait()
    budget = Budget(spec.max_flows, time.perf_counter() + spec.duration, spec.rate)
    before = resource.getrusage(resource.RUSAGE_SELF)
    samples.started = time.time()
    threads = [threading.Thread(target=w.run, args=(budget,), daemon=True) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    samples.ended = time.time()
    after = resource.getrusage(resource.RUSAGE_SELF)
    samples.cpu_seconds = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    results.put(samples)
