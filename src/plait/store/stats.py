"""Metrics across recorded runs (seed 001's ``PerformanceMonitor``), from the store.

    plait stats [WORKFLOW]   →   per workflow: its runs, and each of its groups and maps:
                                 executions, average duration, failure rate

Computed from what every run records anyway, so it needs no extra bookkeeping at run
time. A group or a map is a recorded step that some other step names as its
``parent_step_id`` with a ``join_policy`` (its members, or its branches' steps). On a
SQL store one query finds them (a join, not a scan per row) on SQLite and PostgreSQL
alike; the durations are worked out here from the recorded timestamps, which keeps the
SQL free of dialect-specific date arithmetic.

What counts: an execution is a run, group or map that ended ``succeeded``, ``failed``
or ``timed_out``; ``failed`` and ``timed_out`` are failures. ``cancelled`` ones are
counted apart and left out of the averages and the rate (a cancelled run says nothing
of how a group fares). Skipped ones never ran and are not counted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.exc import SQLAlchemyError

from plait.errors import StoreError
from plait.store.base import Store
from plait.store.records import StepRecord
from plait.store.schema import runs, step_executions
from plait.store.sql import SqlStore

_ENDED = ("succeeded", "failed", "timed_out", "cancelled")
_FAILED = ("failed", "timed_out")

# (workflow, group step id or None for the run itself, status, started_at, finished_at)
Row = tuple[str, str | None, str, str | None, str | None]


@dataclass(slots=True)
class Metrics:
    """How one workflow's runs, or one of its groups, fared across runs."""

    executions: int = 0
    failures: int = 0
    cancelled: int = 0
    timed: int = 0  # executions with both timestamps (the average's denominator)
    total_duration: float = 0.0  # seconds

    @property
    def average_duration(self) -> float | None:
        return self.total_duration / self.timed if self.timed else None

    @property
    def failure_rate(self) -> float | None:
        """Percent, as seed 001 reports it."""
        return 100.0 * self.failures / self.executions if self.executions else None

    def add(self, status: str, started: str | None, finished: str | None) -> None:
        if status == "cancelled":
            self.cancelled += 1
            return
        self.executions += 1
        if status in _FAILED:
            self.failures += 1
        if started is not None and finished is not None:
            self.timed += 1
            self.total_duration += _seconds(finished) - _seconds(started)

    def to_dict(self) -> dict[str, Any]:
        """Seed 001's report (``averageDuration`` in ms, ``failureRate`` in percent)."""
        average = self.average_duration
        rate = self.failure_rate
        return {
            "executions": self.executions,
            "averageDuration": None if average is None else round(average * 1000.0, 3),
            "failureRate": None if rate is None else round(rate, 2),
            "failures": self.failures,
            "cancelled": self.cancelled,
        }


@dataclass(slots=True)
class WorkflowMetrics:
    workflow: str
    runs: Metrics = field(default_factory=Metrics)
    groups: dict[str, Metrics] = field(default_factory=dict)  # by the group's step id

    def to_dict(self) -> dict[str, Any]:
        return {
            "runs": self.runs.to_dict(),
            "groups": {name: m.to_dict() for name, m in sorted(self.groups.items())},
        }


def workflow_metrics(store: Store, workflow: str | None = None) -> list[WorkflowMetrics]:
    """Every workflow's metrics (or one's), by workflow name."""
    rows = _sql_rows(store, workflow) if isinstance(store, SqlStore) else _rows(store, workflow)
    found: dict[str, WorkflowMetrics] = {}
    for name, group, status, started, finished in rows:
        entry = found.get(name)
        if entry is None:
            entry = found[name] = WorkflowMetrics(name)
        if group is None:
            entry.runs.add(status, started, finished)
        else:
            metrics = entry.groups.get(group)
            if metrics is None:
                metrics = entry.groups[group] = Metrics()
            metrics.add(status, started, finished)
    return [found[name] for name in sorted(found)]


def _sql_rows(store: SqlStore, workflow: str | None) -> list[Row]:
    run_query = select(runs.c.workflow, runs.c.status, runs.c.started_at, runs.c.finished_at)
    run_query = run_query.where(runs.c.status.in_(_ENDED))
    # The steps some other step names as its parent with a join policy: groups and maps.
    child = step_executions.alias("child")
    parents = (
        select(child.c.run_id, child.c.parent_step_id)
        .where(child.c.join_policy.is_not(None), child.c.parent_step_id.is_not(None))
        .distinct()
        .subquery()
    )
    group = step_executions.alias("grp")
    group_query = (
        select(runs.c.workflow, group.c.step_id, group.c.status, group.c.started_at)
        .add_columns(group.c.finished_at)
        .select_from(
            group.join(
                parents,
                and_(
                    parents.c.run_id == group.c.run_id, parents.c.parent_step_id == group.c.node_id
                ),
            ).join(runs, runs.c.id == group.c.run_id)
        )
        .where(group.c.status.in_(_ENDED))
    )
    if workflow is not None:
        run_query = run_query.where(runs.c.workflow == workflow)
        group_query = group_query.where(runs.c.workflow == workflow)
    try:
        with store.reader.connect() as conn:
            found: list[Row] = [(w, None, s, a, b) for w, s, a, b in conn.execute(run_query)]
            found.extend((w, g, s, a, b) for w, g, s, a, b in conn.execute(group_query))
    except SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc
        line = (str(cause).strip().splitlines() or [repr(cause)])[0]
        raise StoreError(f"store {store.url}: cannot read run statistics: {line}") from None
    return found


def _rows(store: Store, workflow: str | None) -> Iterable[Row]:
    """Any store, through its protocol (the memory store): one run at a time."""
    for run in store.list_runs(workflow=workflow, limit=2**62):
        if run.status not in _ENDED:
            continue
        yield run.workflow, None, run.status, run.started_at, run.finished_at
        steps = store.get_steps(run.id)
        for step in _groups(steps):
            if step.status in _ENDED:
                yield run.workflow, step.step_id, step.status, step.started_at, step.finished_at


def _groups(steps: list[StepRecord]) -> Iterable[StepRecord]:
    parents = {s.parent_step_id for s in steps if s.join_policy is not None}
    return (s for s in steps if s.node_id in parents)


def _seconds(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()
