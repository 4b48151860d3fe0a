"""Every string the consoles show has its Korean translation: the templates' (console_*.html, also
checked by `python -m wallet.web.messages check`) and the N_() marks of consoles/*.py, which that
check does not read (it reads wallet/web/ only)."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir

import consoles
from wallet.web.messages import catalog, untranslated


def test_every_console_string_has_korean() -> None:
    known = catalog("ko")
    folder = Path(consoles.__file__).parent
    marked = extract_from_dir(str(folder), [("**.py", "python")], keywords={"N_": None})
    missing = {
        message: f"consoles/{filename}:{line}"
        for filename, line, message, _comments, _context in marked
        if message and (message not in known or not known[message].string)
    }
    assert not missing, f"no Korean for: {missing}"
    in_templates = {m: w for m, w in untranslated().items() if any("console_" in place for place in w)}
    assert not in_templates, f"no Korean for: {in_templates}"
