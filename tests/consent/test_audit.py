"""The audit finds tampering: edited entries (by index), foreign checkpoints, rollbacks; locally,
over HTTP, and through `seoul-wallet ledger audit`."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import text
from typer.testing import CliRunner

from consent.audit import AuditFailure, HttpSource, LocalSource, audit
from consent.checkpoint import Checkpoint, sign_checkpoint
from consent.log import make_entry
from consent.merkle import leaf_hash
from seoul_wallet.cli import app as cli_app

from .conftest import make_record


@pytest.fixture
def populated(ledger) -> int:
    for n in range(6):
        record_id = ledger.request(make_record(citizen=f"citizen:person-{n:04d}"))
        ledger.grant(record_id)
    return 12


def _edit_entry(engine, index: int, *, rehash: bool) -> None:
    forged = make_entry(index, 1, "withdrawn", "A" * 43)
    with engine.begin() as conn:
        if rehash:
            conn.execute(
                text("UPDATE consent_log_leaves SET entry = :e, leaf_hash = :h WHERE leaf_index = :i"),
                {"e": forged, "h": leaf_hash(forged), "i": index},
            )
        else:
            conn.execute(
                text("UPDATE consent_log_leaves SET entry = :e WHERE leaf_index = :i"), {"e": forged, "i": index}
            )


def test_a_clean_log_passes_locally_and_over_http(ledger, client, populated, tmp_path) -> None:
    state = tmp_path / "state.json"
    report = audit(LocalSource(ledger), state_path=state)
    assert report.tree_size == populated and report.previous_size is None
    pinned = json.loads(state.read_text())
    assert pinned["checkpoint"]["tree_size"] == populated and pinned["keys"]
    ledger.withdraw_all("citizen:person-0001")
    report = audit(HttpSource(client), state_path=state)
    assert report.tree_size == populated + 1 and report.previous_size == populated


@pytest.mark.parametrize("rehash", [False, True], ids=["entry-only", "entry-and-leaf-hash"])
def test_an_entry_edited_in_the_database_is_caught_with_its_index(ledger, client, platform, populated, rehash) -> None:
    ledger.checkpoint()  # the operator signed this state before the edit
    _edit_entry(platform.engine, 7, rehash=rehash)
    for source in (LocalSource(ledger), HttpSource(client)):
        with pytest.raises(AuditFailure) as failure:
            audit(source)
        assert failure.value.index == 7, str(failure.value)


def test_a_malformed_entry_is_named(ledger, platform, populated) -> None:
    ledger.checkpoint()
    with platform.engine.begin() as conn:
        conn.execute(text("UPDATE consent_log_leaves SET entry = :e WHERE leaf_index = 4"), {"e": b'{"sequence":4}'})
    with pytest.raises(AuditFailure) as failure:
        audit(LocalSource(ledger))
    assert failure.value.index == 4


def test_an_entry_with_the_right_fields_but_not_in_canonical_form_is_named(ledger, platform, populated) -> None:
    ledger.checkpoint()
    with platform.engine.begin() as conn:
        entry = conn.execute(text("SELECT entry FROM consent_log_leaves WHERE leaf_index = 3")).scalar_one()
        spaced = json.dumps(json.loads(entry)).encode()  # the same fields, with spaces after ':' and ','
        conn.execute(text("UPDATE consent_log_leaves SET entry = :e WHERE leaf_index = 3"), {"e": spaced})
    with pytest.raises(AuditFailure, match="not in canonical form") as failure:
        audit(LocalSource(ledger))
    assert failure.value.index == 3


def test_a_checkpoint_signed_with_another_key_is_rejected(ledger, client, platform, populated, tmp_path) -> None:
    state = tmp_path / "state.json"
    audit(HttpSource(client), state_path=state)  # pins the ledger's key
    ledger.grant(ledger.request(make_record()))
    note = ledger.checkpoint()
    size = int(note.split("\n")[1])
    impostor = ed25519.Ed25519PrivateKey.generate()
    forged = sign_checkpoint(Checkpoint(ledger.origin, size, bytes(32)), ledger.origin, impostor)
    with platform.engine.begin() as conn:
        conn.execute(
            text("UPDATE consent_log_checkpoints SET note = :n WHERE tree_size = :s"), {"n": forged, "s": size}
        )
    with pytest.raises(AuditFailure, match="checkpoint rejected"):
        audit(HttpSource(client), state_path=state)


def test_a_log_that_shrank_or_changed_under_a_seen_checkpoint_fails(ledger, client, populated, tmp_path) -> None:
    state = tmp_path / "state.json"
    audit(HttpSource(client), state_path=state)
    saved = json.loads(state.read_text())
    saved["checkpoint"]["tree_size"] = populated + 5
    state.write_text(json.dumps(saved))
    with pytest.raises(AuditFailure, match="shrank"):
        audit(HttpSource(client), state_path=state)
    saved["checkpoint"] = {"tree_size": 5, "root_hash": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}
    state.write_text(json.dumps(saved))
    with pytest.raises(AuditFailure, match="seen before"):
        audit(HttpSource(client), state_path=state)


def test_the_audit_command_exits_non_zero_naming_the_first_bad_index(
    ledger, platform, settings, populated, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("SEOUL_WALLET_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("SEOUL_WALLET_MASTER_KEY", settings.master_key_value)
    monkeypatch.setenv("SEOUL_WALLET_PUBLIC_URL", settings.public_url)
    monkeypatch.setenv("SEOUL_WALLET_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SEOUL_WALLET_DEVELOPMENT", "true")
    runner = CliRunner()
    result = runner.invoke(cli_app, ["ledger", "audit"])
    assert result.exit_code == 0, result.output
    assert f"ok: {populated} entries" in result.output
    assert (tmp_path / "ledger-audit.json").exists()
    _edit_entry(platform.engine, 3, rehash=False)
    result = runner.invoke(cli_app, ["ledger", "audit"])
    assert result.exit_code == 1
    assert "at index 3" in result.output
