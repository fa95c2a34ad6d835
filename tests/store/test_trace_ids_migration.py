"""Schema version 3 → 4 (issue 13): a store written before tracing existed gets the
runs' ``trace_id`` and ``root_span_id`` columns when opened, on SQLite and PostgreSQL,
and keeps what it held."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

import plait.store.migrations as migrations
from helpers.postgres import new_database
from plait.store import open_store
from plait.store.migrations import v004_trace_ids
from plait.store.records import RunRecord, RunUpdate


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own (this test rewrites its schema)."""
    if request.param == "sqlite":
        yield str(tmp_path / "v1.db")
        return
    yield from new_database("plait_mig")


def _make_version_3(url: str) -> None:
    """A store as plait wrote it at schema version 3: no trace columns, one run."""
    store = open_store(url)
    store.write([RunRecord(id="old-run", workflow="w", status="succeeded")])
    store.close()
    engine = create_engine(url if "://" in url else f"sqlite:///{url}")
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE runs DROP COLUMN trace_id"))
        conn.execute(text("ALTER TABLE runs DROP COLUMN root_span_id"))
        conn.execute(text("ALTER TABLE step_executions DROP COLUMN logs"))  # version 5's
        conn.execute(text("UPDATE plait_schema SET version = 3"))
    engine.dispose()


def _columns(url: str) -> set[str]:
    engine = create_engine(url if "://" in url else f"sqlite:///{url}")
    try:
        return {c["name"] for c in inspect(engine).get_columns("runs")}
    finally:
        engine.dispose()


def test_a_version_3_store_gets_the_trace_columns(fresh_url: str) -> None:
    assert migrations.MIGRATIONS[2] is v004_trace_ids.migrate
    _make_version_3(fresh_url)
    assert "trace_id" not in _columns(fresh_url)
    store = open_store(fresh_url)
    try:
        assert {"trace_id", "root_span_id"} <= _columns(fresh_url)
        old = store.get_run("old-run")
        assert (old.status, old.trace_id, old.root_span_id) == ("succeeded", None, None)
        ids = {"trace_id": "ab" * 16, "root_span_id": "cd" * 8}
        store.write([RunUpdate("old-run", ids)])
        again = store.get_run("old-run")
        assert (again.trace_id, again.root_span_id) == (ids["trace_id"], ids["root_span_id"])
    finally:
        store.close()
