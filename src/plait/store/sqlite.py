"""SQLite: the default store, one file, no server.

WAL mode lets readers (``plait runs``) work while a run writes. ``synchronous=NORMAL``
in WAL mode makes a commit durable against a crash of the process (kill -9); a power
loss may lose the last transactions. Write transactions begin IMMEDIATE, so two
writers queue on the lock instead of deadlocking on an upgrade.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from plait.errors import StoreError
from plait.store.sql import SqlStore

BUSY_TIMEOUT_MS = 10_000


class SqliteStore(SqlStore):
    insert = staticmethod(sqlite_insert)

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        _check_file(path)
        engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 10})
        event.listen(engine, "connect", _on_connect)
        event.listen(engine, "begin", _on_begin)
        super().__init__(engine, str(path))


def _check_file(path: Path) -> None:
    """Refuse, with one line, what SQLite would only refuse mid-run."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"store {path}: cannot create its folder: {exc.strerror}") from None
    if path.exists():
        if not os.access(path, os.R_OK | os.W_OK):
            raise StoreError(f"store {path}: the file is not readable and writable")
        with path.open("rb") as f:
            head = f.read(16)
        if head and head != b"SQLite format 3\x00":
            raise StoreError(f"store {path}: the file is not an SQLite database")
    if not os.access(path.parent, os.W_OK):
        raise StoreError(f"store {path}: its folder is not writable (SQLite needs it for WAL)")


def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is deferred).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.close()


def _on_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")
