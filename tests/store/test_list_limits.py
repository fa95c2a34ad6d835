"""Lookups take any value a command line may give: ``list_runs(limit=...)`` any int (a
huge one lists every run, a negative one none: a database's LIMIT is a signed 64-bit
number, and PostgreSQL refuses a negative one); ids and names any text."""

from __future__ import annotations

import time
import uuid

import pytest

from plait.engine.result import iso
from plait.errors import RunNotFound
from plait.store import RunRecord, Store
from plait.store.stats import workflow_metrics


def test_a_huge_or_negative_limit(store: Store) -> None:
    now = time.time()
    name = f"limits-{uuid.uuid4().hex}"  # the PostgreSQL database is the session's
    ids = [uuid.uuid4().hex for _ in range(3)]
    store.write([RunRecord(ids[i], name, "succeeded", created_at=iso(now + i)) for i in range(3)])
    found = store.list_runs(workflow=name, limit=10**30)
    assert [r.id for r in found] == ids[::-1]
    assert store.list_runs(workflow=name, limit=-1) == []
    assert store.list_runs(workflow=name, limit=0) == []


@pytest.mark.parametrize("text", ["", "\udcff", "a\x00b", "%", "_", "'; DROP TABLE runs; --"])
def test_a_lookup_no_store_can_hold_finds_nothing(store: Store, text: str) -> None:
    # What a command line may hand over: nothing, lone surrogates (bytes that are not
    # UTF-8), a NUL (in process), LIKE wildcards, SQL. A run is there to be found.
    store.write([RunRecord(uuid.uuid4().hex, "lookups", "succeeded")])
    with pytest.raises(RunNotFound):
        store.get_run(text)
    assert store.list_runs(workflow=text) == []
    assert workflow_metrics(store, text) == []
