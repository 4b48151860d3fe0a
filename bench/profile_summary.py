"""Where the presentation path holds the GIL, per flow, from py-spy profiles of the server's workers.

    .venv/bin/python -m tests.load --scenario peak --workers 2 --database postgres --duration 30
    # while it runs, for each worker (the server's `spawn_main` children), 15 s each:
    .venv/bin/py-spy record -p PID -d 15 -r 500 --gil -f raw -o after-PID.txt
    .venv/bin/python bench/profile_summary.py --flows-per-second 24.0 after-*.txt [--before 16.9 before-*.txt]

`--gil` samples only the thread holding the GIL: Python's CPU time, which on these workers is the
limit. Each part is the share of samples whose stack passes through it, turned into milliseconds per
flow with the flows/s the load test printed for that run (samples / rate / seconds). Prints a
markdown table; for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path

PARTS = [
    ("the ledger's grant route (log append, receipt)", "record_presentation_grant (consent/presentations.py"),
    ("the response's checks (12 signatures, status, DCQL, policy)", "PresentationChecks.check ("),
    ("the acceptance's intent (encryption, 3 writes)", "Acceptances.begin ("),
    ("the decision (signed, stored)", "Acceptances.complete ("),
    ("the verifier's ledger call (its HTTP client)", "HttpConsentGateway.record_presentation_grant"),
    ("request creation route", "create_router.<locals>.create_request"),
    ("request object route", "create_router.<locals>.request_object"),
    ("bearer token checks", "BearerAuth.require.<locals>.dependency"),
    ("thread hand-offs (anyio `run_sync`)", "run_sync (anyio/to_thread.py"),
]
OWN_CODE = ("sqlalchemy", "psycopg")


def summarise(files: list[Path]) -> tuple[int, collections.Counter[str]]:
    total, parts = 0, collections.Counter[str]()
    for path in files:
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            n = int(count)
            total += n
            for name, marker in PARTS:
                if marker in stack:
                    parts[name] += n
            leaf = stack.rsplit(";", 1)[-1]
            for package in OWN_CODE:
                if f"({package}/" in leaf:
                    parts[package] += n
    return total, parts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=int, default=500, help="py-spy's samples per second")
    parser.add_argument("--seconds", type=float, default=15.0, help="each profile's duration")
    parser.add_argument("--flows-per-second", type=float, required=True)
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--before", nargs="+", help="RATE FILE...: the same for the code before")
    args = parser.parse_args()
    runs = [("after", args.flows_per_second, args.files)]
    if args.before:
        runs.insert(0, ("before", float(args.before[0]), [Path(f) for f in args.before[1:]]))
    results = [(label, rate, *summarise(files)) for label, rate, files in runs]

    def ms(samples: int, rate: float) -> str:
        return f"{samples / args.rate * 1000 / (rate * args.seconds):.1f}"

    print("| where the GIL is held, ms per flow (all workers) | " + " | ".join(r[0] for r in results) + " |")
    print("|---|" + "---:|" * len(results))
    print("| **all** | " + " | ".join(f"**{ms(total, rate)}**" for _, rate, total, _ in results) + " |")
    for name in [p for p, _ in PARTS] + list(OWN_CODE):
        label = name if name not in OWN_CODE else f"of all: {name}'s own code"
        print(f"| {label} | " + " | ".join(ms(parts[name], rate) for _, rate, _, parts in results) + " |")


if __name__ == "__main__":
    main()
