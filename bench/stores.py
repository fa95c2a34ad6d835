"""S1: W1 recorded in a store. The same workflow run with no store, then recorded in
``memory://``, in an SQLite file, and in PostgreSQL.

Each timed run is one ``await wf.run(store=...)``, as a user calls it: with a URL the
store is opened (schema created or checked), the run recorded, and the store closed,
all inside the timing. Every store is fresh (a new SQLite file in a new temp dir, a
new ``MemoryStore``); PostgreSQL runs accumulate in its database under unique run ids.
After each run, outside the timing, the store is opened again and checked: one row per
step, every step and the run ``succeeded``, the join's recorded output complete.
"""

from __future__ import annotations

import contextlib
import gc
import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import plait
from bench import workloads as w
from plait.errors import StoreError
from plait.store import MemoryStore, Store, open_store

STORE_KINDS = ("none", "memory", "sqlite", "postgres")
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"

StoreArg = Store | str | None  # what ``wf.run(store=...)`` is given


def unavailable(kind: str, pg_url: str) -> str | None:
    """Why the store cannot be measured here (PostgreSQL not reachable, no psycopg),
    or None."""
    if kind != "postgres":
        return None
    try:
        open_store(pg_url).close()
    except StoreError as exc:
        return str(exc)
    return None


@contextlib.contextmanager
def fresh_store(kind: str, pg_url: str) -> Iterator[StoreArg]:
    """What one run is given: nothing, a new ``MemoryStore``, the path of a new SQLite
    file in a new temp dir (removed after), or the PostgreSQL URL."""
    if kind == "none":
        yield None
    elif kind == "memory":
        yield MemoryStore()
    elif kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="plait-bench-s1-") as folder:
            yield str(Path(folder, "runs.db"))
    elif kind == "postgres":
        yield pg_url
    else:
        raise ValueError(f"unknown store kind {kind!r}")


def verify(store: StoreArg, run_id: str, n: int) -> dict[str, int]:
    """Check, from a newly opened store, that the run is recorded in full; return the
    row counts. Raises ``RuntimeError`` if anything is missing."""
    if store is None:
        return {}
    opened = store if not isinstance(store, str) else open_store(store)
    try:
        run = opened.get_run(run_id)
        steps = opened.get_steps(run_id)
        events = opened.get_events(run_id)
    finally:
        if opened is not store:
            opened.close()
    where = f"run {run_id} in {opened.url}"
    if run.status != "succeeded":
        raise RuntimeError(f"{where}: the run row says {run.status!r}, not 'succeeded'")
    expected = n + 2  # the members, the group, the join
    if len(steps) != expected or len({s.node_id for s in steps}) != expected:
        raise RuntimeError(f"{where}: {len(steps)} step rows, expected {expected}")
    not_ok = [s.node_id for s in steps if s.status != "succeeded"]
    if not_ok:
        raise RuntimeError(f"{where}: {len(not_ok)} steps not 'succeeded', e.g. {not_ok[0]}")
    join = next(s for s in steps if s.node_id == "join")
    if not isinstance(joined := json.loads(join.output or "null"), dict) or len(joined) != n:
        raise RuntimeError(f"{where}: the join's recorded output lacks members' outputs")
    if not events:
        raise RuntimeError(f"{where}: no events recorded")
    return {"rows": len(steps), "events": len(events)}


async def run_once(
    wf: plait.Workflow, kind: str, n: int, pg_url: str, *, check: bool = True
) -> dict[str, Any]:
    """One run with a fresh store: its wall, process CPU and main-thread CPU times, then
    (untimed) the result's and the store's checks."""
    with fresh_store(kind, pg_url) as store:
        gc.collect()
        started = time.perf_counter()
        cpu_started, main_started = time.process_time(), time.thread_time()
        result = await wf.run(store=store)
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        main_cpu = time.thread_time() - main_started
        w.check_fan(n)(result)
        counts = verify(store, result.run_id, n) if check else {}
    steps = counts.get("rows", len(result.steps))
    return {"wall": wall, "cpu": cpu, "main_cpu": main_cpu, "steps": steps, **counts}


def time_open(kind: str, pg_url: str) -> float:
    """Opening a fresh store and closing it (part of every timed run given a URL)."""
    if kind not in ("sqlite", "postgres"):
        return 0.0
    with fresh_store(kind, pg_url) as store:
        assert isinstance(store, str)
        started = time.perf_counter()
        open_store(store).close()
        return time.perf_counter() - started


def workflow(n: int) -> tuple[plait.Workflow, float]:
    """W1's workflow, compiled (the setup time is reported apart)."""
    started = time.perf_counter()
    wf = plait.Workflow.from_dict(w.fan_definition(n))
    wf.validate()
    return wf, time.perf_counter() - started


async def warm_up(kind: str, n: int, pg_url: str) -> None:
    wf, _ = workflow(n)
    await run_once(wf, kind, n, pg_url)


async def time_runs(kind: str, n: int, repeat: int, pg_url: str) -> dict[str, Any]:
    """Set up once, one discarded full-size run, then ``repeat`` timed runs, each with a
    fresh store and checked after; the best of each figure is reported."""
    wf, setup_s = workflow(n)
    await run_once(wf, kind, n, pg_url)
    runs = [await run_once(wf, kind, n, pg_url) for _ in range(repeat)]
    opens = [time_open(kind, pg_url) for _ in range(repeat)]
    times = [r["wall"] for r in runs]
    return {
        "times": times,
        "best_s": min(times),
        "best_cpu_s": min(r["cpu"] for r in runs),
        "best_main_cpu_s": min(r["main_cpu"] for r in runs),
        "steps": runs[0]["steps"],
        "rows": runs[0].get("rows"),
        "events": runs[0].get("events"),
        "open_s": min(opens) if kind in ("sqlite", "postgres") else None,
        "setup_s": setup_s,
        "verified": kind != "none",
    }
