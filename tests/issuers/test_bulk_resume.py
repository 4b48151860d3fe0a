"""`seoul-wallet issue-batch` survives being killed (issue 14, defect 10): re-running the same
command finishes the same batch, creates no offer twice, writes every row's outcome to --output
exactly once (the offers committed before the kill included) and reports the batch's exact counts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from tests.issuers.test_bulk import BAD_LINES, cohort

ROWS = 3000  # three transactions of rows: the kill lands after the first
CLI = str(Path(sys.executable).with_name("seoul-wallet"))


@pytest.fixture
def cli_env(platform, tmp_path: Path, monkeypatch) -> dict[str, str]:
    env = {
        "SEOUL_WALLET_DATABASE_URL": platform.settings.resolved_database_url,
        "SEOUL_WALLET_MASTER_KEY": platform.settings.master_key_value,
        "SEOUL_WALLET_DATA_DIR": str(tmp_path),
        "SEOUL_WALLET_DEVELOPMENT": "true",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)  # for the in-process runs through CliRunner
    root = str(Path(__file__).resolve().parents[2])
    return {**os.environ, **env, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}


def _command(file: Path, output: Path, *extra: str) -> list[str]:
    return [
        "issue-batch",
        str(file),
        "--agency",
        "mois",
        "--type",
        "resident_registration",
        "--output",
        str(output),
        *extra,
    ]


def _batch_state(platform) -> list[tuple]:
    with platform.engine.connect() as connection:
        return [tuple(r) for r in connection.execute(text("SELECT lines, created, failed, state FROM issuer_batches"))]


def _offer_ids(platform) -> set[str]:
    with platform.engine.connect() as connection:
        return set(connection.execute(text("SELECT id FROM issuer_offers WHERE batch_id IS NOT NULL")).scalars())


def _kill_after_first_transaction(platform, command: list[str], env: dict[str, str]) -> int:
    """Run the CLI as its own process and SIGKILL it once some rows are committed; returns how many."""
    process = subprocess.Popen([CLI, *command], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            assert process.poll() is None, f"the run ended before it was killed: {process.stderr.read().decode()}"
            states = _batch_state(platform)
            if states and states[0][1] > 0:
                break
            time.sleep(0.01)
        else:
            pytest.fail("no rows were committed within 120 s")
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    return len(_offer_ids(platform))


def _results(output: Path) -> list[dict]:
    return [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]


def test_a_killed_issue_batch_resumes_and_writes_every_offer_once(platform, cli_env, tmp_path: Path) -> None:
    file = tmp_path / "cohort.jsonl"
    file.write_text("\n".join(cohort(ROWS)) + "\n", encoding="utf-8")
    output = tmp_path / "offers.jsonl"
    committed = _kill_after_first_transaction(platform, _command(file, output), cli_env)
    assert 0 < committed < ROWS - len(BAD_LINES), "the kill must land inside the run"
    (lines, created, failed, state), *others = _batch_state(platform)
    assert not others and state == "open"
    assert lines == created + failed and created == committed  # exact, also right after the kill

    from seoul_wallet.cli import app

    result = CliRunner().invoke(app, _command(file, output))
    assert result.exit_code == 0, result.output
    results = _results(output)
    assert [r["line"] for r in results] == list(range(1, ROWS + 1)), "every row once, in order"
    assert {r["line"] for r in results if "error" in r} == set(BAD_LINES)
    assert {r["offer_id"] for r in results if "offer_id" in r} == _offer_ids(platform)
    assert len(_offer_ids(platform)) == ROWS - len(BAD_LINES)
    assert _batch_state(platform) == [(ROWS, ROWS - len(BAD_LINES), len(BAD_LINES), "closed")]
    assert f"{ROWS - len(BAD_LINES)} offers, {len(BAD_LINES)} malformed rows" in result.output


def test_re_running_a_finished_batch_creates_nothing_and_writes_the_same_outcome(
    platform, cli_env, tmp_path: Path
) -> None:
    from seoul_wallet.cli import app

    file = tmp_path / "cohort.jsonl"
    file.write_text("\n".join(cohort(30)) + "\n", encoding="utf-8")
    output = tmp_path / "offers.jsonl"
    assert CliRunner().invoke(app, _command(file, output)).exit_code == 0
    first, offers = output.read_text(encoding="utf-8"), _offer_ids(platform)
    again = CliRunner().invoke(app, _command(file, output))
    assert again.exit_code == 0, again.output
    assert output.read_text(encoding="utf-8") == first
    assert _offer_ids(platform) == offers and len(offers) == 29
    assert "29 offers, 1 malformed rows" in again.output and "0 created by this run" in again.output


def test_a_batch_key_names_one_file(platform, cli_env, tmp_path: Path) -> None:
    from seoul_wallet.cli import app

    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_text("\n".join(cohort(3)) + "\n", encoding="utf-8")
    second.write_text("\n".join(cohort(4)) + "\n", encoding="utf-8")
    output = tmp_path / "offers.jsonl"
    assert CliRunner().invoke(app, _command(first, output, "--batch-key", "nov")).exit_code == 0
    refused = CliRunner().invoke(app, _command(second, output, "--batch-key", "nov"))
    assert refused.exit_code == 2 and "another file" in refused.output
    too_long = CliRunner().invoke(app, _command(second, output, "--batch-key", "k" * 256))
    assert too_long.exit_code == 2 and "1 to 255 characters" in too_long.output
    assert len(_offer_ids(platform)) == 3
    # Without a key, the same bytes name the same batch, whatever the file is called.
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(second.read_bytes())
    assert CliRunner().invoke(app, _command(second, output)).exit_code == 0
    assert CliRunner().invoke(app, _command(copy, output)).exit_code == 0
    assert len(_offer_ids(platform)) == 3 + 4
