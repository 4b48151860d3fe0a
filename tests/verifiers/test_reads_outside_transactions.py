"""A backend's reads of its check (the request object, the result) open no database transaction.

On PostgreSQL a read transaction ends in ROLLBACK, and psycopg then drops every statement it had
prepared on that connection (DEALLOCATE ALL: a round trip, then each statement parsed and planned
anew). Before issue 15's second pass the result route did that once per presentation. The count
below is of ROLLBACKs that reach the database (a transaction was open). PostgreSQL only: SQLite's
driver opens no transaction for a read, so there nothing could be rolled back either way."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine


def _transaction_open(connection: Connection) -> bool:
    return connection.connection.dbapi_connection.info.transaction_status != TransactionStatus.IDLE


@contextmanager
def rollbacks_sent(engine: Engine) -> Iterator[list[str]]:
    sent: list[str] = []

    def on_rollback(connection: Connection) -> None:
        if _transaction_open(connection):
            sent.append("ROLLBACK")

    event.listen(engine, "rollback", on_rollback)
    try:
        yield sent
    finally:
        event.remove(engine, "rollback", on_rollback)


@pytest.mark.postgres_only
def test_reading_the_request_object_and_the_result_rolls_nothing_back(client, platform, youth_backend) -> None:
    def new_check() -> tuple[str, str]:
        youth_allowance = {"service_id": "seoul_youth_allowance"}
        created = client.post("/verifiers/requests", json=youth_allowance, headers=youth_backend)
        assert created.status_code == 201, created.text
        return created.json()["request_uri"], f"/verifiers/requests/{created.json()['request_id']}"

    def read(check: tuple[str, str]) -> None:
        object_url, result_url = check
        assert client.get(object_url).status_code == 200
        result = client.get(result_url, headers=youth_backend)
        assert result.status_code == 200 and result.json()["status"] == "pending"

    read(new_check())  # as after a worker's first check: the RP CA's certificate is read once, then kept
    check = new_check()
    with rollbacks_sent(platform.engine) as sent:
        read(check)
    assert sent == []
    # The listener sees the rollbacks it should: a read in a transaction of its own is one.
    with rollbacks_sent(platform.engine) as sent, platform.engine.connect() as connection:
        connection.exec_driver_sql("SELECT 1")
    assert sent == ["ROLLBACK"]
