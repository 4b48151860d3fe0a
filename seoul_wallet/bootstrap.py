"""Start-up work for `serve`: migrate, create the platform's keys, seed the demo data."""

from __future__ import annotations

from seoul_wallet.app import PLATFORM_OWNER, Platform
from seoul_wallet.migrate import upgrade


def prepare(platform: Platform) -> None:
    """Idempotent: safe on every start and with several workers."""
    upgrade(platform.engine)
    platform.keyring.ensure_key(PLATFORM_OWNER, "ES256")
