"""Display names a person types for a party (an agency, a verifier, an OAuth client): some visible
text, bounded, and no control, format, surrogate or unassigned character.

A NUL is what PostgreSQL refuses (the command answered with a traceback, and the same name on
SQLite was stored as given), a lone surrogate what the UTF-8 encoder refuses; a newline or an
escape sequence would break the lines `agencies list` prints, a bidirectional override would make
a name read as another. Neither belongs in a name. The HTTP API refuses NUL and surrogates before
any endpoint (seoul_wallet/text_guard.py); the commands check their options here.
"""

from __future__ import annotations

import unicodedata

NAME_MAX = 200


def check_display_name(value: str, option: str, max_length: int = NAME_MAX) -> str:
    """`value` without surrounding blanks; ValueError naming `option` (never echoing the value) if
    it is empty, longer than `max_length`, or holds a character of Unicode category C."""
    stripped = value.strip()
    if not stripped or len(stripped) > max_length:
        raise ValueError(f"{option}: 1 to {max_length} characters")
    if any(unicodedata.category(character).startswith("C") for character in stripped):
        raise ValueError(f"{option}: no control characters (NUL included) or unassigned characters")
    return stripped
