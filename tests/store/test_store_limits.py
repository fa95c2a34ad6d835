"""What one store keeps, the other keeps: the same limits on SQLite and PostgreSQL.

A PostgreSQL column of 255 characters once failed, mid-run, a workflow SQLite ran
(a long step id, a node id in nested maps, a workflow's name), and left it ``running``.
Every text column is now TEXT; the one limit left is on the ids an index holds whole
(``KEY_BYTES``), checked by the store alike on both. A write refused mid-run, for
that or any other reason, ends the run ``failed`` in the store, never ``running``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast

import pytest
from e2e_support import Processes, store_for, write_json
from sqlalchemy import text

import plait
from plait.errors import StoreError
from plait.store import Store, migrations, open_store
from plait.store.records import loads
from plait.store.schema import KEY_BYTES

LONG = "x" * 190  # ids are at most 200 characters (validation); nesting makes them longer
SIGNAL = "approved_" + "y" * 190  # a signal name, too, is at most 200 characters


def _long_workflow() -> dict[str, Any]:
    deep = {"id": f"deep_{LONG}", "tool": "echo", "input": "${parallel.index}"}
    passes = {"id": f"pass_{LONG}", "loop": {"type": "for", "count": 2, "steps": [deep]}}
    inner = {"id": f"inner_{LONG}", "parallel": {"count": 2, "steps": [passes]}}
    return {
        "name": "w" * 200,
        "steps": [
            {"id": f"top_{LONG}", "tool": "echo", "input": 1},
            {"id": f"outer_{LONG}", "parallel": {"count": 2, "steps": [inner]}},
            {"id": "wait_here", "wait": {"signal": SIGNAL}, "dependsOn": [f"outer_{LONG}"]},
        ],
        "outputs": {"given": "${wait_here.output}"},
    }


def _recorded(url: str, run_id: str) -> list[tuple[Any, ...]]:
    store = open_store(url)
    try:
        steps = store.get_steps(run_id)
        return sorted((s.node_id, s.parent_step_id, s.attempt, s.status, s.output) for s in steps)
    finally:
        store.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_long_names_ids_and_signals_are_kept_alike_on_both_stores(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = store_for(backend, request, tmp_path)
    wf = plait.Workflow.from_dict(_long_workflow())
    paused = asyncio.run(wf.run(store=url))
    assert paused.status.value == "paused"
    done = asyncio.run(plait.resume(paused.run_id, store=url, workflow=wf, signals={SIGNAL: 7}))
    assert done.status.value == "succeeded", done.error
    assert done.outputs == {"given": 7}
    rows = _recorded(url, done.run_id)
    node_ids = {row[0] for row in rows}
    assert f"deep_{LONG}<1><0>[1]" in node_ids
    assert max(len(n) for n in node_ids) > 200
    latest = {node_id: status for node_id, _parent, _attempt, status, _output in rows}
    assert set(latest.values()) == {"succeeded"}
    store = open_store(url)
    try:
        assert store.get_run(done.run_id).workflow == "w" * 200
    finally:
        store.close()


LEVELS = 6  # sub-workflows in sub-workflows: a node id is its callers' ids joined by '/'


def _level_id(level: int) -> str:
    return "b" * 194 + str(level)  # under the 200 characters an id may have


def _too_long_workflow(folder: Path) -> Path:
    """The leaf's node id, ``b…1/b…2/…/b…6``, is over ``KEY_BYTES``; every id is valid."""
    for level in range(LEVELS, 1, -1):
        step: dict[str, Any] = (
            {"id": _level_id(level), "tool": "echo", "input": 1}
            if level == LEVELS
            else {"id": _level_id(level), "workflow": f"level{level + 1}.json"}
        )
        write_json(folder / f"level{level}.json", {"name": f"level{level}", "steps": [step]})
    return write_json(
        folder / "too-long.json",
        {
            "name": "too-long",
            "steps": [
                {"id": "first", "tool": "echo", "input": 1},
                {"id": _level_id(1), "workflow": "level2.json", "dependsOn": ["first"]},
            ],
        },
    )


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_an_id_over_the_limit_fails_the_run_alike_and_records_it_failed(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = store_for(backend, request, tmp_path)
    file = _too_long_workflow(tmp_path)
    procs = Processes(tmp_path)
    try:
        done = procs.run("run", file, "--store", url, "--json")
    finally:
        procs.close()
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    length = LEVELS * 195 + LEVELS - 1  # six ids of 195 characters, joined by '/'
    assert length > KEY_BYTES
    size = f"{length:,}"
    assert f"node id '{'b' * 40}...' is {size} bytes long" in lines[0]
    assert f"a store keeps ids of up to {KEY_BYTES:,} bytes" in lines[0]
    assert lines[0].endswith("is recorded failed")

    store = open_store(url)
    try:
        (run,) = [r for r in store.list_runs(limit=1000) if r.workflow == "too-long"]
        assert run.status == "failed"
        assert run.lease_owner is None
        assert run.finished_at is not None
        assert loads(run.error)["type"] == "StoreError"
        assert {s.node_id: s.status for s in store.get_steps(run.id)}["first"] == "succeeded"
    finally:
        store.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_run_id_over_the_limit_is_refused_before_anything_runs(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = store_for(backend, request, tmp_path)
    wf = plait.Workflow.from_dict({"name": "w", "steps": [{"id": "a", "tool": "echo"}]})
    run_id = "r" * (KEY_BYTES + 1)
    with pytest.raises(StoreError, match=r"run id 'r{40}\.\.\.' is 1,025 bytes long"):
        asyncio.run(wf.run(store=url, run_id=run_id))
    store = open_store(url)
    try:
        assert all(r.id != run_id for r in store.list_runs(limit=1000))
    finally:
        store.close()


def test_a_version_1_postgres_store_gets_text_columns(empty_postgres_url: str) -> None:
    """A database made by the first schema (VARCHAR columns) is migrated when opened,
    and then keeps what it could not."""
    url = empty_postgres_url
    store = open_store(url)
    with store.engine.begin() as conn:  # type: ignore[attr-defined]
        # Back to version 1, as the first plait made it.
        conn.execute(
            text(
                "ALTER TABLE runs ALTER COLUMN id TYPE varchar(64), "
                "ALTER COLUMN workflow TYPE varchar(255), ALTER COLUMN status TYPE varchar(16)"
            )
        )
        conn.execute(
            text(
                "ALTER TABLE step_executions ALTER COLUMN run_id TYPE varchar(64), "
                "ALTER COLUMN node_id TYPE varchar(512), ALTER COLUMN step_id TYPE varchar(255)"
            )
        )
        conn.execute(text("ALTER TABLE step_executions DROP COLUMN output_masks"))  # version 3's
        conn.execute(text("ALTER TABLE runs DROP COLUMN trace_id, DROP COLUMN root_span_id"))
        conn.execute(text("ALTER TABLE step_executions DROP COLUMN logs"))  # version 5's
        conn.execute(text("UPDATE plait_schema SET version = 1"))
    store.close()

    wf = plait.Workflow.from_dict(_long_workflow())
    paused = asyncio.run(wf.run(store=url))  # opening migrates it
    assert paused.status.value == "paused"
    store = open_store(url)
    try:
        with store.engine.connect() as conn:  # type: ignore[attr-defined]
            version = conn.execute(text("SELECT version FROM plait_schema")).scalar_one()
            assert version == migrations.LATEST
            types = conn.execute(
                text(
                    "SELECT DISTINCT data_type FROM information_schema.columns WHERE "
                    "table_name IN ('runs', 'step_executions', 'events') "
                    "AND data_type LIKE '%char%'"
                )
            ).all()
        assert types == []
        assert store.get_run(paused.run_id).workflow == "w" * 200
    finally:
        store.close()


class _ReadsFail:
    """A SQLite store whose reads fail (a disk error, say) while its writes go through."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def cancel_requested(self, run_id: str) -> bool:
        raise StoreError(f"store {self._store.url}: cannot read the run: disk I/O error")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_a_store_failing_mid_run_on_a_read_ends_the_run_recorded_failed(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "plait.db"))
    wf = plait.Workflow.from_dict(
        {"name": "w", "steps": [{"id": "nap", "tool": "sleep", "input": {"duration": "60s"}}]}
    )
    try:
        with pytest.raises(StoreError, match=r"disk I/O error; run \w+ is recorded failed") as info:
            asyncio.run(wf.run(store=cast(Store, _ReadsFail(store))))
        (run,) = store.list_runs()
        assert run.id in str(info.value)
        assert run.status == "failed"
        assert run.lease_owner is None
        assert loads(run.error)["type"] == "StoreError"
        assert [s.status for s in store.get_steps(run.id)] == ["cancelled"]
    finally:
        store.close()
