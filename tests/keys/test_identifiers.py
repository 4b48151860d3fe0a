"""Identifiers go on command lines too: one beginning with '-' was read as an option
(`seoul-wallet decision -RKLY…`: "No such option: -R"), about one check in 64."""

from __future__ import annotations

import secrets

import pytest
from typer.testing import CliRunner

from keys import identifiers
from keys.identifiers import random_identifier
from tests.seoul_wallet.test_cli_and_serve import cli_env  # noqa: F401  (fixture)


class _Draws:
    """Stands in for `secrets` inside keys/identifiers.py only: these draws first, then real ones."""

    def __init__(self, *draws: str) -> None:
        self.draws = list(draws)

    def token_urlsafe(self, nbytes: int) -> str:
        return self.draws.pop(0) if self.draws else secrets.token_urlsafe(nbytes)


def test_a_draw_beginning_with_a_dash_is_drawn_again(monkeypatch) -> None:
    monkeypatch.setattr(identifiers, "secrets", _Draws("-RKLYP03h7EvvkVjLnnpLQ", "RKLYP03h7EvvkVjLnnpLQ_"))
    assert random_identifier() == "RKLYP03h7EvvkVjLnnpLQ_"


def test_identifiers_never_begin_with_a_dash_and_keep_their_size() -> None:
    drawn = [random_identifier() for _ in range(2000)]  # ~31 would begin with '-' otherwise
    assert not [i for i in drawn if i.startswith("-")]
    assert {len(i) for i in drawn} == {len(secrets.token_urlsafe(16))}


@pytest.mark.usefixtures("cli_env", "platform")
def test_a_check_gets_such_an_identifier_and_the_cli_takes_it(monkeypatch) -> None:
    """What an operator types: `seoul-wallet decision ID` (credential and offer ids come from the
    same function)."""
    from seoul_wallet.cli import app

    monkeypatch.setattr(identifiers, "secrets", _Draws("-first-draw-is-refused1", "good-check-id-0000001"))
    created = CliRunner().invoke(app, ["request", "--verifier", "seoul-youth", "--service", "seoul_youth_allowance"])
    assert created.exit_code == 0, created.output
    assert "request id: good-check-id-0000001" in created.output
    shown = CliRunner().invoke(app, ["decision", "good-check-id-0000001"])
    assert shown.exit_code == 0 and '"status": "pending"' in shown.output
