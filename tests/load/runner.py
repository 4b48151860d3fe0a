"""Running a scenario: the generator's processes (and the bulk process) started, released together,
collected; the server's workers read from /proc around them.

Scenarios (each on the same server and citizens, one after another):
- `peak` (a): full youth-allowance flows only;
- `cohort` (a + b): the flows, and a bulk offer to a cohort sent at the same time;
- `churn` (a + c): the flows, and after every `withdraw_every`-th flow the citizen withdraws one of
  the consents she granted (each answered presentation is a grant).
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import time
from dataclasses import dataclass
from typing import Any

from tests.load.bulk import BulkSamples, BulkSpec, run_bulk
from tests.load.citizens import Population
from tests.load.flows import ProcessSpec, Samples, run_process
from tests.load.report import summarize
from tests.load.server import Target, cpu_seconds, vm_hwm_mb, worker_pids

SCENARIOS = ("peak", "cohort", "churn")
SPAWN_TIMEOUT = 120.0  # a process not ready by then (imports on a loaded machine) fails the run
COLLECT_GRACE = 90.0  # beyond the scenario's duration: requests time out in 30 s each


@dataclass(slots=True)
class Load:
    processes: int = 2
    threads: int = 8
    duration: float = 60.0
    max_flows: int = 20_000
    result_every: int = 1
    withdraw_every: int = 3
    bulk_rows: int = 100_000
    bulk_part: int = 2_000
    rate: float = 0.0  # flows/s in all (open loop); 0: closed loop, `threads` flows at a time per process


def run_scenario(name: str, target: Target, population: Population, load: Load) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    ready, results, go = context.Queue(), context.Queue(), context.Event()
    processes = max(1, min(load.processes, len(population.citizens)))
    specs = [
        ProcessSpec(
            host=target.host,
            port=target.port,
            backend=population.backend,
            citizens=population.citizens[i::processes],
            dcql_query=population.dcql_query,
            threads=load.threads,
            duration=load.duration,
            max_flows=load.max_flows // processes + (1 if i < load.max_flows % processes else 0),
            result_every=load.result_every,
            withdraw_every=load.withdraw_every if name == "churn" else 0,
            rate=load.rate / processes,
        )
        for i in range(processes)
    ]
    children = [context.Process(target=run_process, args=(spec, ready, go, results), daemon=True) for spec in specs]
    if name == "cohort":
        bulk = BulkSpec(target.host, target.port, population.bulk_agency, load.bulk_rows, load.bulk_part, load.duration)
        children.append(context.Process(target=run_bulk, args=(bulk, ready, go, results), daemon=True))
    for child in children:
        child.start()
    try:
        for _ in children:
            ready.get(timeout=SPAWN_TIMEOUT)
        workers = worker_pids(target.server_pid)
        cpu_before = [cpu_seconds(pid) for pid in workers]
        load_before = os.getloadavg()[0]
        go.set()
        collected: list[Any] = []
        deadline = time.monotonic() + load.duration + COLLECT_GRACE
        while len(collected) < len(children):
            try:
                collected.append(results.get(timeout=max(0.1, deadline - time.monotonic())))
            except queue.Empty:
                raise RuntimeError(f"{name}: the generator did not finish in time") from None
        server_cpu = [cpu_seconds(pid) - before for pid, before in zip(workers, cpu_before, strict=True)]
        peaks = [vm_hwm_mb(pid) for pid in workers]
        machine_load = (load_before, os.getloadavg()[0])
    finally:
        for child in children:
            child.join(timeout=10)
            if child.is_alive():
                child.terminate()
    flows = [c for c in collected if isinstance(c, Samples)]
    bulk_samples = next((c for c in collected if isinstance(c, BulkSamples)), None)
    result = summarize(name, flows, bulk_samples, peaks, server_cpu)
    # Other work on the machine takes cores from the server: a reader needs to know how busy it was.
    result["machine_load_1m"] = [round(v, 2) for v in machine_load]
    return result
