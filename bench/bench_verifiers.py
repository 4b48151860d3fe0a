"""Verifier benchmarks: the in-process verification pipeline on one core, against raw ES256.

Reproduce: `.venv/bin/python bench/bench_verifiers.py` (writes its section of bench/RESULTS.md);
`--pipeline-only` prints the medians as JSON on its last line and writes nothing (bench/bench_load.py
reads the full presentation's rate from it: the line the HTTP path is measured against).

Measured in a child process pinned to one core (bench/verifier_pipeline.py says what each covers):
one credential; the full youth-allowance presentation (6 credentials) with its decision signed;
raw ES256 verifications with `cryptography`. The target for the one-credential pipeline is >= 60 %
of the two-signature bound (raw / 2). Presentations over HTTP are measured by bench/bench_load.py.
"""

from __future__ import annotations

import argparse
import json
import os
import platform as host
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.results import write_section  # noqa: E402

SECTION = "## verifiers — presentations"
TARGET_PIPELINE = 0.60


def measured_in_child(seconds: float, rounds: int) -> dict[str, float]:
    """The medians, measured in a child pinned to one core (so a caller's other work stays off it)."""
    child = subprocess.run(
        [sys.executable, __file__, "--rounds", str(rounds), "--seconds", str(seconds)],
        env={**os.environ, "BENCH_PIPELINE_CHILD": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(child.stdout.strip().splitlines()[-1])


def report(med: dict[str, float], rounds: int, seconds: float) -> str:
    ratio = med["one"] / (med["raw"] / 2)
    verdict = "met" if ratio >= TARGET_PIPELINE else "missed"
    # What the full presentation costs against its 12 signatures alone, from this run's own figures.
    signatures_share = (12 / med["raw"]) * med["full"]
    return "\n".join(
        [
            SECTION,
            "",
            "Reproduce: `.venv/bin/python bench/bench_verifiers.py`",
            "",
            f"Machine: {host.machine()}, {os.cpu_count()} cores, Python {host.python_version()}. One process pinned",
            f"to one core, median of {rounds} rounds of ~{seconds:g} s, caches warm (keys, status lists).",
            "",
            "| measurement | per second, one core |",
            "|---|---:|",
            f"| one credential (ES256 + KB-JWT): signature, registry, status list, DCQL, policy | {med['one']:,.0f} |",
            "| full youth-allowance presentation: `PresentationChecks.check` over 6 credentials "
            f"(12 signatures, 6 status checks, applicant, DCQL, policy, grant) and the decision signed | "
            f"{med['full']:,.0f} |",
            f"| raw ES256 verify (`cryptography`) | {med['raw']:,.0f} |",
            "",
            f"One credential / (raw / 2) = **{ratio:.3f}** (target ≥ {TARGET_PIPELINE}: {verdict}). The full",
            f"presentation's 12 signature checks alone take {signatures_share:.0%} of its time in this run.",
            "Over HTTP, with the database and the ledger: `## load — application day` (bench/bench_load.py).",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--pipeline-only", action="store_true", help="print the medians as JSON; write nothing")
    args = parser.parse_args()

    if os.environ.get("BENCH_PIPELINE_CHILD"):
        from bench.verifier_pipeline import measure

        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {0})
        print(json.dumps(measure(args.seconds, args.rounds)))
        return
    med = measured_in_child(args.seconds, args.rounds)
    if args.pipeline_only:
        print(json.dumps(med))
        return
    text = report(med, args.rounds, args.seconds)
    print(text)
    if not args.no_write:
        write_section(SECTION, text)


if __name__ == "__main__":
    main()
