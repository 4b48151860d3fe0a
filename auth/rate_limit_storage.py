"""A `limits` storage in the platform's own database, for the fixed-window strategy: one row per
counter. Without Redis it is what makes a limit hold across workers (and machines on PostgreSQL):
every worker counts in the same table.

Each increment is one statement, an upsert that starts a new window when the old one has expired
(`INSERT … ON CONFLICT DO UPDATE … RETURNING`, which SQLite ≥ 3.35 and PostgreSQL both run
atomically: SQLite under its write lock, PostgreSQL under the row's lock), so two workers counting
at once never lose a count or both start a window.

Registered with `limits` under the scheme `seoul-wallet+database` (limits' registry of custom
storages); it is built with an engine, not from a URL, as the engine is the platform's.
"""

from __future__ import annotations

import threading
import time
from typing import Any, ClassVar

from limits.storage import Storage
from sqlalchemy import BigInteger, Column, String, Table, bindparam, case, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import SQLModel

# Keys are the `limits` key of a rule and a hashed identifier (auth/rate_limits.py): short.
COUNTERS = Table(
    "rate_limit_counters",
    SQLModel.metadata,
    Column("key", String(255), primary_key=True),
    Column("hits", BigInteger, nullable=False),
    Column("expires_at_ms", BigInteger, nullable=False),  # the window's end, ms since the epoch
)
PRUNE_EVERY = 60.0  # seconds between deletions of expired counters (per worker)

_c = COUNTERS.c
_GET = select(_c.hits, _c.expires_at_ms).where(_c.key == bindparam("b_key"), _c.expires_at_ms > bindparam("b_now"))
_CLEAR = delete(COUNTERS).where(_c.key == bindparam("b_key"))
_PRUNE = delete(COUNTERS).where(_c.expires_at_ms <= bindparam("b_now"))


def _increment(dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(COUNTERS).values(
        key=bindparam("b_key"), hits=bindparam("b_amount"), expires_at_ms=bindparam("b_expires")
    )
    # Every SET expression reads the row as it was, so both see the same `expired`.
    expired = _c.expires_at_ms <= bindparam("b_now")
    return statement.on_conflict_do_update(
        index_elements=[_c.key],
        set_={
            "hits": case((expired, statement.excluded.hits), else_=_c.hits + statement.excluded.hits),
            "expires_at_ms": case((expired, statement.excluded.expires_at_ms), else_=_c.expires_at_ms),
        },
    ).returning(_c.hits)


def _now_ms() -> int:
    return int(time.time() * 1000)


class DatabaseStorage(Storage):
    """Fixed-window counters in `rate_limit_counters`, on SQLite or PostgreSQL."""

    STORAGE_SCHEME: ClassVar[list[str]] = ["seoul-wallet+database"]

    def __init__(self, uri: str | None = None, *, engine: Engine, wrap_exceptions: bool = False) -> None:
        dialect = engine.dialect.name
        if dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"rate limit counters need SQLite or PostgreSQL, not {dialect}")
        self._engine = engine
        self._increment = _increment(dialect)
        self._pruned_at = 0.0
        self._prune_lock = threading.Lock()
        super().__init__(uri, wrap_exceptions=wrap_exceptions)

    @property
    def base_exceptions(self) -> type[Exception]:
        return SQLAlchemyError

    def _connect(self) -> Connection:
        # One statement, one transaction: on SQLite the write lock is held for that statement only.
        return self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = _now_ms()
        with self._connect() as connection:
            hits = connection.execute(
                self._increment,
                {"b_key": key, "b_amount": amount, "b_expires": now + int(expiry * 1000), "b_now": now},
            ).scalar_one()
            self._prune(connection, now)
        return int(hits)

    def _prune(self, connection: Connection, now: int) -> None:
        # Counters of callers who never came back would stay forever: drop the expired ones now
        # and then (a key naming anything a stranger typed would otherwise grow the table).
        if now / 1000 - self._pruned_at < PRUNE_EVERY or not self._prune_lock.acquire(blocking=False):
            return
        try:
            self._pruned_at = now / 1000
            connection.execute(_PRUNE, {"b_now": now})
        finally:
            self._prune_lock.release()

    def _row(self, key: str) -> Any:
        with self._connect() as connection:
            return connection.execute(_GET, {"b_key": key, "b_now": _now_ms()}).first()

    def get(self, key: str) -> int:
        row = self._row(key)
        return int(row.hits) if row is not None else 0

    def get_expiry(self, key: str) -> float:
        row = self._row(key)
        return row.expires_at_ms / 1000 if row is not None else time.time()

    def check(self) -> bool:
        try:
            with self._connect() as connection:
                connection.execute(select(_c.key).limit(1))
        except SQLAlchemyError:
            return False
        return True

    def reset(self) -> int | None:
        with self._connect() as connection:
            return connection.execute(delete(COUNTERS)).rowcount

    def clear(self, key: str) -> None:
        with self._connect() as connection:
            connection.execute(_CLEAR, {"b_key": key})
