"""The load test's command.

    .venv/bin/python -m tests.load --scenario peak --workers 2 --database postgres --duration 60
    .venv/bin/python -m tests.load --scenario all --workers 2 --database postgres --duration 60 --json load.json

It starts `seoul-wallet serve --workers N` on 127.0.0.1 over a fresh database (SQLite in a temp
dir; PostgreSQL: a database created on the server of `--pg-url` and dropped afterwards), issues
the citizens their six credentials over HTTP, then runs the scenarios one after another, each
bounded by `--duration` seconds and `--max-flows` flows: `peak` (a), `cohort` (a with the bulk
offer of `--bulk-rows` rows alongside), `churn` (a with withdrawals), or `all` three. The whole
command stops by itself within `--time-limit` seconds (default 290: scenarios are shortened to
fit). Closed loop by default (`--processes` x `--threads` flows at a time, back to back: the
latency then follows from that concurrency); `--rate R` starts R flows/s instead, whatever the
server's pace, and counts each flow's latency from when it was due. It prints a table per
scenario, writes `--json PATH`, and exits 1 if any request failed (anything but the expected
answer is an error), 2 if the run itself could not be made.

`--url URL --database-url URL [--server-pid PID]` runs against a server already started (the
short form under pytest): the database is where the load test registers its OAuth clients.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

from tests.load.citizens import build_population
from tests.load.report import table, write_json
from tests.load.runner import SCENARIOS, Load, run_scenario
from tests.load.server import DEFAULT_PG_URL, attached, launched

MIN_SCENARIO = 5.0  # seconds: a scenario shorter than this would measure its own start


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="peak")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers of the server")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="a PostgreSQL server (the run creates a database)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per scenario")
    parser.add_argument("--max-flows", type=int, default=20_000, help="flows per scenario at most")
    parser.add_argument("--citizens", type=int, default=100)
    parser.add_argument("--processes", type=int, default=2, help="generator processes")
    parser.add_argument("--threads", type=int, default=8, help="threads (concurrent flows) per process")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="open loop: flows/s in all (0: closed loop, each thread back to back)"
    )
    parser.add_argument("--result-every", type=int, default=1, help="the backend reads every n-th decision (0: none)")
    parser.add_argument("--withdraw-every", type=int, default=3, help="churn: a withdrawal after every n-th flow")
    parser.add_argument("--bulk-rows", type=int, default=100_000)
    parser.add_argument("--bulk-part", type=int, default=2_000, help="rows per POST .../rows")
    parser.add_argument("--time-limit", type=float, default=290.0, help="seconds for the whole command")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--url", help="an already running server (with --database-url)")
    parser.add_argument("--database-url", help="that server's database")
    parser.add_argument("--server-pid", type=int, help="that server's process, for its workers' memory")
    args = parser.parse_args(argv)
    if args.url and not args.database_url:
        parser.error("--url needs --database-url")
    return args


def _alarm(_signum: int, _frame: Any) -> None:
    raise TimeoutError("the load test ran past --time-limit")


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    # Last resort: raised in the main thread, so the server is stopped and its database dropped.
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(int(args.time_limit) + 5)
    scenarios = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    config["command"] = " ".join(["python -m tests.load", *sys.argv[1:]])
    with contextlib.ExitStack() as stack:
        if args.url:
            target = attached(args.url, args.database_url, args.server_pid)
            stack.callback(target.engine.dispose)
        else:
            target = stack.enter_context(launched(args.database, args.workers, args.pg_url))
        set_up = time.monotonic()
        population = build_population(target.base_url, target.engine, args.citizens, churn="churn" in scenarios)
        print(
            f"server {target.base_url} ({args.database}, {args.workers} workers) ready in {set_up - started:.1f} s; "
            f"{len(population.citizens)} citizens with 6 credentials each in {time.monotonic() - set_up:.1f} s",
            flush=True,
        )
        results = []
        for index, name in enumerate(scenarios):
            left = args.time_limit - (time.monotonic() - started) - 20  # stopping, dropping, reporting
            share = left / (len(scenarios) - index) - 5  # a scenario's own start and collection
            duration = min(args.duration, share)
            if duration < MIN_SCENARIO:
                raise TimeoutError(f"no time left for scenario {name} within --time-limit {args.time_limit:g} s")
            if duration < args.duration:
                print(f"{name}: shortened to {duration:.0f} s to end within --time-limit", flush=True)
            load = Load(
                processes=args.processes,
                threads=args.threads,
                duration=duration,
                max_flows=args.max_flows,
                result_every=args.result_every,
                withdraw_every=args.withdraw_every,
                bulk_rows=args.bulk_rows,
                bulk_part=args.bulk_part,
                rate=args.rate,
            )
            result = run_scenario(name, target, population, load)
            results.append(result)
            print(table([result]), flush=True)
    signal.alarm(0)
    if args.json:
        write_json(args.json, config, results)
    failed = [r["scenario"] for r in results if r["errors"] or r["flows"] == 0]
    if failed:
        print(f"FAILED: errors (or no flow at all) in {', '.join(failed)}", flush=True)
        return 1
    print(f"ok: no errors, {time.monotonic() - started:.0f} s in all", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    try:
        return run(args)
    except (TimeoutError, RuntimeError) as exc:
        print(f"the load test could not run: {exc}", file=sys.stderr, flush=True)
        if args.json:
            args.json.write_text(json.dumps({"ok": False, "error": str(exc)}) + "\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
