"""Every response carries the security headers (issue 14 defect 12): no MIME sniffing, no referrer,
a CSP that lets nothing run or frame an API answer, HSTS outside development; and a trailing-slash
redirect no longer reflects the Host header."""

from __future__ import annotations

from fastapi.testclient import TestClient

from seoul_wallet.app import create_app


def test_an_api_answer_can_neither_be_sniffed_framed_nor_run(client) -> None:
    for response in (client.get("/healthz"), client.get("/verifiers/jwks.json"), client.get("/nowhere")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert "default-src 'none'" in response.headers["content-security-policy"]
    # Development serves plain http on 127.0.0.1: no HSTS there.
    assert "strict-transport-security" not in client.get("/healthz").headers


def test_a_page_keeps_its_own_stricter_policy(client) -> None:
    page = client.get("/wallet")
    assert "style-src 'self'" in page.headers["content-security-policy"]
    assert len(page.headers.get_list("content-security-policy")) == 1


def test_outside_development_every_answer_asks_for_https(platform) -> None:
    platform.settings.development = False
    try:
        app = create_app(platform=platform)
    finally:
        platform.settings.development = True
    with TestClient(app, base_url="https://wallet.example") as client:
        assert client.get("/healthz").headers["strict-transport-security"].startswith("max-age=31536000")


def test_a_trailing_slash_is_not_redirected_to_the_host_header(client) -> None:
    answer = client.get("/healthz/", headers={"host": "evil.example"}, follow_redirects=False)
    assert answer.status_code == 404 and "location" not in answer.headers
