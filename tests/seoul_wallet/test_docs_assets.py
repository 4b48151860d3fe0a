"""/docs is served from the platform itself (issue 14 defect 12): the page names no other host, every
file it loads answers from this app, and its CSP lets only this origin's scripts (and the page's
own bootstrap, by hash) run. In a real browser: tests/browser/test_api_docs.py."""

from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser
from urllib.parse import urlsplit


class _References(HTMLParser):
    """Every URL the page makes the browser load (src, href), and its inline scripts' text."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts: list[str] = []
        self._in_inline_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]
        self._in_inline_script = tag == "script" and "src" not in found

    def handle_endtag(self, tag: str) -> None:
        self._in_inline_script = False

    def handle_data(self, data: str) -> None:
        if self._in_inline_script:
            self.inline_scripts.append(data)


def _page(client) -> tuple[_References, str, str]:
    answer = client.get("/docs")
    assert answer.status_code == 200
    references = _References()
    references.feed(answer.text)
    return references, answer.headers.get("content-security-policy", ""), answer.text


def _directives(policy: str) -> dict[str, list[str]]:
    return {name: values for name, *values in (part.split() for part in policy.split(";") if part.strip())}


def test_the_docs_page_loads_every_file_from_this_app(client) -> None:
    references, _, html = _page(client)
    assert references.urls, "the page loads Swagger UI's script and stylesheet"
    for url in references.urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"{url} is on another host"
        asset = client.get(url)
        assert asset.status_code == 200 and asset.content, url
    kinds = {urlsplit(url).path.rsplit(".", 1)[-1]: client.get(url).headers["content-type"] for url in references.urls}
    assert kinds["js"].startswith("text/javascript") and kinds["css"].startswith("text/css")
    # No absolute URL anywhere in the page (the bootstrap script included): nothing from a CDN.
    assert re.findall(r"https?://", html) == []
    # What it documents is this app's contract.
    openapi = re.search(r"url: '([^']+)'", references.inline_scripts[0])
    assert openapi is not None and client.get(openapi.group(1)).json()["info"]["title"].startswith("Seoul Wallet")


def test_the_docs_page_runs_only_this_origins_scripts_and_its_own_bootstrap(client) -> None:
    references, policy, _ = _page(client)
    directives = _directives(policy)
    assert directives["default-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    hashes = {
        f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
        for script in references.inline_scripts
    }
    assert hashes, "FastAPI's page starts Swagger UI from one inline script"
    # 'self' and exactly the page's own inline scripts: no other host, no 'unsafe-inline', no eval.
    assert set(directives["script-src"]) == {"'self'", *hashes}
    for directive in ("style-src", "connect-src"):
        assert directives[directive] == ["'self'"], directive
    # The middleware adds its policy only where a response has none: the page keeps exactly one.
    assert len(client.get("/docs").headers.get_list("content-security-policy")) == 1


def test_redoc_which_loaded_from_other_hosts_is_not_served(client) -> None:
    # ReDoc loaded its script (and Google Fonts) from other hosts; /docs shows the same contract.
    assert client.get("/redoc").status_code == 404
