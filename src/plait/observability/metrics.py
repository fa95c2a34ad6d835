"""Prometheus metrics of plait runs (issue 13; ``pip install 'plait[prometheus]'``).

Two ways to get them (docs/observability.md):

In process, for an application's own registry: ``await wf.run(metrics=registry)``
reports that run into ``registry`` as it goes (``RunMetrics``, an engine observer)::

    plait_runs_total{workflow,status}                          counter
    plait_run_duration_seconds{workflow,status}                histogram
    plait_step_attempts_total{workflow,pool,tool,status}       counter
    plait_step_attempt_duration_seconds{workflow,pool,tool,status}  histogram
    plait_pool_running / _queued / _limit{workflow,pool}       gauges, while runs run
    plait_pool_breaker_state{workflow,pool}                    0 closed, 1 half-open, 2 open

From a store, for any process that can read it (a later ``plait server``'s
``/metrics``): ``registry.register(StoreCollector(store))``; every scrape counts what
the store holds (cached for ``cache_seconds``)::

    plait_runs_total{workflow,status}                runs that ended
    plait_runs_active{workflow,status}               runs running or paused
    plait_step_attempts_total{workflow,status}       step attempts that ended

A step attempt is what the store keeps one row for: each attempt of a task (a retry's
failed ones included), and each group, map, loop, sub-workflow, switch and wait node
that started (``tool`` is empty for those). Skipped steps never started and are not
counted. So, for runs recorded in a store, the in-process counter and the store's agree.

Cost: a run binds its label children once per (pool, tool, status) it meets; a step
attempt then costs a dict lookup, ``inc`` and ``observe`` (bench T1 reports it).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import func, select

from plait.engine.observe import ObservedRun
from plait.engine.pools import WorkerPool
from plait.engine.result import RunResult
from plait.engine.state import StepState
from plait.errors import RunError
from plait.status import RunStatus
from plait.store.base import Store
from plait.store.records import OPEN_STATUSES
from plait.store.schema import runs, step_executions
from plait.store.sql import SqlStore

__all__ = ["PlaitMetrics", "RunMetrics", "StoreCollector", "metrics_for"]

STEP_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
)  # fmt: skip
RUN_BUCKETS = (
    0.01, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0, 86400.0,
)  # fmt: skip
_STEP_LABELS = ("workflow", "pool", "tool", "status")
_BREAKER = {"closed": 0.0, "half_open": 1.0, "open": 2.0}
_ENDED_RUNS = tuple(s.value for s in RunStatus if s.finished)
_FAILED = "failed"


class PlaitMetrics:
    """plait's metrics in one registry: made once per registry (``metrics_for``)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.runs = Counter(
            "plait_runs", "Runs that ended, by status.", ("workflow", "status"), registry=registry
        )
        self.run_duration = Histogram(
            "plait_run_duration_seconds",
            "How long runs took, start to end.",
            ("workflow", "status"),
            buckets=RUN_BUCKETS,
            registry=registry,
        )
        self.attempts = Counter(
            "plait_step_attempts",
            "Step attempts that ended, by pool, tool and status.",
            _STEP_LABELS,
            registry=registry,
        )
        self.attempt_duration = Histogram(
            "plait_step_attempt_duration_seconds",
            "How long step attempts took.",
            _STEP_LABELS,
            buckets=STEP_BUCKETS,
            registry=registry,
        )
        self.pools = PoolCollector()
        registry.register(self.pools)


_BY_REGISTRY: weakref.WeakKeyDictionary[CollectorRegistry, PlaitMetrics] = (
    weakref.WeakKeyDictionary()
)
_LOCK = threading.Lock()


def metrics_for(registry: CollectorRegistry) -> PlaitMetrics:
    """plait's metrics in ``registry``, registered there the first time."""
    with _LOCK:
        found = _BY_REGISTRY.get(registry)
        if found is None:
            found = _BY_REGISTRY[registry] = PlaitMetrics(registry)
        return found


class PoolCollector:
    """The pools of the runs running now, read at each scrape (nothing on the hot path).
    Pools of one name in several runs of one workflow add up; a breaker's state is the
    worst of theirs."""

    def __init__(self) -> None:
        self._runs: dict[int, tuple[str, dict[str, WorkerPool]]] = {}

    def add(self, key: int, workflow: str, pools: dict[str, WorkerPool]) -> None:
        self._runs[key] = (workflow, pools)

    def remove(self, key: int) -> None:
        self._runs.pop(key, None)

    def describe(self) -> Iterable[Metric]:
        return self._families()

    def collect(self) -> Iterable[Metric]:
        families = self._families()
        running, queued, limit, breaker = families
        totals: dict[tuple[str, str], list[float]] = {}
        seen: set[int] = set()
        for workflow, pools in list(self._runs.values()):
            for name, pool in list(pools.items()):
                if id(pool) in seen:  # one pool given to several runs counts once
                    continue
                seen.add(id(pool))
                status = pool.get_status()
                row = totals.setdefault((workflow, name), [0.0, 0.0, 0.0, -1.0])
                row[0] += status.active_workers
                row[1] += status.queue_length
                row[2] += status.max_concurrent
                if status.circuit_state is not None:
                    row[3] = max(row[3], _BREAKER.get(status.circuit_state, 0.0))
        for labels, (active, waiting, most, state) in totals.items():
            running.add_metric(labels, active)
            queued.add_metric(labels, waiting)
            limit.add_metric(labels, most)
            if state >= 0:
                breaker.add_metric(labels, state)
        return families

    @staticmethod
    def _families() -> list[GaugeMetricFamily]:
        labels = ("workflow", "pool")
        return [
            GaugeMetricFamily("plait_pool_running", "Steps holding a pool slot.", labels=labels),
            GaugeMetricFamily("plait_pool_queued", "Steps queued for a pool slot.", labels=labels),
            GaugeMetricFamily("plait_pool_limit", "A pool's limit (maxConcurrent).", labels=labels),
            GaugeMetricFamily(
                "plait_pool_breaker_state",
                "A pool's circuit breaker: 0 closed, 1 half-open, 2 open.",
                labels=labels,
            ),
        ]


class RunMetrics:
    """The observer (``engine/observe.py``) that reports one run into a registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._metrics = metrics_for(registry)
        self._workflow = ""
        # (pool, tool, status) -> the bound (counter, histogram) children
        self._bound: dict[tuple[str, str, str], tuple[Any, Any]] = {}
        self._starts: dict[StepState, float] = {}  # attempts after the first: their start
        self._failed: dict[StepState, int] = {}  # the last failed attempt, counted
        self._started = 0.0

    def run_started(self, run: ObservedRun) -> None:
        self._workflow = run.plan.name
        self._started = time.time()
        self._metrics.pools.add(id(self), self._workflow, run.pools)

    def step_started(self, st: StepState) -> None:
        if st.attempts > 1:
            self._starts[st] = time.time()

    def attempt_failed(self, st: StepState, error: RunError) -> None:
        start = self._starts.pop(st, None) if self._starts else None
        if start is None:
            start = st.started_at or time.time()
        self._failed[st] = st.attempts
        tool = st.node.tool
        counter, histogram = self._children(
            (st.node.pool, "" if tool is None else tool.name, _FAILED)
        )
        counter.inc()
        histogram.observe(time.time() - start)

    def step_ended(self, st: StepState) -> None:
        started = st.started_at
        if started is None or st.attempts == 0:
            return  # never started (skipped, or cancelled in its queue)
        if self._failed and self._failed.pop(st, 0) == st.attempts:
            return  # its last attempt failed and was counted (cancelled in its backoff)
        if self._starts:
            started = self._starts.pop(st, started)
        node = st.node
        tool = node.tool
        key = (node.pool, "" if tool is None else tool.name, st.status.value)
        bound = self._bound.get(key)
        if bound is None:
            bound = self._children(key)
        bound[0].inc()
        bound[1].observe((st.finished_at or time.time()) - started)

    def _children(self, key: tuple[str, str, str]) -> tuple[Any, Any]:
        """The counter and histogram children of (pool, tool, status), bound once."""
        bound = self._bound.get(key)
        if bound is None:
            labels = (self._workflow, *key)
            metrics = self._metrics
            bound = (metrics.attempts.labels(*labels), metrics.attempt_duration.labels(*labels))
            self._bound[key] = bound
        return bound

    def trace_context(self, st: StepState) -> str | None:
        return None

    def run_finished(self, result: RunResult) -> None:
        metrics = self._metrics
        metrics.pools.remove(id(self))
        if not result.status.finished:
            return  # a paused run has not ended: its resume counts it
        status = result.status.value
        metrics.runs.labels(self._workflow, status).inc()
        started = result.started_at or self._started
        finished = result.finished_at or time.time()
        metrics.run_duration.labels(self._workflow, status).observe(finished - started)


class StoreCollector:
    """Counts of what a store holds, computed at scrape time (cached ``cache_seconds``):
    ``registry.register(StoreCollector(store))`` then ``generate_latest(registry)``.
    On SQLite and PostgreSQL three ``GROUP BY`` queries; another store is read whole."""

    def __init__(self, store: Store, *, cache_seconds: float = 5.0) -> None:
        self.store = store
        self.cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Metric]] | None = None  # (when, families)

    def describe(self) -> Iterable[Metric]:
        return _store_families()

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            now = time.monotonic()
            if self._cached is not None and now - self._cached[0] < self.cache_seconds:
                return self._cached[1]
            families = _store_families()
            run_rows, step_rows = self._counts()
            ended, active, attempts = families
            for workflow, status, count in run_rows:
                target = ended if status in _ENDED_RUNS else active
                target.add_metric((workflow, status), float(count))
            for workflow, status, count in step_rows:
                attempts.add_metric((workflow, status), float(count))
            self._cached = (now, list(families))
            return self._cached[1]

    def _counts(self) -> tuple[list[tuple[str, str, int]], list[tuple[str, str, int]]]:
        store = self.store
        if isinstance(store, SqlStore):
            return _sql_counts(store)
        return _scan_counts(store)


def _store_families() -> list[CounterMetricFamily | GaugeMetricFamily]:
    labels = ("workflow", "status")
    return [
        CounterMetricFamily("plait_runs", "Runs that ended, by status.", labels=labels),
        GaugeMetricFamily("plait_runs_active", "Runs running or paused.", labels=labels),
        CounterMetricFamily(
            "plait_step_attempts", "Step attempts that ended, by status.", labels=labels
        ),
    ]


def _sql_counts(store: SqlStore) -> tuple[list[tuple[str, str, int]], list[tuple[str, str, int]]]:
    by_run = select(runs.c.workflow, runs.c.status, func.count()).group_by(
        runs.c.workflow, runs.c.status
    )
    steps = step_executions
    by_step = (
        select(runs.c.workflow, steps.c.status, func.count())
        .select_from(steps.join(runs, runs.c.id == steps.c.run_id))
        .where(steps.c.attempt > 0, steps.c.status.not_in(OPEN_STATUSES))
        .group_by(runs.c.workflow, steps.c.status)
    )
    with store.reader.connect() as conn:
        run_rows = [(str(w), str(s), int(n)) for w, s, n in conn.execute(by_run)]
        step_rows = [(str(w), str(s), int(n)) for w, s, n in conn.execute(by_step)]
    return run_rows, step_rows


def _scan_counts(store: Store) -> tuple[list[tuple[str, str, int]], list[tuple[str, str, int]]]:
    run_counts: dict[tuple[str, str], int] = {}
    step_counts: dict[tuple[str, str], int] = {}
    for record in store.list_runs(limit=2**31 - 1):
        key = (record.workflow, record.status)
        run_counts[key] = run_counts.get(key, 0) + 1
        for step in store.get_steps(record.id):
            if step.attempt > 0 and step.status not in OPEN_STATUSES:
                key = (record.workflow, step.status)
                step_counts[key] = step_counts.get(key, 0) + 1
    return _rows(run_counts), _rows(step_counts)


def _rows(counts: dict[tuple[str, str], int]) -> list[tuple[str, str, int]]:
    return [(w, s, n) for (w, s), n in sorted(counts.items())]
