"""The async OpenID4VCI endpoints never run a database statement on the event loop: a slow query
or an exhausted pool there would stall every request of the worker."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


@pytest.mark.parametrize("endpoint", ["nonce", "token", "credential"])
def test_agency_lookup_stays_off_the_event_loop(client, platform, mois, endpoint) -> None:
    on_loop: list[str] = []

    def spy(_conn, _cursor, statement, *_args) -> None:
        if _on_event_loop():
            on_loop.append(statement)

    event.listen(platform.engine, "before_cursor_execute", spy)
    try:
        # An unknown agency is never cached, so each request looks it up in the database.
        for slug in ("nosuchagency", "mois"):
            client.post(f"/issuers/{slug}/{endpoint}")
    finally:
        event.remove(platform.engine, "before_cursor_execute", spy)
    assert on_loop == []
