"""SQLite specifics: readers never wait for a writer (WAL)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from plait.store import open_store


def test_reads_do_not_wait_for_a_writers_lock(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    store = open_store(str(db))
    holding, release = threading.Event(), threading.Event()

    def hold_the_write_lock() -> None:
        conn = sqlite3.connect(db, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        holding.set()
        release.wait(60)  # only a hang guard: the test releases it
        conn.execute("ROLLBACK")
        conn.close()

    writer = threading.Thread(target=hold_the_write_lock)
    writer.start()
    try:
        assert holding.wait(30)
        assert store.list_runs() == []
        # The read returned while the writer still holds its lock: it did not wait.
        still_locked = writer.is_alive() and not release.is_set()
    finally:
        release.set()
        writer.join()
        store.close()
    assert still_locked
