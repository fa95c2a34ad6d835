"""Forty processes use one new store at once: each opens it (the first ones find no
tables) and records a small run. All of them succeed: the schema is created once.

On PostgreSQL five of forty once failed, losing a CREATE TABLE race (a duplicate key
in ``pg_type``), and the version table could end with several rows; an advisory lock
now serializes creation. On SQLite the write lock (``BEGIN IMMEDIATE``) does.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.synchronize
from pathlib import Path
from typing import Any

import pytest

import plait
from plait.store import open_store

PROCESSES = 40


def _record_one(url: str, barrier: multiprocessing.synchronize.Barrier, results: Any) -> None:
    """In a child process: wait for the others, then open the store and record a run."""
    try:
        wf = plait.Workflow.from_dict(
            {"name": "first-use", "steps": [{"id": "a", "tool": "echo", "input": 1}]}
        )
        barrier.wait(timeout=60)
        result = asyncio.run(wf.run(store=url))
        results.put((result.run_id, result.status.value))
    except BaseException as exc:  # reported to the test, whatever it is
        results.put((None, f"{type(exc).__name__}: {exc}"))


@pytest.mark.timeout(180)
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_forty_first_uses_of_a_new_store_at_once_all_succeed(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "postgres":
        url = str(request.getfixturevalue("empty_postgres_url"))
    else:
        url = str(tmp_path / "new" / "plait.db")  # neither the file nor its folder exists
    context = multiprocessing.get_context("fork")  # the children need not import plait again
    barrier = context.Barrier(PROCESSES)
    results = context.Queue()
    children = [
        context.Process(target=_record_one, args=(url, barrier, results)) for _ in range(PROCESSES)
    ]
    for child in children:
        child.start()
    try:
        outcomes = [results.get(timeout=150) for _ in children]
    finally:
        for child in children:
            child.join(timeout=30)
            if child.is_alive():
                child.kill()
    failures = [message for run_id, message in outcomes if run_id is None]
    assert failures == []
    assert {status for _, status in outcomes} == {"succeeded"}

    store = open_store(url)
    try:
        runs = store.list_runs(limit=1000)
        assert sorted(r.id for r in runs) == sorted(run_id for run_id, _ in outcomes)
        for run in runs:
            assert run.status == "succeeded"
            assert [s.status for s in store.get_steps(run.id)] == ["succeeded"]
    finally:
        store.close()
