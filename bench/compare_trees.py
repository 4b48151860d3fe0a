"""Application-day throughput of two trees of this project on the same machine, in one run.

    .venv/bin/python bench/compare_trees.py --before 99f2eb1 [--rounds 3] [--duration 30]

The tree at `--before` (a commit) is unpacked into a temporary directory with `git archive`; the
working tree is "after". Each round runs the load test's scenario (a) (tests/load, PostgreSQL,
2 workers, 100 citizens) once against each tree, alternating which goes first, so a machine
that slows down or speeds up during the run (these VMs do) weighs on both alike. Each tree runs
its own load generator and server (PYTHONPATH points the before tree's at its own code). Prints
every run, then the median flows/s and latencies of each tree and the after/before ratio of the
medians; exits 1 if any run had an error.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def unpack(revision: str, into: Path) -> None:
    archive = subprocess.run(["git", "archive", revision], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)


def load_run(tree: Path, duration: float, citizens: int, output: Path) -> dict[str, Any]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if tree != ROOT:
        env["PYTHONPATH"] = str(tree)  # before the editable install of the working tree
    command = [
        sys.executable, "-m", "tests.load", "--scenario", "peak", "--workers", "2", "--database", "postgres",
        "--duration", str(duration), "--citizens", str(citizens), "--json", str(output),
    ]  # fmt: skip
    subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True, timeout=330)
    if not output.exists():
        return {"ok": False, "flows_per_s": 0.0, "flow_ms": {}}
    document = json.loads(output.read_text())
    [peak] = document["scenarios"]
    return {"ok": document["ok"], **peak}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, help="a commit: the tree to compare the working tree with")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--citizens", type=int, default=100)
    args = parser.parse_args(argv)
    runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory(prefix="seoul-before-") as scratch:
        before = Path(scratch) / "tree"
        before.mkdir()
        unpack(args.before, before)
        trees = {"before": before, "after": ROOT}
        for round_number in range(args.rounds):
            order = ["before", "after"] if round_number % 2 == 0 else ["after", "before"]
            for name in order:
                run = load_run(trees[name], args.duration, args.citizens, Path(scratch) / f"{name}-{round_number}.json")
                runs[name].append(run)
                flow = run.get("flow_ms", {})
                print(
                    f"round {round_number + 1} {name:6}: {run['flows_per_s']:6.2f} flows/s, "
                    f"p50 {flow.get('p50', 0):.0f} ms, p99 {flow.get('p99', 0):.0f} ms, ok={run['ok']}",
                    flush=True,
                )
    medians = {name: statistics.median(r["flows_per_s"] for r in runs[name]) for name in runs}
    for name in runs:
        p50 = statistics.median(r.get("flow_ms", {}).get("p50", 0.0) for r in runs[name])
        p99 = statistics.median(r.get("flow_ms", {}).get("p99", 0.0) for r in runs[name])
        print(f"median {name:6}: {medians[name]:.2f} flows/s, flow p50 {p50:.0f} ms, p99 {p99:.0f} ms")
    if medians["before"]:
        print(f"after/before (medians of flows/s): {medians['after'] / medians['before']:.2f}")
    return 0 if all(r["ok"] for name in runs for r in runs[name]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
