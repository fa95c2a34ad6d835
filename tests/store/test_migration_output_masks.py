"""Migration 2 (``step_executions.output_masks``) on a real version-1 store, SQLite and
PostgreSQL: the rows it holds are kept, and new rows carry their masks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text

from helpers.postgres import new_database
from plait.store import open_store
from plait.store.migrations import LATEST
from plait.store.records import RunRecord, StepRecord
from plait.store.schema import schema_version


@pytest.fixture(params=["sqlite", "postgres"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store URL with nothing in it yet: a SQLite file, or a database of its own on
    the real PostgreSQL (the migration changes tables other tests share)."""
    if request.param == "sqlite":
        yield str(tmp_path / "v1.db")
        return
    yield from new_database("plait_migration")


def _make_version_1(url: str) -> None:
    """The store as plait wrote it at version 1 (no output_masks), with a run in it."""
    store = open_store(url)
    store.write(
        [
            RunRecord("old-run", "wf", "running"),
            StepRecord("old-run", "a", 1, "a", "succeeded", output='{"h": "Bearer ***"}'),
        ]
    )
    with store.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(text("ALTER TABLE step_executions DROP COLUMN output_masks"))
        conn.execute(text("ALTER TABLE runs DROP COLUMN trace_id"))  # version 4's
        conn.execute(text("ALTER TABLE runs DROP COLUMN root_span_id"))
        conn.execute(text("ALTER TABLE step_executions DROP COLUMN logs"))  # version 5's
        conn.execute(schema_version.update().values(version=1))
    store.close()


def test_a_version_1_store_gains_output_masks_and_keeps_its_rows(empty_url: str) -> None:
    assert LATEST >= 2
    _make_version_1(empty_url)
    store = open_store(empty_url)
    try:
        with store.engine.connect() as conn:  # type: ignore[attr-defined]
            assert conn.execute(select(schema_version.c.version)).scalar_one() == LATEST
        (old,) = store.get_steps("old-run")
        assert old.output == '{"h": "Bearer ***"}'
        assert old.output_masks is None  # recorded before: nothing to put back
        masks = '{"masks": [[7, "TOKEN", "raw"]]}'
        new = StepRecord("old-run", "b", 1, "b", "succeeded", output='"x ***"', output_masks=masks)
        store.write([new])
        by_node = {s.node_id: s for s in store.get_steps("old-run")}
        assert by_node["b"].output_masks == masks
    finally:
        store.close()
    open_store(empty_url).close()  # opened again: already current, nothing applied twice
