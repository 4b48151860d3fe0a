"""The load test's short form for CI: scenarios a, b and c at small size against a live 2-worker
server over the test database (SQLite, or PostgreSQL when SEOUL_WALLET_TEST_DATABASE_URL says so),
driven by the documented command in a process of its own. It fails on any error the generator saw,
and checks in the database that what the generator counted happened: every flow's request
answered, every bulk row an offer, every withdrawal recorded. No timing is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from tests.live_servers import PROJECT_ROOT, free_port, server_environment, start_server, stop_server, wait_until_ready
from tests.load.server import LOAD_LIMITS

CITIZENS = 10
FLOWS = 70  # per scenario
BULK_ROWS = 3000


def test_short_load_run_has_no_errors(platform, tmp_path: Path) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = server_environment(platform.settings, base_url, tmp_path, **LOAD_LIMITS)
    server = start_server(env, port, workers=2)
    try:
        wait_until_ready(server, base_url)
        report = tmp_path / "load.json"
        command = [
            sys.executable, "-m", "tests.load", "--scenario", "all",
            "--url", base_url, "--database-url", platform.settings.resolved_database_url,
            "--server-pid", str(server.pid), "--workers", "2",
            "--citizens", str(CITIZENS), "--processes", "1", "--threads", "4",
            "--duration", "8", "--max-flows", str(FLOWS),
            "--bulk-rows", str(BULK_ROWS), "--bulk-part", "1000",
            "--time-limit", "100", "--json", str(report),
        ]  # fmt: skip
        run = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=150)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    finally:
        stop_server(server)

    document = json.loads(report.read_text())
    assert document["ok"] is True
    scenarios = {s["scenario"]: s for s in document["scenarios"]}
    assert set(scenarios) == {"peak", "cohort", "churn"}
    for scenario in scenarios.values():
        assert scenario["errors"] == {}, scenario["error_samples"]
        assert scenario["flows"] > 0
        assert set(scenario["steps"]) >= {"create", "object", "answer", "result"}
        assert len(scenario["worker_peak_rss_mb"]) == 2 and all(m > 0 for m in scenario["worker_peak_rss_mb"])
    bulk = scenarios["cohort"]["bulk"]
    assert bulk["complete"] and bulk["offers_created"] == BULK_ROWS
    withdrawals = scenarios["churn"]["withdrawals"]["count"]
    assert withdrawals > 0

    flows = sum(s["flows"] for s in scenarios.values())
    with platform.engine.connect() as connection:
        answered = connection.execute(
            text("SELECT count(*) FROM presentation_requests WHERE status = 'answered'")
        ).scalar_one()
        offers = connection.execute(
            text("SELECT count(*) FROM issuer_offers WHERE subject LIKE 'cohort-%'")
        ).scalar_one()
        withdrawn = connection.execute(
            text("SELECT count(*) FROM consent_records WHERE state = 'withdrawn'")
        ).scalar_one()
    assert answered == flows  # each flow's check decided once, none twice
    assert offers == BULK_ROWS
    assert withdrawn == withdrawals
