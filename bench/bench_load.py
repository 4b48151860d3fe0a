"""The application-day run matrix (issue 15, item 3): scenario (a), full youth-allowance flows over
HTTP, against `seoul-wallet serve` with SQLite and 1 worker, PostgreSQL with 1, 2 and 4 workers
(the PostgreSQL 2-worker row with the cohort's bulk offer, scenario (b), alongside).

Reproduce: `.venv/bin/python bench/bench_load.py [--duration 30] [--no-write]`. Each row is one run
of the load test's own command (tests/load/__main__.py), printed next to its figures. The line to
reach is the in-process pipeline on both cores: 2 x the full presentations/s that
`bench/bench_verifiers.py --pipeline-only` measures on one core in the same run; the target is
25 % of it. Writes `## load — application day` in bench/RESULTS.md and the plots in bench/plots/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform as host
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.results import write_section  # noqa: E402

SECTION = "## load — application day"
PLOTS = Path(__file__).resolve().parent / "plots"
TARGET_SHARE = 0.25
TARGET_P99_MS = 100
TARGET_BULK = 2000
TARGET_RSS_MB = 250
# (label, database, workers, scenario)
ROWS = [
    ("SQLite, 1 worker", "sqlite", 1, "peak"),
    ("PostgreSQL, 1 worker", "postgres", 1, "peak"),
    ("PostgreSQL, 2 workers", "postgres", 2, "cohort"),
    ("PostgreSQL, 4 workers", "postgres", 4, "peak"),
]
# A row that ran: (label, workers, the load test's scenario summary, the command that ran it).
Row = tuple[str, int, dict[str, Any], str]


def pipeline() -> dict[str, float]:
    """The in-process figures, from bench_verifiers' own measurement (its last stdout line)."""
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_verifiers.py"), "--pipeline-only"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(run.stdout.strip().splitlines()[-1])


def load_command(database: str, workers: int, scenario: str, duration: float, citizens: int) -> list[str]:
    return [
        "-m", "tests.load", "--scenario", scenario, "--workers", str(workers), "--database", database,
        "--duration", f"{duration:g}", "--citizens", str(citizens),
    ]  # fmt: skip


def run_row(arguments: list[str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        output = Path(scratch) / "load.json"
        run = subprocess.run([sys.executable, *arguments, "--json", str(output)], cwd=ROOT, text=True, timeout=330)
        document = json.loads(output.read_text()) if output.exists() else {"ok": False, "error": "no output"}
    document["returncode"] = run.returncode
    return document


def _met(ok: bool) -> str:
    return "met" if ok else "missed"


def _on(rows: list[Row], database: str) -> list[tuple[int, dict[str, Any]]]:
    """(workers, summary) of the rows over `database` ("PostgreSQL", "SQLite": how ROWS labels them),
    for the plot's throughput lines and the report's 2-worker verdict alike."""
    return [(workers, s) for label, workers, s, _ in rows if label.startswith(database)]


def plot(rows: list[Row], line: float) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    PLOTS.mkdir(exist_ok=True)
    figure, axes = plt.subplots(figsize=(7, 4.2))
    for database, style in (("PostgreSQL", "o-"), ("SQLite", "s")):
        on = _on(rows, database)
        axes.plot([w for w, _ in on], [s["flows_per_s"] for _, s in on], style, label=f"{database}, over HTTP")
    axes.axhline(line, color="green", label=f"in-process pipeline, 2 cores ({line:,.0f}/s): the line to reach")
    target = line * TARGET_SHARE
    axes.axhline(target, color="green", linestyle="--", label=f"target: 25 % ({target:,.0f}/s)")
    axes.set_yscale("log")
    axes.set_xticks([1, 2, 4])
    axes.set_xlabel("uvicorn workers")
    axes.set_ylabel("full youth-allowance presentations/s")
    axes.set_title("Application day: throughput against workers (2-core machine)")
    axes.legend(fontsize=8)
    figure.tight_layout()
    throughput = PLOTS / "load-throughput.png"
    figure.savefig(throughput, dpi=110)
    plt.close(figure)

    figure, axes = plt.subplots(figsize=(7, 4.2))
    for label, _, s, _ in rows:
        values = s["flow_quantiles_ms"]
        axes.plot(values, [i / (len(values) - 1) for i in range(len(values))], label=label)
    axes.axvline(TARGET_P99_MS, color="grey", linestyle=":", label=f"p99 target ({TARGET_P99_MS} ms)")
    axes.set_xscale("log")
    axes.set_xlabel("flow latency, ms (request created → answer decided)")
    axes.set_ylabel("fraction of flows")
    axes.set_title("Application day: latency distribution (CDF)")
    axes.legend(fontsize=8)
    figure.tight_layout()
    latency = PLOTS / "load-latency.png"
    figure.savefig(latency, dpi=110)
    plt.close(figure)
    return [throughput.name, latency.name]


def report(rows: list[Row], med: dict[str, float], duration: float) -> str:
    line = 2 * med["full"]
    lines = [
        SECTION,
        "",
        f"Reproduce: `.venv/bin/python bench/bench_load.py --duration {duration:g}` (each row: its own command below).",
        "",
        f"Machine: {host.machine()}, {os.cpu_count()} cores, Python {host.python_version()}; the server and the load",
        "generator (tests/load/, its own processes) share the cores. A flow is a full youth-allowance check:",
        "the backend's `POST /verifiers/requests`, the wallet's GET of the request object, six fresh KB-JWTs and",
        "the `direct_post` answer (200, decided), and the backend's read of the decision. Flow latency runs",
        "from the request's creation to the decided answer. Closed loop: 16 flows at a time (2 generator",
        "processes x 8 threads), each starting when the last ended, so the latency here is what 16 concurrent",
        "flows queue for (about 16 / throughput, Little's law); `--rate R` of the load test measures latency",
        "at a given arrival rate instead. The machine's load average is given per row: other work on it takes",
        "cores from the server.",
        "",
        "| config | flows/s | flow p50 / p95 / p99 ms | answer p50 / p99 ms | errors | peak RSS per worker | "
        "bulk offers/s | generator CPU | load avg | command |",
        "|---|---:|---|---|---:|---|---:|---:|---:|---|",
    ]
    for label, _, s, command in rows:
        f, a = s["flow_ms"], s["steps"]["answer"]
        errors = sum(s["errors"].values())
        rss = ", ".join(f"{m:.0f}" for m in s["worker_peak_rss_mb"]) + " MB"
        bulk = f"{s['bulk']['offers_per_s']:,.0f}" if "bulk" in s else "—"
        load = "→".join(f"{v:.1f}" for v in s.get("machine_load_1m", []))
        lines.append(
            f"| {label} | {s['flows_per_s']:.1f} | {f['p50']:.0f} / {f['p95']:.0f} / {f['p99']:.0f} | "
            f"{a['p50']:.0f} / {a['p99']:.0f} | {errors} | {rss} | {bulk} | "
            f"{s['generator_cpu_share']:.1%} | {load} | `{command}` |"
        )
    pg2 = next((s for workers, s in _on(rows, "PostgreSQL") if workers == 2), None)
    lines += [
        "",
        f"In-process pipeline (`bench/bench_verifiers.py --pipeline-only`, this run): {med['full']:,.0f} full",
        f"presentations/s on one core, so {line:,.0f}/s on two: the line to reach; the target is 25 % of it,",
        f"{line * TARGET_SHARE:,.0f}/s.",
    ]
    if pg2 is not None:
        share = pg2["flows_per_s"] / line
        worst_rss = max(m for m in pg2["worker_peak_rss_mb"] if m is not None)
        bulk = pg2.get("bulk", {}).get("offers_per_s", 0.0)
        lines += [
            "",
            "PostgreSQL with 2 workers against the issue's bar (this run):",
            "",
            f"- throughput {pg2['flows_per_s']:.1f}/s = {share:.1%} of the line "
            f"(target ≥ 25 %: {_met(share >= TARGET_SHARE)});",
            f"- p99 {pg2['flow_ms']['p99']:.0f} ms (target < {TARGET_P99_MS} ms: "
            f"{_met(pg2['flow_ms']['p99'] < TARGET_P99_MS)});",
            f"- errors {sum(pg2['errors'].values())} (target 0: {_met(not pg2['errors'])});",
            f"- bulk offers while (a) runs {bulk:,.0f}/s (target ≥ {TARGET_BULK:,}: {_met(bulk >= TARGET_BULK)});",
            f"- peak RSS per worker at most {worst_rss:.0f} MB (target < {TARGET_RSS_MB} MB: "
            f"{_met(worst_rss < TARGET_RSS_MB)}).",
        ]
    lines += [
        "",
        "![throughput against workers](plots/load-throughput.png)",
        "",
        "![latency distribution](plots/load-latency.png)",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load per row")
    parser.add_argument("--citizens", type=int, default=100)
    parser.add_argument("--no-write", action="store_true", help="print; write neither RESULTS.md nor the plots")
    args = parser.parse_args()

    med = pipeline()
    print(f"in-process pipeline: {med['full']:,.0f} full presentations/s on one core", flush=True)
    rows: list[Row] = []
    failed = []
    crashed = False
    for label, database, workers, scenario in ROWS:
        arguments = load_command(database, workers, scenario, args.duration, args.citizens)
        command = ".venv/bin/python " + " ".join(arguments)
        print(f"{label}: {command}", flush=True)
        document = run_row(arguments)
        if not document.get("scenarios"):
            failed.append(f"{label}: {document.get('error', 'the run failed')}")
            crashed = True
            continue
        if document["returncode"] != 0:
            failed.append(f"{label}: errors {document['scenarios'][0]['errors']}")
        rows.append((label, workers, document["scenarios"][0], command))
    text = report(rows, med, args.duration)
    print(text)
    # A row that could not run leaves the recorded table as it was; a row with errors is recorded.
    if not args.no_write and rows and not crashed:
        plot(rows, 2 * med["full"])
        write_section(SECTION, text)
    if failed:
        print("FAILED rows:\n" + "\n".join(failed), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
