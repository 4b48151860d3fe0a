"""Shared fixtures: a real database (SQLite file, or PostgreSQL from SEOUL_WALLET_TEST_DATABASE_URL),
migrated with Alembic, emptied between tests; the app over it; a platform with real keys."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from keys.jwk import b64url_encode
from seoul_wallet.app import Platform, build_platform, create_app
from seoul_wallet.bootstrap import prepare
from seoul_wallet.database import create_database_engine
from seoul_wallet.migrate import upgrade
from seoul_wallet.settings import Settings
from tests.live_servers import (
    empty_all_tables,
    free_port,
    server_environment,
    start_server,
    stop_server,
    wait_until_ready,
)

TEST_DATABASE_URL = os.environ.get("SEOUL_WALLET_TEST_DATABASE_URL")
ON_POSTGRES = bool(TEST_DATABASE_URL and TEST_DATABASE_URL.startswith("postgresql"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if ON_POSTGRES:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: runs in the PostgreSQL pass of .ci/run")
    for item in items:
        if "postgres_only" in item.keywords:
            item.add_marker(skip)


def _worker_database(url: str, worker: str) -> Iterator[str]:
    """A PostgreSQL database of this xdist worker's own, next to the one CI created: workers run
    test files in parallel, and each empties its tables between tests."""
    import psycopg
    from sqlalchemy.engine import make_url

    base = make_url(url)
    name = f"{base.database}_{worker}"
    admin = {"host": base.host, "port": base.port or 5432, "user": base.username, "dbname": "postgres"}
    with psycopg.connect(**admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(**admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if TEST_DATABASE_URL and ON_POSTGRES and worker:
        yield from _worker_database(TEST_DATABASE_URL, worker)
    elif TEST_DATABASE_URL:
        yield TEST_DATABASE_URL
    else:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


@pytest.fixture(scope="session")
def migrated_engine(database_url: str) -> Iterator[Engine]:
    engine = create_database_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=database_url,
        master_key=b64url_encode(secrets.token_bytes(32)),
        public_url="http://127.0.0.1:8000",
        development=True,
        # Tests deliver callbacks explicitly (tests/verifiers/test_callbacks.py), never behind their back.
        callback_worker=False,
        wallet_status_refresh_seconds=0,  # likewise the wallet's status re-check (tests/wallet/test_inbox.py)
    )


class AppTransport(httpx.BaseTransport):
    """Outbound HTTP of one party to another, served by the app under test through Starlette's
    TestClient: real requests and responses through the ASGI app, no network listener needed.
    (Tests that need a real socket use the `live_server` fixture.)"""

    def __init__(self) -> None:
        self.client: TestClient | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.client is None:
            raise httpx.ConnectError("no app is attached to this transport", request=request)
        response = self.client.send(request)
        return httpx.Response(response.status_code, headers=response.headers, content=response.content)


@pytest.fixture
def platform(settings: Settings, migrated_engine: Engine) -> Iterator[Platform]:
    empty_all_tables(migrated_engine)
    platform = build_platform(settings, migrated_engine)
    platform.http = httpx.Client(transport=AppTransport())
    prepare(platform)
    yield platform


@pytest.fixture
def app(platform: Platform):
    app = create_app(platform=platform)
    transport = platform.http._transport
    assert isinstance(transport, AppTransport)
    transport.client = TestClient(app)
    # The wallet's sign-in (Authlib's async client) reaches the built-in provider through the app too.
    platform.provider_transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    return app


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def live_server(request: pytest.FixtureRequest, platform: Platform, tmp_path: Path) -> Iterator[str]:
    """A real `seoul-wallet serve` on a free port, over the test database and master key, with
    SEOUL_WALLET_PUBLIC_URL set to its own address. Workers: `@pytest.mark.parametrize("live_server",
    [2], indirect=True)`; default 1. Yields the base URL; `live_server_env` gives its environment
    (for CLI subprocesses that must share its database and keys)."""
    workers = getattr(request, "param", 1)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = server_environment(platform.settings, base_url, tmp_path)
    process = start_server(env, port, workers)
    try:
        wait_until_ready(process, base_url)
        request.node.live_server_env = env
        yield base_url
    finally:
        stop_server(process)


def bearer_for(client: TestClient, platform: Platform, subject: str, scopes: list[str]) -> dict[str, str]:
    """Headers with an access token for a new OAuth client acting for `subject`, obtained through the
    real token endpoint (client credentials grant)."""
    from auth.clients import register_client

    creds = register_client(platform.engine, subject, scopes)
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": " ".join(scopes)},
        auth=(creds.client_id, creds.client_secret),
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}
