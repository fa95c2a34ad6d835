"""Numbered migrations bring an older store forward when it is opened."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Connection, select, text

import plait.store.migrations as migrations
from plait.store import open_store
from plait.store.schema import schema_version


def test_an_older_store_is_migrated_in_order_when_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "old.db"
    open_store(str(db)).close()  # the latest version, as this plait writes it
    base = migrations.LATEST
    applied: list[int] = []

    def to_v2(conn: Connection) -> None:
        applied.append(2)
        conn.execute(text("CREATE TABLE plait_probe_v2 (x INTEGER)"))

    def to_v3(conn: Connection) -> None:
        applied.append(3)
        conn.execute(text("INSERT INTO plait_probe_v2 VALUES (3)"))

    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, to_v2, to_v3])
    monkeypatch.setattr(migrations, "LATEST", base + 2)
    store = open_store(str(db))
    with store.engine.connect() as conn:  # type: ignore[attr-defined]
        assert conn.execute(select(schema_version.c.version)).scalar_one() == base + 2
        assert conn.execute(text("SELECT x FROM plait_probe_v2")).scalar_one() == 3
    assert applied == [2, 3]
    store.close()
    open_store(str(db)).close()  # already current: nothing is applied again
    assert applied == [2, 3]


def test_a_failing_migration_leaves_the_store_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "old.db"
    open_store(str(db)).close()
    base, known = migrations.LATEST, migrations.MIGRATIONS

    def broken(conn: Connection) -> None:
        conn.execute(text("CREATE TABLE plait_half_done (x INTEGER)"))
        raise RuntimeError("migration bug")

    monkeypatch.setattr(migrations, "MIGRATIONS", [*known, broken])
    monkeypatch.setattr(migrations, "LATEST", base + 1)
    with pytest.raises(RuntimeError, match="migration bug"):
        open_store(str(db))
    monkeypatch.setattr(migrations, "MIGRATIONS", known)
    monkeypatch.setattr(migrations, "LATEST", base)
    store = open_store(str(db))
    with store.engine.connect() as conn:  # type: ignore[attr-defined]
        assert conn.execute(select(schema_version.c.version)).scalar_one() == base
        tables = conn.execute(text("SELECT name FROM sqlite_master")).scalars().all()
    assert "plait_half_done" not in tables
    store.close()
