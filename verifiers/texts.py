"""Text a stranger can make us repeat, made harmless before anyone reads it.

A refusal's detail often quotes what was posted (a credential query id, a claim name). It ends up in
the check's `failure.detail`, which a service backend reads and may show in its own pages, and in
the OAuth `error_description` the poster gets. Both are bounded and neutralised: only the characters
RFC 6749 §5.2 allows in an error_description (printable ASCII without `"` and `\\`), and none of
HTML's markup characters, so no backend can be made to render someone's markup (issue 14 defect 15).
"""

from __future__ import annotations

import re

DETAIL_LIMIT = 300
_UNSAFE = re.compile(r"[^\x20-\x7e]|[\"\\<>&`]")
_SPACES = re.compile(r"\s+")


def neutral_text(text: str, limit: int = DETAIL_LIMIT) -> str:
    """`text` with every character outside the safe set replaced by `?`, spaces collapsed, at most
    `limit` characters (an ellipsis of three dots marks a cut)."""
    cleaned = _UNSAFE.sub("?", _SPACES.sub(" ", text)).strip()
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 3] + "..."
