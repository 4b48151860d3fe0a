"""`/` is a landing page: Korean first with English, the wallet's stylesheet and page headers, no
script, one h1; every link on it answers 200. In development it shows the demo accounts, the demo
PIN and where the demo clients are; outside development none of that."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from seoul_wallet.app import build_platform, create_app
from seoul_wallet.demo_data import demo_pin
from wallet.web.rendering import PAGE_HEADERS

# Built by another engineer (issue 13, item 4); until they land these answer 404.
CONSOLES = ("/consoles/agency", "/consoles/service")


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("a", "link"):
            href = dict(attrs).get("href")
            if href:
                self.hrefs.append(href)


def links_of(page: str) -> list[str]:
    parser = _Links()
    parser.feed(page)
    return list(dict.fromkeys(parser.hrefs))


def test_the_landing_page_says_what_this_is_in_korean_first(client, platform) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for name, value in PAGE_HEADERS.items():
        assert page.headers[name] == value
    text = page.text
    assert text.startswith("<!doctype html>") and '<html lang="ko">' in text
    assert text.count("<h1") == 1 and "<script" not in text and " style=" not in text
    assert '<link rel="stylesheet" href="/wallet/static/wallet.css">' in text
    assert "서울지갑은 시민 데이터 지갑입니다" in text and "MyData-style citizen data wallet" in text
    assert text.index("서울지갑은") < text.index("MyData-style")  # Korean first
    assert f"seoul-wallet ledger audit --url {platform.settings.public_url}" in text
    # Development: the demo accounts with their stories, the password, the PIN, the clients' file.
    for platform_id, name in (("citizen-minji-0001", "김민지"), ("citizen-jiwoo-0005", "정지우")):
        assert platform_id in text and name in text
    assert "seoul-demo" in text and demo_pin(platform.master_key) in text
    assert str(platform.settings.data_dir / "demo-clients.json") in text
    assert "개발 모드" in text


def test_every_link_on_the_landing_page_answers_200(client) -> None:
    page = client.get("/").text
    in_page = [link for link in links_of(page) if link.startswith("#")]
    assert in_page == ["#main"] and 'id="main"' in page  # the skip link
    links = [link for link in links_of(page) if not link.startswith("#")]
    expected = {"/", "/wallet", "/docs", "/openapi.json", "/consent/log/checkpoint", "/consent/log/keys", *CONSOLES}
    assert expected <= set(links)
    assert all(link.startswith("/") and not link.startswith("//") for link in links)  # nothing off the site
    failing = {link: client.get(link).status_code for link in links}
    failing = {link: status for link, status in failing.items() if status != 200}
    assert set(failing) <= set(CONSOLES), f"links that do not answer 200: {failing}"
    if failing:
        pytest.xfail(f"the consoles are not built yet, these links answer: {failing}")


def test_outside_development_the_page_shows_no_demo_data(platform, migrated_engine, settings) -> None:
    production = settings.model_copy(update={"development": False, "idp_enabled": False})
    production.public_url = "https://wallet.example"
    app = create_app(platform=build_platform(production, migrated_engine))
    with TestClient(app, base_url="https://wallet.example") as client:
        page = client.get("/")
    assert page.status_code == 200
    text = page.text
    assert "citizen-minji-0001" not in text and "seoul-demo" not in text and "demo-clients.json" not in text
    assert "개발 모드" not in text and demo_pin(platform.master_key) not in text
    assert "seoul-wallet ledger audit --url https://wallet.example" in text
