"""Writing one benchmark's section of bench/RESULTS.md without touching the others."""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def write_section(section: str, report: str) -> None:
    """Replace (or append) the section headed `section` (a `## ` line) with `report`."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n\n"
    start = text.find(section)
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + report
    else:
        end = text.find("\n## ", start + len(section))
        text = text[:start] + report + ("\n" + text[end + 1 :] if end != -1 else "")
    RESULTS.write_text(text.rstrip("\n") + "\n")
