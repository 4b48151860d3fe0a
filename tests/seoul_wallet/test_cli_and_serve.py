"""The command line, and `serve` as a real process answering over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from seoul_wallet.cli import app
from tests.live_servers import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli_env(monkeypatch, settings, platform) -> dict[str, str]:
    env = {
        "SEOUL_WALLET_DATABASE_URL": settings.database_url,
        "SEOUL_WALLET_MASTER_KEY": settings.master_key_value,
        "SEOUL_WALLET_DATA_DIR": str(settings.data_dir),
        "SEOUL_WALLET_DEVELOPMENT": "true",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def test_keys_list_and_rotate(cli_env, platform) -> None:
    runner = CliRunner()
    before = platform.keyring.ensure_key("agency:mois")
    result = runner.invoke(app, ["keys", "rotate", "--owner", "agency:mois", "--retire-after-days", "30"])
    assert result.exit_code == 0, result.output
    after = platform.keyring.ensure_key("agency:mois")
    assert after.kid != before.kid and after.kid in result.output
    listed = runner.invoke(app, ["keys", "list", "--owner", "agency:mois"])
    assert listed.exit_code == 0
    lines = listed.output.strip().splitlines()
    assert len(lines) == 2
    assert after.kid in lines[0] and "active" in lines[0]
    assert before.kid in lines[1] and "rotated" in lines[1]


def test_db_upgrade_is_idempotent(cli_env) -> None:
    result = CliRunner().invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "up to date" in result.output


def test_unsafe_master_key_file_stops_the_cli_with_a_clear_message(tmp_path, monkeypatch, settings) -> None:
    key_file = tmp_path / "master.key"
    key_file.write_text("x" * 43)
    key_file.chmod(0o644)
    monkeypatch.delenv("SEOUL_WALLET_MASTER_KEY", raising=False)
    monkeypatch.setenv("SEOUL_WALLET_MASTER_KEY_FILE", str(key_file))
    monkeypatch.setenv("SEOUL_WALLET_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("SEOUL_WALLET_DEVELOPMENT", "true")
    result = CliRunner().invoke(app, ["keys", "list"])
    assert result.exit_code == 2
    assert "chmod 600" in result.output


def test_production_mode_refuses_an_http_public_url(monkeypatch, settings) -> None:
    monkeypatch.setenv("SEOUL_WALLET_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("SEOUL_WALLET_PUBLIC_URL", "http://wallet.example")
    monkeypatch.delenv("SEOUL_WALLET_DEVELOPMENT", raising=False)
    result = CliRunner().invoke(app, ["keys", "list"])
    assert result.exit_code == 2
    assert "must use https outside development mode" in result.output


def test_openapi_command_writes_the_contract(tmp_path) -> None:
    out = tmp_path / "openapi.yaml"
    result = CliRunner().invoke(app, ["openapi", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == (ROOT / "openapi.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_runs_a_real_server(cli_env, tmp_path, workers) -> None:
    # With 2 workers the requests are answered in spawned processes, which must log too.
    port = free_port()
    env = {**os.environ, **cli_env}
    process = subprocess.Popen(
        [sys.executable, "-m", "seoul_wallet.cli", "serve", "--port", str(port), "--workers", str(workers)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise AssertionError("server did not start") from None
                time.sleep(0.2)
        assert health.status_code == 200
        assert httpx.get(f"{base}/readyz").status_code == 200
        assert httpx.get(f"{base}/docs").status_code == 200
        keys = httpx.get(f"{base}/.well-known/jwks.json").json()["keys"]
        assert keys and keys[0]["alg"] == "ES256"
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0].decode()
    # Logs are JSON lines with a request id.
    assert '"request_id"' in output and '"path": "/healthz"' in output


def test_subject_prints_the_pairwise_subject_and_refuses_what_is_not_a_platform_id(cli_env, platform) -> None:
    runner = CliRunner()
    printed = runner.invoke(app, ["subject", "--verifier", "seoul-youth", "--citizen", "citizen-minji-0001"])
    assert printed.exit_code == 0, printed.output
    assert printed.output.strip() == platform.subjects.for_verifier("seoul-youth", "citizen-minji-0001")
    prefixed = runner.invoke(app, ["subject", "--verifier", "seoul-youth", "--citizen", "citizen:citizen-minji-0001"])
    assert prefixed.output == printed.output
    for args, message in (
        (["--verifier", "seoul-youth", "--citizen", "990501-1234567"], "resident registration number"),
        (["--verifier", "nobody", "--citizen", "citizen-minji-0001"], "no verifier"),
    ):
        refused = runner.invoke(app, ["subject", *args])
        assert refused.exit_code == 2 and message in refused.output, refused.output
