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
of how a group fares). Skipped ones never ran and are not counted. A row the store
holds damaged (a status plait does not know, a timestamp that does not parse) is
counted as ``damaged``, and left out of the rest (issue 19).
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
from plait.store.records import OPEN_STATUSES, StepRecord
from plait.store.schema import runs, step_executions
from plait.store.sql import SqlStore, encodable

_ENDED = ("succeeded", "failed", "timed_out", "cancelled")
_FAILED = ("failed", "timed_out")
_NOT_ENDED = frozenset({*OPEN_STATUSES, "paused", "skipped"})

# (workflow, group step id or None for the run itself, status, started_at, finished_at)
Row = tuple[Any, Any, Any, Any, Any]  # as the store holds them: checked by Metrics.add


@dataclass(slots=True)
class Metrics:
    """How one workflow's runs, or one of its groups, fared across runs."""

    executions: int = 0
    failures: int = 0
    cancelled: int = 0
    damaged: int = 0  # rows the store holds damaged
    timed: int = 0  # executions with both timestamps (the average's denominator)
    total_duration: float = 0.0  # seconds

    @property
    def average_duration(self) -> float | None:
        return self.total_duration / self.timed if self.timed else None

    @property
    def failure_rate(self) -> float | None:
        """Percent, as seed 001 reports it."""
        return 100.0 * self.failures / self.executions if self.executions else None

    def add(self, status: Any, started: Any, finished: Any) -> None:
        if status in _NOT_ENDED:
            return
        begin, end = _seconds(started), _seconds(finished)
        if status not in _ENDED or begin is _DAMAGED or end is _DAMAGED:
            self.damaged += 1
            return
        if status == "cancelled":
            self.cancelled += 1
            return
        self.executions += 1
        if status in _FAILED:
            self.failures += 1
        if isinstance(begin, float) and isinstance(end, float):
            self.timed += 1
            self.total_duration += end - begin

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
            "damaged": self.damaged,
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
    for workflow_name, group, status, started, finished in rows:
        name = workflow_name if isinstance(workflow_name, str) else _UNREADABLE
        if group is not None and not isinstance(group, str):
            group = _UNREADABLE
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
    if workflow is not None and not encodable(workflow):
        return []  # not UTF-8 (a command-line argument): no workflow is named so
    # Every status is read, so that one plait does not know is counted as damaged.
    run_query = select(runs.c.workflow, runs.c.status, runs.c.started_at, runs.c.finished_at)
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
    )
    if workflow is not None:
        run_query = run_query.where(runs.c.workflow == workflow)
        group_query = group_query.where(runs.c.workflow == workflow)
    try:
        with store.reader.connect() as conn:
            found: list[Row] = [
                (r["workflow"], None, r["status"], r["started_at"], r["finished_at"])
                for r in store.read_rows(conn, run_query)
            ]
            found.extend(
                (r["workflow"], r["step_id"], r["status"], r["started_at"], r["finished_at"])
                for r in store.read_rows(conn, group_query)
            )
    except SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc
        line = (str(cause).strip().splitlines() or [repr(cause)])[0]
        raise StoreError(f"store {store.url}: cannot read run statistics: {line}") from None
    return found


def _rows(store: Store, workflow: str | None) -> Iterable[Row]:
    """Any store, through its protocol (the memory store): one run at a time."""
    for run in store.list_runs(workflow=workflow, limit=2**62):
        yield run.workflow, None, run.status, run.started_at, run.finished_at
        if run.status in _NOT_ENDED:
            continue
        steps = store.get_steps(run.id)
        for step in _groups(steps):
            yield run.workflow, step.step_id, step.status, step.started_at, step.finished_at


def _groups(steps: list[StepRecord]) -> Iterable[StepRecord]:
    parents = {s.parent_step_id for s in steps if s.join_policy is not None}
    return (s for s in steps if s.node_id in parents)


_UNREADABLE = "(unreadable)"  # a workflow or group name the store holds damaged
_DAMAGED = object()  # a timestamp that does not parse


def _seconds(text: Any) -> float | object | None:
    """The timestamp in seconds, None if there is none, ``_DAMAGED`` if it does not
    parse (or has no time zone)."""
    if text is None:
        return None
    if not isinstance(text, str):
        return _DAMAGED
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return _DAMAGED
    return _DAMAGED if moment.tzinfo is None else moment.timestamp()
