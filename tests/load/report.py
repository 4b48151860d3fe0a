"""Figures of a scenario from its samples, the table on stdout, the JSON document."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from tests.load.bulk import BulkSamples
from tests.load.flows import Samples


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list (0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def latency(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "count": len(ordered),
        "p50": round(percentile(ordered, 50), 2),
        "p95": round(percentile(ordered, 95), 2),
        "p99": round(percentile(ordered, 99), 2),
        "max": round(ordered[-1], 2) if ordered else 0.0,
    }


def quantiles(values: list[float], points: int = 201) -> list[float]:
    """The distribution in `points` evenly spaced quantiles (what the latency plots draw)."""
    ordered = sorted(values)
    if not ordered:
        return []
    last = len(ordered) - 1
    return [round(ordered[round(i / (points - 1) * last)], 2) for i in range(points)]


def summarize(
    name: str,
    flows: list[Samples],
    bulk: BulkSamples | None,
    workers_peak_mb: list[float | None],
    server_cpu_seconds: list[float],
) -> dict[str, Any]:
    started = min(s.started for s in flows)
    ended = max(s.ended for s in flows)
    wall = max(ended - started, 1e-9)
    all_flows = [ms for s in flows for ms in s.flows]
    steps: dict[str, list[float]] = {}
    for s in flows:
        for step, values in s.steps.items():
            steps.setdefault(step, []).extend(values)
    errors: dict[str, int] = {}
    samples: list[str] = []
    for s in [*flows, *([bulk] if bulk else [])]:
        for kind, count in s.errors.items():
            errors[kind] = errors.get(kind, 0) + count
        samples.extend(s.error_samples)
    withdrawals = [ms for s in flows for ms in s.withdrawals]
    generator_cpu = sum(s.cpu_seconds for s in flows) + (bulk.cpu_seconds if bulk else 0.0)
    window = max(max(ended, bulk.ended if bulk else ended) - min(started, bulk.started if bulk else started), 1e-9)
    result: dict[str, Any] = {
        "scenario": name,
        "duration_s": round(wall, 2),
        "flows": len(all_flows),
        "flows_per_s": round(len(all_flows) / wall, 2),
        "flow_ms": latency(all_flows),
        "flow_quantiles_ms": quantiles(all_flows),
        "steps": {
            step: {**latency(values), "per_s": round(len(values) / wall, 2)} for step, values in sorted(steps.items())
        },
        "errors": errors,
        "error_samples": samples[:20],
        "worker_peak_rss_mb": [round(m, 1) if m is not None else None for m in workers_peak_mb],
        "server_cpu_cores": round(sum(server_cpu_seconds) / window, 2),
        "worker_cpu_cores": [round(seconds / window, 2) for seconds in server_cpu_seconds],
        "generator_cpu_cores": round(generator_cpu / window, 3),
        "generator_cpu_share": round(generator_cpu / window / (os.cpu_count() or 1), 3),
    }
    if withdrawals:
        result["withdrawals"] = {**latency(withdrawals), "per_s": round(len(withdrawals) / wall, 2)}
    if bulk is not None:
        bulk_wall = max(bulk.ended - bulk.started, 1e-9)
        result["bulk"] = {
            "rows_planned": bulk.rows_planned,
            "rows_sent": bulk.rows_sent,
            "offers_created": bulk.created,
            "complete": bulk.complete,
            "duration_s": round(bulk_wall, 2),
            "offers_per_s": round(bulk.created / bulk_wall, 1),
            "part_ms": latency(bulk.parts),
        }
    return result


def table(results: list[dict[str, Any]]) -> str:
    """A readable summary: one block per scenario."""
    out = []
    for r in results:
        f = r["flow_ms"]
        out.append(
            f"== {r['scenario']}: {r['flows']} flows in {r['duration_s']} s = {r['flows_per_s']} flows/s; "
            f"flow p50 {f['p50']} ms, p95 {f['p95']} ms, p99 {f['p99']} ms"
        )
        out.append(f"   {'step':<12} {'count':>7} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
        for step, s in r["steps"].items():
            out.append(
                f"   {step:<12} {s['count']:>7} {s['per_s']:>8} {s['p50']:>8} {s['p95']:>8} {s['p99']:>8} {s['max']:>8}"
            )
        if "withdrawals" in r:
            w = r["withdrawals"]
            out.append(f"   withdrawals: {w['count']} ({w['per_s']}/s), p50 {w['p50']} ms, p99 {w['p99']} ms")
        if "bulk" in r:
            b = r["bulk"]
            state = "all rows" if b["complete"] else "stopped at the end of the flows' window"
            out.append(
                f"   bulk offers: {b['offers_created']} of {b['rows_planned']} rows in {b['duration_s']} s = "
                f"{b['offers_per_s']} offers/s ({state}); "
                f"part p50 {b['part_ms']['p50']} ms, p99 {b['part_ms']['p99']} ms"
            )
        rss = ", ".join(f"{m} MB" for m in r["worker_peak_rss_mb"])
        out.append(
            f"   peak RSS per worker: {rss}; server CPU {r['server_cpu_cores']} cores "
            f"(per worker {', '.join(str(c) for c in r['worker_cpu_cores'])}); "
            f"load generator CPU {r['generator_cpu_cores']} cores ({r['generator_cpu_share']:.1%} of the machine)"
        )
        if "machine_load_1m" in r:
            out.append(f"   machine load average (1 min) before/after: {r['machine_load_1m']}")
        errors = ", ".join(f"{k}: {v}" for k, v in sorted(r["errors"].items())) or "none"
        out.append(f"   errors: {errors}")
        out.extend(f"     {sample}" for sample in r["error_samples"][:5])
    return "\n".join(out)


def write_json(path: Path, config: dict[str, Any], results: list[dict[str, Any]]) -> None:
    ok = all(not r["errors"] for r in results)
    path.write_text(json.dumps({"config": config, "ok": ok, "scenarios": results}, indent=2) + "\n")
