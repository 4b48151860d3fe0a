"""The README's configuration table names every setting the platform reads (issue 13: "configuration:
every setting and its default"): a new setting without its row fails here."""

from __future__ import annotations

from pathlib import Path

from consoles.mount import ConsoleSettings
from seoul_wallet.settings import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def _variables(settings_class: type, prefix: str) -> list[str]:
    return [f"{prefix}{name.upper()}" for name in settings_class.model_fields]


def test_every_setting_has_its_row_in_the_readme() -> None:
    variables = _variables(Settings, "SEOUL_WALLET_") + _variables(ConsoleSettings, "SEOUL_WALLET_CONSOLES_")
    table = README[README.index("## Configuration") : README.index("## Command line")]
    missing = [variable for variable in variables if f"`{variable}`" not in table]
    assert missing == [], f"not in the README's configuration table: {missing}"
