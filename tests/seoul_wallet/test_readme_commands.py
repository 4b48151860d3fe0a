"""Every command the README shows exists as shown (issue 13): each `seoul-wallet …` line names a
command that exists and only options it takes, each `make` target is in the Makefile. (The journeys
themselves run elsewhere: the CLI and live-server tests, `seoul-wallet demo` against a live server.)
A README line naming a command or an option that does not exist fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.main import get_command

from seoul_wallet.cli import app

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
MAKEFILE = (ROOT / "Makefile").read_text(encoding="utf-8")


def _readme_lines(prefix: str) -> list[str]:
    """The README's shell lines starting with `prefix`, continuation lines joined."""
    lines, current = [], ""
    for raw in README.splitlines():
        line = raw.strip()
        if current:
            current += " " + line.rstrip("\\").strip()
            if not line.endswith("\\"):
                lines.append(current)
                current = ""
        elif line.startswith(prefix):
            if line.endswith("\\"):
                current = line.rstrip("\\").strip()
            else:
                lines.append(line)
    return lines


COMMANDS = _readme_lines(".venv/bin/seoul-wallet ")


def _resolve(words: list[str]):
    """The click command the words name, and the words left over."""
    command = get_command(app)
    while words and hasattr(command, "commands") and words[0] in command.commands:
        command = command.commands[words[0]]
        words = words[1:]
    return command, words


def test_the_readme_shows_commands_at_all() -> None:
    assert len(COMMANDS) >= 20


@pytest.mark.parametrize("line", COMMANDS)
def test_every_seoul_wallet_command_in_the_readme_exists_with_its_options(line: str) -> None:
    # A command substitution is a command of its own (shown on its own line too): not this one's options.
    shown = re.sub(r'"?\$\([^)]*\)"?', "VALUE", line.split("#", 1)[0]).replace("[", " ").replace("]", " ")
    words = shown.split()[1:]
    command, rest = _resolve(words)
    assert not hasattr(command, "commands"), f"{line!r}: no such command"
    options = {name for parameter in command.params for name in getattr(parameter, "opts", [])}
    named = {word.split("=", 1)[0] for word in rest if word.startswith("--")}
    assert named <= options, f"{line!r}: {sorted(named - options)} is not an option of `{command.name}`"


@pytest.mark.parametrize("target", sorted(set(re.findall(r"^make (\w+)", README, re.MULTILINE))))
def test_every_make_target_in_the_readme_is_in_the_makefile(target: str) -> None:
    assert re.search(rf"^{target}:", MAKEFILE, re.MULTILINE), f"make {target}: no such target"
