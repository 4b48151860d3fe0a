"""Every page of the contract in Chromium, each opened once in the state a citizen sees it in: its
Korean phone-size screenshot is written to docs/screenshots/ (the same names every run), axe-core
finds no serious or critical violation at phone (375×667) and desktop (1280×800) sizes, and nothing
scrolls sideways at 320 px. (One visit per page for all four: the suite stays fast.)"""

from __future__ import annotations

import os
import subprocess
import warnings
from functools import cache
from pathlib import Path

import pytest

from tests.browser.helpers import DESKTOP, NARROW, PHONE, axe_violations, check_page, horizontal_overflow
from tests.browser.pages import PAGES, PageCase, Wallets, prepare_wallets, screenshot_name

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="module")
def wallets(chromium, site) -> Wallets:  # no Chromium: skipped before a server starts
    return prepare_wallets(site, chromium)


@cache
def korean_font_missing() -> str | None:
    """Without a Korean font Chromium draws boxes: the screenshots would show nothing of the pages."""
    listed = subprocess.run(["fc-list", ":lang=ko", "family"], capture_output=True, text=True, check=False)
    if listed.stdout.strip():
        return None
    return "no Korean font is installed, so no screenshots (Debian: apt-get install fonts-nanum)"


@pytest.mark.parametrize("case", [pytest.param(case, id=case.name) for case in PAGES])
def test_every_page(case: PageCase, wallets: Wallets, new_context) -> None:
    state = wallets.signed_in[case.citizen] if case.citizen else None
    page = new_context(viewport=PHONE, storage_state=state).new_page()
    case.open(page, wallets)
    check_page(page, "ko")

    missing_font = korean_font_missing()
    if missing_font and os.environ.get("CI"):
        pytest.fail(missing_font)
    elif missing_font:
        warnings.warn(missing_font, stacklevel=1)
    else:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / screenshot_name(case), full_page=True)

    problems, minor = [], []
    for size_name, size in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(size)
        serious, other = axe_violations(page)
        problems += [f"{size_name}: {line}" for line in serious]
        minor += [f"{size_name}: {line}" for line in other]
    page.set_viewport_size(NARROW)
    overflow = horizontal_overflow(page)
    if overflow > 0:
        problems.append(f"320 px: the page scrolls sideways by {overflow} px")
    for line in minor:  # moderate and minor: reported, not failed
        warnings.warn(f"axe on {case.name} ({page.url}): {line}", stacklevel=1)
    assert not problems, f"{case.name} ({page.url}):\n- " + "\n- ".join(problems)


def test_the_screenshot_index_lists_every_page() -> None:
    """docs/screenshots/README.md, written from the same registry, so the two never disagree."""
    lines = [
        "# Screenshots of the wallet's pages",
        "",
        "Korean, phone size (375×667), full page. Written by `tests/browser/test_every_page.py` on every",
        "run of the browser tests (`.venv/bin/python -m pytest tests/browser`), always with these names.",
        "",
        "| file | page |",
        "| --- | --- |",
        *(f"| [{screenshot_name(c)}]({screenshot_name(c)}) | {c.title} |" for c in PAGES),
        "",
    ]
    assert len({c.name for c in PAGES}) == len(PAGES)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / "README.md").write_text("\n".join(lines), encoding="utf-8")
    # A page renamed or dropped from the registry leaves no stale screenshot behind.
    names = {screenshot_name(c) for c in PAGES}
    for stale in SCREENSHOTS.glob("*.png"):
        if stale.name not in names:
            stale.unlink()
