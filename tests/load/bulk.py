"""Cohort notification (scenario b): one agency's bulk offer to a whole cohort, through the batches
API (`POST /issuers/{slug}/batches`, its rows in parts of JSON Lines, `close`), in a process of its
own while the flows run. One keep-alive connection, parts sent one after another, as an agency's
job would; each part must answer 200 with one offer per row. It stops at the end of the flows'
window even if rows are left (the figure wanted is offers/s *while* the peak runs), and says so.
"""

from __future__ import annotations

import base64
import json
import resource
import time
from dataclasses import dataclass, field
from http.client import HTTPConnection
from typing import Any

from tests.load.citizens import BULK_AGENCY, Credentials
from tests.load.flows import TIMEOUT, FlowError, _call

# A resident-registration row of the cohort: everyone Seoul's notification round is about.
RESIDENT = {
    "birth_date": "2001-03-04",
    "nationality_status": "citizen",
    "resident_sido": "11",
    "resident_sigungu": "11110",
    "as_of": "2026-11-01",
}


@dataclass(slots=True)
class BulkSpec:
    host: str
    port: int
    agency: Credentials
    rows: int
    part_rows: int
    duration: float


@dataclass(slots=True)
class BulkSamples:
    parts: list[float] = field(default_factory=list)  # ms per part
    created: int = 0
    rows_planned: int = 0
    rows_sent: int = 0
    complete: bool = False
    errors: dict[str, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0
    cpu_seconds: float = 0.0


def _parts(rows: int, part_rows: int) -> list[bytes]:
    lines = [json.dumps({"subject": f"cohort-{n:07d}", "claims": RESIDENT}) for n in range(1, rows + 1)]
    return [("\n".join(lines[i : i + part_rows]) + "\n").encode() for i in range(0, rows, part_rows)]


def _token(connection: HTTPConnection, agency: Credentials) -> str:
    basic = base64.b64encode(f"{agency.client_id}:{agency.client_secret}".encode()).decode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Authorization": f"Basic {basic}"}
    status, body = _call(connection, "POST", "/oauth/token", b"grant_type=client_credentials", headers)
    if status != 200:
        raise FlowError(f"bulk-token:{status}", body[:200].decode(errors="replace"))
    return json.loads(body)["access_token"]


def _send(spec: BulkSpec, parts: list[bytes], samples: BulkSamples, auth: dict[str, str]) -> None:
    connection = HTTPConnection(spec.host, spec.port, timeout=TIMEOUT)
    deadline = time.monotonic() + spec.duration
    try:
        opened = {**auth, "Content-Type": "application/json"}
        body = json.dumps({"credential_type": "resident_registration"}).encode()
        status, raw = _call(connection, "POST", f"/issuers/{BULK_AGENCY}/batches", body, opened)
        if status != 201:
            raise FlowError(f"bulk-open:{status}", raw[:200].decode(errors="replace"))
        batch = json.loads(raw)["batch_id"]
        rows_path = f"/issuers/{BULK_AGENCY}/batches/{batch}/rows"
        for part in parts:
            if time.monotonic() >= deadline:
                break
            start = time.perf_counter()
            status, raw = _call(connection, "POST", rows_path, part, {**auth, "Content-Type": "application/jsonl"})
            samples.parts.append((time.perf_counter() - start) * 1000)
            if status != 200:
                raise FlowError(f"bulk-rows:{status}", raw[:200].decode(errors="replace"))
            results = json.loads(raw)["results"]
            rejected = [r for r in results if "error" in r]
            sent = part.count(b"\n")
            samples.rows_sent += sent
            samples.created += len(results) - len(rejected)
            if rejected or len(results) != sent:
                raise FlowError("bulk-rows:row-not-offered", json.dumps(rejected[:1] or results[-1:])[:200])
        samples.ended = time.time()
        status, raw = _call(connection, "POST", f"/issuers/{BULK_AGENCY}/batches/{batch}/close", b"", auth)
        if status != 200:
            raise FlowError(f"bulk-close:{status}", raw[:200].decode(errors="replace"))
        closed = json.loads(raw)
        if closed["created"] != samples.created:
            raise FlowError("bulk-close:count-mismatch", f"server {closed['created']} != {samples.created}")
        samples.complete = samples.rows_sent == spec.rows
    finally:
        connection.close()


def run_bulk(spec: BulkSpec, ready: Any, go: Any, results: Any) -> None:
    """The body of the bulk process: the cohort file built, then sent from `go` on."""
    samples = BulkSamples(rows_planned=spec.rows)
    parts = _parts(spec.rows, spec.part_rows)
    auth: dict[str, str] = {}
    try:
        token_connection = HTTPConnection(spec.host, spec.port, timeout=TIMEOUT)
        auth = {"Authorization": f"Bearer {_token(token_connection, spec.agency)}"}
        token_connection.close()
    except FlowError as exc:
        samples.errors[exc.kind] = 1
        samples.error_samples.append(f"{exc.kind}: {exc.detail}")
    ready.put(True)
    go.wait()
    before = resource.getrusage(resource.RUSAGE_SELF)
    samples.started = time.time()
    if auth:
        try:
            _send(spec, parts, samples, auth)
        except FlowError as exc:
            samples.errors[exc.kind] = samples.errors.get(exc.kind, 0) + 1
            samples.error_samples.append(f"{exc.kind}: {exc.detail}")
        except Exception as exc:  # a transport error is an error of the run, never a hang
            kind = f"bulk:{type(exc).__name__}"
            samples.errors[kind] = samples.errors.get(kind, 0) + 1
            samples.error_samples.append(f"{kind}: {str(exc)[:200]}")
    samples.ended = samples.ended or time.time()
    after = resource.getrusage(resource.RUSAGE_SELF)
    samples.cpu_seconds = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    results.put(samples)
