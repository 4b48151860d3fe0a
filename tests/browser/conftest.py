"""Fixtures of the real-browser tests: one Chromium per session (Debian's /usr/bin/chromium, driven by
Playwright; never a browser download), a new context per test, and one live `seoul-wallet serve`
per test module over a fresh database (`site`), with the agencies' and the verifier's back offices
reached over HTTP as their own servers would.

Why a module-scoped server: starting one costs seconds, and the browser tests only need the
database to be empty when a module starts; each test signs in as a citizen of its own, so the
tests of a module never see each other's data. The function-scoped `platform` of tests/conftest.py
empties the tables; no browser test asks for it, so nothing empties them under a running server.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Playwright, Response, sync_playwright
from sqlalchemy.engine import Engine

from tests.browser.helpers import PHONE, Site
from tests.live_servers import (
    QUIET_SETTINGS,
    free_port,
    prepared_server,
    start_server,
    stop_server,
    wait_until_ready,
)

CHROMIUM = Path("/usr/bin/chromium")
# Every wait is on a condition; this only bounds how long a missing element is waited for, so a
# page that is not there fails in seconds rather than Playwright's default 30.
WAIT_MS = 10_000


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        message = f"the browser tests need Debian's Chromium at {CHROMIUM} (make test installs it: make chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    playwright: Playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield browser
        browser.close()
    finally:
        playwright.stop()


@pytest.fixture(scope="module")
def site(database_url: str, migrated_engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A real `seoul-wallet serve` (development mode: the built-in OpenID provider at /idp with the
    demo accounts) over an emptied, prepared test database; its own address is its public URL."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    data_dir = tmp_path_factory.mktemp("browser-server")
    platform, env = prepared_server(database_url, migrated_engine, data_dir, base_url, **QUIET_SETTINGS)
    # Two workers: a page of the wallet calls the issuers and verifiers of the same server over HTTP.
    process = start_server(env, port, workers=2)
    http = httpx.Client(base_url=base_url, timeout=30)
    try:
        wait_until_ready(process, base_url)
        yield Site(base_url, platform, http)
    finally:
        http.close()
        stop_server(process)


@pytest.fixture
def new_context(chromium: Browser, site: Site) -> Iterator[Callable[..., BrowserContext]]:
    """`new_context(**options)`: a fresh browser context (no cookies) on the live server, phone-sized
    unless told otherwise. Any 5xx answer a page gets fails the test: a citizen never sees one.

    No `bypass_csp`: axe is injected with page.evaluate, which runs through the DevTools protocol
    that the page's CSP does not govern. (A <script> tag via page.add_script_tag would need
    `bypass_csp=True`, and that would also let through inline styles the CSP blocks for citizens,
    so the screenshots and the contrast checks would no longer show what they see.)"""
    contexts: list[BrowserContext] = []
    server_errors: list[str] = []

    def open_context(**options: Any) -> BrowserContext:
        settings = {"base_url": site.base, "viewport": PHONE, "locale": "ko-KR", **options}
        context = chromium.new_context(**settings)
        context.set_default_timeout(WAIT_MS)

        def watch(response: Response) -> None:
            if response.status >= 500:
                server_errors.append(f"{response.status} {response.request.method} {response.url}")

        context.on("response", watch)
        contexts.append(context)
        return context

    yield open_context
    for context in contexts:
        context.close()
    assert not server_errors, f"the server answered the browser with an error: {server_errors}"
