"""Reads outside a transaction: one round trip per statement, not three.

A plain connection begins a transaction before its first statement and rolls it back when it goes
back to the pool; on PostgreSQL (psycopg) each of those is a round trip of its own, so a
single-row read costs three. A read that needs no snapshot across statements (one row by key, a
row to decide on with a conditional write afterwards) runs on an AUTOCOMMIT connection instead:
psycopg then sends neither BEGIN nor ROLLBACK. SQLite reads are cheap either way, and there it
is the same connection without the implicit transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """A connection whose statements each see the latest committed data, with no transaction."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        yield connection


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    """An ORM session over `read_connection`: for reads only (nothing it adds is ever committed)."""
    with read_connection(engine) as connection, Session(bind=connection, expire_on_commit=False) as session:
        yield session
