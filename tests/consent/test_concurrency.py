"""Several processes appending at once never fork or skip the log; a process killed mid-append
leaves a log that audits. Real processes against the real test database (SQLite or PostgreSQL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from consent import log as tlog
from consent.audit import LocalSource, audit
from consent.merkle import leaf_hash, root_from_leaf_hashes

ROOT = Path(__file__).resolve().parents[2]


def _spawn(settings, mode: str, count: int, tag: str, go_file: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "SEOUL_WALLET_DATABASE_URL": settings.database_url,
        "SEOUL_WALLET_MASTER_KEY": settings.master_key_value,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.consent.append_worker", mode, str(count), tag, str(go_file)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _assert_log_is_whole(ledger, expected_size: int | None = None) -> int:
    with ledger.engine.connect() as conn:
        size = tlog.current_size(conn)
        rows = conn.execute(text("SELECT leaf_index, entry FROM consent_log_leaves ORDER BY leaf_index")).all()
        head_root = tlog.root_at(conn, size)
    assert [r.leaf_index for r in rows] == list(range(size)), "the log skipped or duplicated an index"
    assert root_from_leaf_hashes([leaf_hash(bytes(r.entry)) for r in rows]) == head_root
    if expected_size is not None:
        assert size == expected_size
    audit(LocalSource(ledger))
    return size


def _run_four_appenders(ledger, settings, tmp_path: Path) -> None:
    go = tmp_path / "go"
    workers = [_spawn(settings, "requests", 500, f"w{n}", go) for n in range(4)]
    time.sleep(1.5)  # let every worker import and connect, then release them together
    go.touch()
    for worker in workers:
        _, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err
    _assert_log_is_whole(ledger, 2000)
    with ledger.engine.connect() as conn:
        query = text("SELECT status_index FROM consent_records WHERE verifier_id = 'verifier:load'")
        indexes = conn.execute(query).scalars().all()
        assert len(set(indexes)) == len(indexes) == 2000, "two consents shared a status index"


@pytest.mark.postgres_only
def test_four_processes_appending_on_postgresql_yield_one_log(ledger, settings, tmp_path) -> None:
    _run_four_appenders(ledger, settings, tmp_path)


def test_four_processes_appending_on_sqlite_yield_one_log(ledger, settings, tmp_path) -> None:
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("the PostgreSQL variant runs instead")
    _run_four_appenders(ledger, settings, tmp_path)


def test_sigkill_inside_an_append_transaction_leaves_an_auditable_log(ledger, settings, tmp_path) -> None:
    from .conftest import make_record

    ledger.grant(ledger.request(make_record()))
    before = _assert_log_is_whole(ledger)
    go = tmp_path / "go"
    go.touch()
    worker = _spawn(settings, "hold", 500, "hold", go)
    assert worker.stdout.readline().strip() == "READY"  # leaves written, transaction not committed
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=30)
    # The lock is released and nothing of the killed append remains.
    started = time.monotonic()
    ledger.grant(ledger.request(make_record()))
    assert time.monotonic() - started < 20
    _assert_log_is_whole(ledger, before + 2)


def test_sigkill_at_a_random_moment_of_appending_leaves_an_auditable_log(ledger, settings, tmp_path) -> None:
    go = tmp_path / "go"
    go.touch()
    for delay in (0.3, 0.7, 1.1):
        worker = _spawn(settings, "loop", 50, "loop", go)
        assert worker.stdout.readline().strip() == "READY"
        time.sleep(delay)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
        size = _assert_log_is_whole(ledger)
        assert size > 0
    from .conftest import make_record

    ledger.grant(ledger.request(make_record()))
    _assert_log_is_whole(ledger, size + 2)
