"""SQLite: the default store, one file, no server.

WAL mode lets readers (``plait runs``) work while a run writes. ``synchronous=NORMAL``
in WAL mode makes a commit durable against a crash of the process (kill -9); a power
loss may lose the last transactions. Write transactions begin IMMEDIATE, so two
writers queue on the lock instead of deadlocking on an upgrade.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Select, create_engine, event
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from plait.errors import StoreError
from plait.store.records import Undecodable
from plait.store.sql import SqlStore

BUSY_TIMEOUT_MS = 10_000


class SqliteStore(SqlStore):
    insert = staticmethod(sqlite_insert)
    rows_per_statement = 500

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        _check_file(path)
        # The journal mode is kept in the file: a database in another mode (someone
        # else's, most likely) is switched to WAL only once it is known to be a plait
        # store, so a file the store refuses is left exactly as it was.
        wal_at_once = not _rollback_journal(path)
        engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 10})
        event.listen(engine, "connect", _on_connect if wal_at_once else _on_connect_as_is)
        event.listen(engine, "begin", _on_begin)
        super().__init__(engine, str(path))
        if not wal_at_once:
            _use_wal(engine, path)

    def read_rows(self, conn: Connection, stmt: Select[Any]) -> list[dict[str, Any]]:
        """SQLite keeps any bytes in a TEXT column, and sqlite3 refuses the whole query
        over one value that is not UTF-8. Then the query is read again with such values
        kept as ``Undecodable``, so the row reads as damaged and the others as they are."""
        try:
            return super().read_rows(conn, stmt)
        except OperationalError as exc:
            if "decode" not in str(exc.orig):
                raise
        raw = conn.connection.dbapi_connection
        assert isinstance(raw, sqlite3.Connection)
        raw.text_factory = _lenient_text
        try:
            return super().read_rows(conn, stmt)
        finally:
            raw.text_factory = str


def _lenient_text(data: bytes) -> str | Undecodable:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return Undecodable(data)


def _check_file(path: Path) -> None:
    """Refuse, with one line, what SQLite would only refuse mid-run."""
    try:
        _check_path(path)
    except (OSError, ValueError) as exc:  # a name too long, a symlink loop, a NUL byte
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        reason = reason[:1].lower() + reason[1:]
        raise StoreError(f"store {path}: cannot use this path: {reason}") from None


_NOT_FILES = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (a named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _check_path(path: Path) -> None:
    try:
        mode: int | None = path.stat().st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        # Checked before a byte is read: reading a FIFO would wait forever.
        kind = next((what for test, what in _NOT_FILES if test(mode)), "not a regular file")
        raise StoreError(f"store {path}: this is {kind}, not an SQLite database file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"store {path}: cannot create its folder: {exc.strerror}") from None
    if mode is not None:
        if not os.access(path, os.R_OK | os.W_OK):
            raise StoreError(f"store {path}: the file is not readable and writable")
        with path.open("rb") as f:
            head = f.read(16)
        if head and head != b"SQLite format 3\x00":
            raise StoreError(f"store {path}: the file is not an SQLite database")
    if not os.access(path.parent, os.W_OK):
        raise StoreError(f"store {path}: its folder is not writable (SQLite needs it for WAL)")


def _rollback_journal(path: Path) -> bool:
    """True if the file is an SQLite database not in WAL mode (header byte 18 is 1 in
    rollback-journal mode, 2 in WAL mode)."""
    try:
        with path.open("rb") as f:
            head = f.read(20)
    except OSError:
        return False
    return len(head) == 20 and head.startswith(b"SQLite format 3\x00") and head[18] == 1


def _use_wal(engine: Engine, path: Path) -> None:
    try:
        conn = engine.raw_connection()
        try:
            conn.cursor().execute("PRAGMA journal_mode=WAL").close()
        finally:
            conn.close()
    except (sqlite3.Error, SQLAlchemyError) as exc:
        cause = getattr(exc, "orig", None) or exc
        raise StoreError(f"store {path}: cannot switch it to WAL mode: {cause}") from None


def _on_connect(dbapi_connection: sqlite3.Connection, record: Any) -> None:
    _on_connect_as_is(dbapi_connection, record)
    dbapi_connection.execute("PRAGMA journal_mode=WAL")


def _on_connect_as_is(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    """Set up a connection, leaving the file's journal mode as it is."""
    # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is deferred).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    # Let the WAL grow to ~40 MB before checkpointing into the database file: a burst of
    # step records then costs appends, not page rewrites in the middle of a run.
    cursor.execute("PRAGMA wal_autocheckpoint=10000")
    cursor.execute("PRAGMA cache_size=-32000")
    cursor.close()


def _on_begin(conn: Any) -> None:
    # A write takes the lock up front (no deadlock on upgrade); a read takes none (WAL).
    immediate = conn.get_execution_options().get("plait_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
