"""The app shell: health, readiness, Problem Details everywhere, body limit, request ids, platform JWKS."""

from __future__ import annotations

import json
import logging

from fastapi.testclient import TestClient
from pydantic import BaseModel

from keys import jws
from seoul_wallet.app import create_app
from seoul_wallet.database import create_database_engine


def _assert_problem(response, status: int) -> dict:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["title"] and body["type"]
    return body


def test_healthz_and_readyz(client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}


def test_readyz_reports_an_unreachable_database(platform) -> None:
    platform.engine = create_database_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    with TestClient(create_app(platform=platform)) as client:
        _assert_problem(client.get("/readyz"), 503)


def test_unknown_path_is_a_problem(client) -> None:
    body = _assert_problem(client.get("/no/such/thing"), 404)
    assert body["instance"] == "/no/such/thing"


def test_wrong_method_is_a_problem(client) -> None:
    _assert_problem(client.post("/healthz"), 405)


class _Body(BaseModel):
    name: str
    count: int


def test_validation_errors_name_the_field(app) -> None:
    @app.post("/_probe")
    def probe(body: _Body) -> dict:
        return body.model_dump()

    with TestClient(app) as client:
        body = _assert_problem(client.post("/_probe", json={"name": "x", "count": "many"}), 422)
        assert body["errors"][0]["field"] == "body.count"
        assert "body.count" in body["detail"]
        _assert_problem(client.post("/_probe", content=b"{not json", headers={"content-type": "application/json"}), 422)


def test_unexpected_errors_are_problems_not_tracebacks(app) -> None:
    @app.get("/_boom")
    def boom() -> dict:
        raise RuntimeError("secret internal detail")

    with TestClient(app, raise_server_exceptions=False) as client:
        body = _assert_problem(client.get("/_boom"), 500)
        assert "secret internal detail" not in json.dumps(body)


def test_body_size_limit_by_content_length_and_by_stream(app, platform) -> None:
    @app.post("/_upload")
    async def upload(request_body: dict) -> dict:
        return {"keys": len(request_body)}

    limit = platform.settings.max_body_bytes
    big = json.dumps({"x": "a" * limit}).encode()
    with TestClient(app) as client:
        _assert_problem(client.post("/_upload", content=big, headers={"content-type": "application/json"}), 413)

        def chunks():
            for _ in range(0, len(big), 65536):
                yield b" " * 65536

        # A chunked body has no Content-Length: the limit applies while it streams.
        _assert_problem(client.post("/_upload", content=chunks(), headers={"content-type": "application/json"}), 413)
        assert client.post("/_upload", json={"a": 1}).json() == {"keys": 1}


def test_request_id_is_echoed_and_logged(client, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="seoul_wallet.access"):
        response = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    generated = client.get("/healthz", headers={"X-Request-ID": "bad id\nwith newline"}).headers["x-request-id"]
    assert generated != "bad id\nwith newline" and len(generated) == 32
    records = [r for r in caplog.records if r.name == "seoul_wallet.access"]
    assert records and records[0].path == "/healthz" and records[0].status == 200


def test_json_log_lines_carry_the_request_id() -> None:
    from seoul_wallet.logging_setup import JSONFormatter, request_id_var

    token = request_id_var.set("rid-7")
    try:
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", ("world",), None)
        record.path = "/p"
        line = json.loads(JSONFormatter().format(record))
    finally:
        request_id_var.reset(token)
    assert line["message"] == "hello world" and line["request_id"] == "rid-7" and line["path"] == "/p"


def test_platform_jwks_verifies_platform_signatures(client, platform) -> None:
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    keys = response.json()["keys"]
    assert len(keys) == 1 and keys[0]["kty"] == "EC" and keys[0]["alg"] == "ES256"
    token = platform.keyring.sign("platform", {"decision": "eligible"})
    assert jws.read_header(token)["kid"] == keys[0]["kid"]
    from keys.jwk import load_public_jwk

    public = load_public_jwk({k: keys[0][k] for k in ("kty", "crv", "x", "y")})
    assert jws.verify(token, public).payload == {"decision": "eligible"}


def test_docs_are_served(client) -> None:
    assert client.get("/docs").status_code == 200
    assert client.get("/openapi.json").json()["info"]["title"].startswith("Seoul Wallet")


def test_request_id_with_a_trailing_newline_is_replaced(client) -> None:
    from seoul_wallet.middleware import _SAFE_REQUEST_ID

    assert _SAFE_REQUEST_ID.fullmatch("abc\n") is None
    assert client.get("/healthz", headers={"X-Request-ID": "ok-1"}).headers["x-request-id"] == "ok-1"


def test_an_in_memory_sqlite_database_migrates(tmp_path) -> None:
    # In-memory SQLite gets SQLAlchemy's single-connection pool, which takes no pool sizes.
    from sqlalchemy import inspect

    from seoul_wallet.migrate import upgrade

    engine = create_database_engine("sqlite:///:memory:")
    upgrade(engine)
    assert "issuer_offers" in inspect(engine).get_table_names()
