"""Reads outside a transaction: one round trip per statement, not three.

A plain connection begins a transaction before its first statement and rolls it back when it goes
back to the pool; on PostgreSQL (psycopg) each of those is a round trip of its own, so a
single-row read costs three. A read that needs no snapshot across statements (one row by key, a
row to decide on with a conditional write afterwards) runs on an AUTOCOMMIT connection instead:
psycopg then sends neither BEGIN nor ROLLBACK. SQLite reads are cheap either way, and there it
is the same connection without the implicit transaction.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, SQLModel

M = TypeVar("M", bound=SQLModel)


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


def read_model(engine: Engine, model: type[M], statement: Select[Any], params: Mapping[str, Any]) -> M | None:
    """The first row of `statement` (a select of `model`'s table, built once) as a `model`, for reading.

    About half the client CPU of an ORM session's `get` (bench/RESULTS.md, "statements built
    once"): no session, no identity map, and the row is our own, validated when it was written, so
    it is taken as it is (`model_construct`), as the ORM's own loading does. The object belongs to
    no session: never add it to one."""
    with read_connection(engine) as connection:
        row = connection.execute(statement, params).first()
    return None if row is None else model.model_construct(**row._mapping)
