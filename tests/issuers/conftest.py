"""Issuer fixtures: the issuer context over the test platform, agency clients and tokens, helpers."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from sqlalchemy import text

from issuers.context import IssuerContext, build_context
from keys.master import load_master_key
from tests.conftest import bearer_for

RESIDENT = {
    "birth_date": "2001-03-04",
    "nationality_status": "citizen",
    "resident_sido": "11",
    "resident_sigungu": "11110",
    "as_of": "2026-11-01",
}
ISSUER_TABLES = (
    "issuer_agencies",
    "issuer_offers",
    "issuer_status_lists",
    "issuer_batches",
    "issuer_batch_errors",
)


@pytest.fixture
def issuer_context(platform) -> IssuerContext:
    master = load_master_key(platform.settings.master_key_value, platform.settings.resolved_master_key_file)
    return build_context(platform.engine, platform.keyring, master, platform.settings.public_url)


@pytest.fixture
def mois(client, platform) -> dict[str, str]:
    """Headers of the MOIS backend: offer and revoke scopes."""
    return bearer_for(client, platform, "agency:mois", ["credentials:offer", "credentials:revoke"])


@pytest.fixture
def ssis(client, platform) -> dict[str, str]:
    return bearer_for(client, platform, "agency:ssis", ["credentials:offer", "credentials:revoke"])


@pytest.fixture
def admin(client, platform) -> dict[str, str]:
    return bearer_for(client, platform, "platform:admin", ["agencies:admin"])


def snapshot(engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every issuer table (and the key table), to prove that a refusal changed nothing."""
    with engine.connect() as connection:
        return {
            table: sorted(tuple(map(repr, row)) for row in connection.execute(text(f'SELECT * FROM "{table}"')))
            for table in (*ISSUER_TABLES, "signing_keys")
        }


def payload_of(sd_jwt: str) -> dict[str, Any]:
    part = sd_jwt.split("~")[0].split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
