"""What the store keeps: one record per run, per step execution attempt, per event.

Immutable, so a record handed to the writer thread cannot change under it. Step and
event records are NamedTuples: a run makes one or two per step execution, and a tuple
is several times cheaper to build than a frozen dataclass.
JSON-valued fields hold already-serialized text: serialization happens on the event
loop, where a value JSON cannot hold fails its step with a clear error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, NamedTuple


@dataclass(frozen=True, slots=True)
class RunRecord:
    id: str
    workflow: str
    status: str
    definition_hash: str | None = None
    definition: str | None = None  # the workflow file's text, or its data as JSON
    file: str | None = None
    outline: str | None = None  # JSON: the plan's shape, to rebuild documents
    inputs: str | None = None  # JSON
    outputs: str | None = None  # JSON
    error: str | None = None  # JSON
    stats: str | None = None  # JSON
    lease_owner: str | None = None
    lease_expires_at: float | None = None
    cancel_requested: bool = False
    created_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    updated_at: str | None = None
    trace_id: str | None = None  # a traced run's trace id (32 hex digits)
    root_span_id: str | None = None  # its first root span's id (16 hex digits)


class StepRecord(NamedTuple):
    """One attempt of one step execution (seed 002's tracking columns included)."""

    run_id: str
    node_id: str
    attempt: int
    step_id: str
    status: str
    parent_step_id: str | None = None  # the enclosing group/map/loop step
    branch_name: str | None = None
    branch_index: int | None = None
    loop_iteration: int | None = None
    join_policy: str | None = None  # the enclosing group's wait strategy
    input: str | None = None  # JSON
    output: str | None = None  # JSON
    error: str | None = None  # JSON
    reason: str | None = None
    detail: str | None = None  # JSON: e.g. a group's winner
    started_at: str | None = None
    finished_at: str | None = None

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.run_id, self.node_id, self.attempt)


class EventRecord(NamedTuple):
    run_id: str
    seq: int
    time: str
    kind: str
    node_id: str | None = None
    payload: str | None = None  # JSON


@dataclass(frozen=True, slots=True)
class RunUpdate:
    """Set some columns of a run row."""

    run_id: str
    values: dict[str, Any] = field(default_factory=dict)


Write = RunRecord | StepRecord | EventRecord | RunUpdate

# The statuses of an attempt still under way; any other is how it ended, for good.
OPEN_STATUSES = ("pending", "queued", "running")


def keep_final(old: StepRecord | None, new: StepRecord) -> StepRecord:
    """Of two records of one attempt, the one to keep: the newer, unless the older one
    already says how the attempt ended."""
    if old is not None and old.status not in OPEN_STATUSES:
        return old
    return new


def dumps(value: Any, *, loose: bool = False) -> str:
    """JSON text for a record. Strict, what a step's output must be: the standard
    library's default encoder (cached: the fastest path) raises ``TypeError`` for what
    JSON cannot hold (sets, objects). ``loose``, for what is only shown (a step's input,
    a run's inputs and outputs): anything JSON cannot hold is written as its repr."""
    if value is None:
        return "null"
    if not loose:
        return json.dumps(value)
    try:
        return json.dumps(value, separators=(",", ":"), default=repr)
    except (TypeError, ValueError, RecursionError):  # a key JSON cannot hold, a cycle
        return json.dumps(repr(value))


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)
