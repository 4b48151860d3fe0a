"""Shared fixtures: a real database (SQLite file, or PostgreSQL from SEOUL_WALLET_TEST_DATABASE_URL),
migrated with Alembic, emptied between tests; the app over it; a platform with real keys."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine

from keys.jwk import b64url_encode
from seoul_wallet.app import Platform, build_platform, create_app
from seoul_wallet.bootstrap import prepare
from seoul_wallet.database import create_database_engine
from seoul_wallet.migrate import upgrade
from seoul_wallet.models import metadata
from seoul_wallet.settings import Settings

TEST_DATABASE_URL = os.environ.get("SEOUL_WALLET_TEST_DATABASE_URL")
ON_POSTGRES = bool(TEST_DATABASE_URL and TEST_DATABASE_URL.startswith("postgresql"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if ON_POSTGRES:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: runs in the PostgreSQL pass of .ci/run")
    for item in items:
        if "postgres_only" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    if TEST_DATABASE_URL:
        return TEST_DATABASE_URL
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


@pytest.fixture(scope="session")
def migrated_engine(database_url: str) -> Iterator[Engine]:
    engine = create_database_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def _empty_all_tables(engine: Engine) -> None:
    with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(text(f'DELETE FROM "{table.name}"'))


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=database_url,
        master_key=b64url_encode(secrets.token_bytes(32)),
        public_url="http://127.0.0.1:8000",
        development=True,
    )


@pytest.fixture
def platform(settings: Settings, migrated_engine: Engine) -> Iterator[Platform]:
    _empty_all_tables(migrated_engine)
    platform = build_platform(settings, migrated_engine)
    prepare(platform)
    yield platform


@pytest.fixture
def app(platform: Platform):
    return create_app(platform=platform)


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client
