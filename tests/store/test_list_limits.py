"""``list_runs(limit=...)`` takes any int: a huge one lists every run, a negative one
none (a database's LIMIT is a signed 64-bit number, and PostgreSQL refuses a negative
one)."""

from __future__ import annotations

import time
import uuid

from plait.engine.result import iso
from plait.store import RunRecord, Store


def test_a_huge_or_negative_limit(store: Store) -> None:
    now = time.time()
    name = f"limits-{uuid.uuid4().hex}"  # the PostgreSQL database is the session's
    ids = [uuid.uuid4().hex for _ in range(3)]
    store.write([RunRecord(ids[i], name, "succeeded", created_at=iso(now + i)) for i in range(3)])
    found = store.list_runs(workflow=name, limit=10**30)
    assert [r.id for r in found] == ids[::-1]
    assert store.list_runs(workflow=name, limit=-1) == []
    assert store.list_runs(workflow=name, limit=0) == []
