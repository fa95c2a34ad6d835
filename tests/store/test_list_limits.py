"""``list_runs(limit=...)`` takes any int: a huge one lists every run, a negative one
none (a database's LIMIT is a signed 64-bit number, and PostgreSQL refuses a negative
one)."""

from __future__ import annotations

import time

from plait.engine.result import iso
from plait.store import RunRecord, Store


def test_a_huge_or_negative_limit(store: Store) -> None:
    now = time.time()
    store.write([RunRecord(f"r{i}", "w", "succeeded", created_at=iso(now + i)) for i in range(3)])
    assert [r.id for r in store.list_runs(limit=10**30)] == ["r2", "r1", "r0"]
    assert store.list_runs(limit=-1) == []
    assert store.list_runs(limit=0) == []
