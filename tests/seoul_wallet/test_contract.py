"""The committed contract stays in step with the code: openapi.yaml and the Alembic migrations."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from seoul_wallet.models import metadata
from seoul_wallet.openapi_export import render_openapi

ROOT = Path(__file__).resolve().parents[2]


def test_openapi_yaml_matches_the_app() -> None:
    committed = (ROOT / "openapi.yaml").read_text(encoding="utf-8")
    assert committed == render_openapi(), "openapi.yaml is stale: run `make openapi` and commit it"


def test_migrations_create_exactly_the_models(migrated_engine) -> None:
    with migrated_engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == [], f"models and migrations differ; add a migration: {differences}"
