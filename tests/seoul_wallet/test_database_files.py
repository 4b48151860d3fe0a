"""The SQLite database holds what a city knows about its residents: its file and its WAL are
owner-only (0600), like the master key (issue 14 defect 15: they were created 0644)."""

from __future__ import annotations

import os
import stat

from sqlalchemy import text

from seoul_wallet.database import create_database_engine


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_database_and_its_wal_are_owner_only(tmp_path) -> None:
    old = os.umask(0o022)  # the usual umask, under which SQLite's own files come out 0644
    try:
        database = tmp_path / "var" / "seoul-wallet.db"
        engine = create_database_engine(f"sqlite:///{database}")
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE t (x TEXT)"))
            connection.execute(text("INSERT INTO t VALUES ('1999-05-01')"))
        files = [database, database.with_name(database.name + "-wal"), database.with_name(database.name + "-shm")]
        assert all(f.exists() for f in files)
        assert {f.name: _mode(f) for f in files} == {f.name: 0o600 for f in files}
        engine.dispose()
    finally:
        os.umask(old)


def test_an_existing_world_readable_database_is_made_private(tmp_path) -> None:
    database = tmp_path / "seoul-wallet.db"
    database.touch(mode=0o644)
    database.chmod(0o644)
    create_database_engine(f"sqlite:///{database}").dispose()
    assert _mode(database) == 0o600
