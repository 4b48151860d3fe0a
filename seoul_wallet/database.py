"""The database engine: SQLite (WAL, foreign keys on) by default, PostgreSQL via DATABASE_URL."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import create_engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # FULL: every commit syncs the WAL, so a committed consent event survives a power loss too.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _private_file(path: Path) -> None:
    """Create the database file owner-only (0600) before SQLite opens it, and keep it so: SQLite
    gives its -wal and -shm files the database file's mode, so all three are private, like the
    master key. (Created by SQLite itself, they would be 0644 under the usual umask.)"""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # Never open and close an existing database file: closing any descriptor of it drops this
        # process's POSIX locks on it, under the feet of its open SQLite connections.
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600))
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists() and file.stat().st_mode & 0o077:
            file.chmod(0o600)


def create_database_engine(url: str) -> Engine:
    """An engine for `url`; for SQLite the file's folder is created and the pragmas set per connection."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            _private_file(Path(parsed.database))
        # For a file, a pool as large as the request thread pool (40): connections are then reused,
        # not opened (with their pragmas) and closed around requests whenever more than 5 overlap.
        # (An in-memory database gets SQLAlchemy's single-connection pool, which takes no sizes.)
        in_memory = parsed.database in (None, "", ":memory:")
        pool = {} if in_memory else {"pool_size": 20, "max_overflow": 20}
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **pool)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # No pre-ping: it cost a round trip per checkout, about one statement in three on the
    # presentation path. A connection the server dropped fails the one request that meets it, and
    # SQLAlchemy then discards the whole pool (a disconnect invalidates it); `pool_recycle` retires
    # connections before idle timeouts on the way are likely to cut them. 10 + 10 per worker: four
    # workers stay within PostgreSQL's default 100 connections, with room for the CLI and psql.
    return create_engine(url, pool_size=10, max_overflow=10, pool_recycle=1800)
