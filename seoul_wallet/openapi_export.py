"""Export the app's OpenAPI document as YAML, deterministically, for openapi.yaml."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml


def render_openapi() -> str:
    """The OpenAPI document of the app, as YAML text. Needs no database or real key: the schema
    does not depend on data, so a throwaway SQLite file and a throwaway key are used."""
    from seoul_wallet.app import create_app
    from seoul_wallet.settings import Settings

    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings(
            data_dir=Path(scratch), database_url=None, master_key=None, master_key_file=None, development=True
        )
        app = create_app(settings)
        document = app.openapi()
        app.state.platform.engine.dispose()
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=120)
