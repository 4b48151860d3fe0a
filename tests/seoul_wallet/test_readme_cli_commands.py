"""The README's administration commands, run exactly as it shows them (issue 13: every command the
README shows is run by a test): adding an agency and a verifier, expiring consents, erasing a
citizen's consent data. The others run in the CLI, live-server and browser tests."""

from __future__ import annotations

import shlex

from typer.testing import CliRunner

from consent.service import ConsentLedger
from seoul_wallet.cli import app
from tests.consent.conftest import make_record
from tests.seoul_wallet.test_cli_and_serve import cli_env  # noqa: F401  (fixture)
from tests.seoul_wallet.test_readme_commands import COMMANDS


def _shown(start: str) -> list[str]:
    """The README's line starting with `seoul-wallet <start>`, as argv (its comment dropped)."""
    (line,) = [c for c in COMMANDS if c.startswith(f".venv/bin/seoul-wallet {start}")]
    return shlex.split(line.split("#", 1)[0])[1:]


def test_adding_an_agency_and_a_verifier_as_the_readme_shows(cli_env, platform) -> None:  # noqa: F811
    runner = CliRunner()
    agency = runner.invoke(app, _shown("agencies add"))
    assert agency.exit_code == 0, agency.output
    verifier = runner.invoke(app, _shown("verifiers add"))
    assert verifier.exit_code == 0, verifier.output
    from seoul_wallet.app import verifier_service

    assert verifier_service(platform).get("gangnam-youth").name_en == "Gangnam Youth"


def test_expiring_and_erasing_consents_as_the_readme_shows(cli_env, platform) -> None:  # noqa: F811
    from seoul_wallet.app import consent_ledger

    ledger: ConsentLedger = consent_ledger(platform)
    record_id = ledger.request(make_record("citizen:citizen-readme-0001", "verifier:seoul-youth"))
    ledger.grant(record_id)
    runner = CliRunner()
    expired = runner.invoke(app, _shown("ledger expire"))
    assert expired.exit_code == 0, expired.output
    erase = [word if word != "citizen:ID" else "citizen:citizen-readme-0001" for word in _shown("ledger erase")]
    erased = runner.invoke(app, erase)
    assert erased.exit_code == 0, erased.output
    assert ledger.list_for_citizen("citizen:citizen-readme-0001") == []
