"""What the store keeps: one record per run, per step execution attempt, per event.

Immutable, so a record handed to the writer thread cannot change under it. Step and
event records are NamedTuples: a run makes one or two per step execution, and a tuple
is several times cheaper to build than a frozen dataclass.
JSON-valued fields hold already-serialized text: serialization happens on the event
loop, where a value JSON cannot hold fails its step with a clear error.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, NamedTuple

from plait.status import RunStatus, StepStatus


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
    # JSON: where the secrets masked out of ``output`` stood (``secrets.json_masked``),
    # so a resume can put them back; None when nothing was masked.
    output_masks: str | None = None
    # What the attempt's code logged (engine/steplogs.py): masked, at most 1 MiB with a
    # note when cut; None when it logged nothing.
    logs: str | None = None

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


# -- rows read back: a damaged one is shown as damaged, never a crash (issue 19) -------
#
# A row may hold what plait never wrote: an older or newer plait, someone's UPDATE, a
# disk that lost a sector. Reading must not stop there: `plait runs list` would fail
# for the whole store over one row. So every row read becomes a record whose columns
# are what plait writes, or the record says it is damaged:
#
#     status 'damaged', the damaged columns read as NULL (0 or '' where a value is
#     required), and error {"type": "DamagedRecord", "message": <which columns, why>}
#
# A damaged step is never reused by a resume (only 'succeeded' steps are), and a run
# with a damaged row is not resumed at all (cli: one line, exit status 2).

DAMAGED = "damaged"
DAMAGED_TYPE = "DamagedRecord"

_RUN_STATUSES = frozenset(status.value for status in RunStatus) - {DAMAGED}
_STEP_STATUSES = frozenset(status.value for status in StepStatus) - {DAMAGED}
_SHOWN = 40  # characters of a damaged value a note shows


class Undecodable:
    """A text column's bytes that are not UTF-8 (SQLite stores any bytes as TEXT)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __repr__(self) -> str:
        return f"bytes {self.data[:_SHOWN]!r}"


def _text(value: Any, required: bool = False) -> str | None:
    """Why ``value`` is not what a text column holds, or None if it is."""
    if value is None:
        return "is NULL" if required else None
    if isinstance(value, Undecodable):
        return "is not UTF-8 text"
    if not isinstance(value, str):
        return f"holds {type(value).__name__} {_shown(value)}, not text"
    return None


def _integer(value: Any, required: bool = False) -> str | None:
    if value is None:
        return "is NULL" if required else None
    if isinstance(value, bool) or not isinstance(value, int):
        return f"holds {_shown(value)}, not a whole number"
    return None


def _number(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return f"holds {_shown(value)}, not a number"
    return None


def _timestamp(value: Any) -> str | None:
    problem = _text(value)
    if problem is not None or value is None:
        return problem
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return f"holds {_shown(value)}, not a timestamp"
    if parsed.tzinfo is None:
        return f"holds {_shown(value)}, a timestamp without its time zone"
    return None


def _status(value: Any, known: frozenset[str], what: str) -> str | None:
    problem = _text(value, required=True)
    if problem is None and value not in known:
        return f"holds {_shown(value)}, not a {what} status"
    return problem


def _json_of(shape: Callable[[Any], str | None] | None) -> Callable[[Any], str | None]:
    """A check of a JSON column; ``shape`` checks the parsed value."""

    def check(value: Any) -> str | None:
        problem = _text(value)
        if problem is not None or value is None:
            return problem
        try:
            data = json.loads(value)
        except (ValueError, RecursionError):
            return f"holds {_shown(value)}, not valid JSON"
        return None if shape is None else shape(data)

    return check


def _object(data: Any) -> str | None:
    if data is None or isinstance(data, dict):
        return None
    return f"holds JSON {_shown(data)}, not an object"


_ERROR_FIELDS: dict[str, tuple[type, ...]] = {
    "type": (str,),
    "message": (str,),
    "step": (str,),
    "status": (int,),
    "details": (dict,),
    "cause": (dict,),
    "traceback": (str,),
}


def _error(data: Any) -> str | None:
    """An error as ``ErrorInfo.to_dict`` writes it (older rows have fewer keys)."""
    problem = _object(data)
    if problem is not None or data is None:
        return problem
    for key, types in _ERROR_FIELDS.items():
        value = data.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, types)):
            return f"holds an error whose '{key}' is {_shown(value)}"
    return None


def _outline(data: Any) -> str | None:
    """The plan's shape as ``durable.start.outline`` writes it."""
    if data is None:
        return None
    nodes = data.get("nodes") if isinstance(data, dict) else None
    terminals = data.get("terminals", []) if isinstance(data, dict) else None
    if not isinstance(nodes, list) or not _strings(terminals):
        return "holds JSON that is not a plan's outline"
    for node in nodes:
        if not isinstance(node, dict) or not isinstance(node.get("id"), str):
            return "holds a plan's outline with a node that has no id"
        if node.get("kind") == "group" and not (
            isinstance(node.get("group_id"), str)
            and isinstance(node.get("strategy"), str)
            and _strings(node.get("members"))
        ):
            return f"holds a plan's outline whose group {node['id']!r} is incomplete"
    return None


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


_any_json = _json_of(None)
_object_json = _json_of(_object)
_error_json = _json_of(_error)

# Each column: its check, and what it reads as when damaged.
Check = Callable[[Any], str | None]
_RUN_CHECKS: dict[str, tuple[Check, Any]] = {
    "id": (functools.partial(_text, required=True), ""),
    "workflow": (functools.partial(_text, required=True), ""),
    "status": (functools.partial(_status, known=_RUN_STATUSES, what="run"), DAMAGED),
    "definition_hash": (_text, None),
    "definition": (_text, None),
    "file": (_text, None),
    "outline": (_json_of(_outline), None),
    "inputs": (_object_json, None),
    "outputs": (_any_json, None),
    "error": (_error_json, None),
    "stats": (_object_json, None),
    "lease_owner": (_text, None),
    "lease_expires_at": (_number, None),
    "created_at": (_timestamp, None),
    "started_at": (_timestamp, None),
    "finished_at": (_timestamp, None),
    "updated_at": (_timestamp, None),
}
_STEP_CHECKS: dict[str, tuple[Check, Any]] = {
    "run_id": (functools.partial(_text, required=True), ""),
    "node_id": (functools.partial(_text, required=True), ""),
    "attempt": (functools.partial(_integer, required=True), 0),
    "step_id": (functools.partial(_text, required=True), ""),
    "status": (functools.partial(_status, known=_STEP_STATUSES, what="step"), DAMAGED),
    "parent_step_id": (_text, None),
    "branch_name": (_text, None),
    "branch_index": (_integer, None),
    "loop_iteration": (_integer, None),
    "join_policy": (_text, None),
    "input": (_text, None),
    "output": (_any_json, None),
    "error": (_error_json, None),
    "reason": (_text, None),
    "detail": (_object_json, None),
    "started_at": (_timestamp, None),
    "finished_at": (_timestamp, None),
    "logs": (_text, None),
}


def _damage(
    row: Mapping[Any, Any], checks: dict[str, tuple[Check, Any]]
) -> tuple[dict[str, Any], list[str]]:
    """The row's values, damaged ones replaced, and a note per damaged column."""
    values = dict(row)
    notes: list[str] = []
    for column, (check, instead) in checks.items():
        problem = check(values.get(column))
        if problem is not None:
            notes.append(f"column '{column}' {problem}")
            values[column] = instead
    return values, notes


def _damaged_error(what: str, notes: list[str], status: Any) -> str:
    columns = [note.split("'")[1] for note in notes]
    return json.dumps(
        {
            "type": DAMAGED_TYPE,
            "message": f"the store's row of {what} is damaged: {'; '.join(notes)}",
            "details": {
                "columns": columns,
                "status": status if isinstance(status, str) else None,
            },
        }
    )


def _intact(values: dict[str, Any], checks: _FastChecks) -> bool:
    """Whether a row is as plait writes it: the quick test every row read takes (a
    few microseconds); only a row that fails it is looked at column by column."""
    get = values.get
    for column in checks.required_text:
        if type(get(column)) is not str:
            return False
    if get("status") not in checks.statuses:
        return False
    for column in checks.text:
        value = get(column)
        if value is not None and type(value) is not str:
            return False
    for column in checks.integers:
        value = get(column)
        if value is not None and type(value) is not int:
            return False
    try:
        for column in checks.json:
            value = get(column)
            if value is not None and (type(value) is not str or not _parses(value)):
                return False
        for column, shape in checks.shaped:
            value = get(column)
            if value is not None and (type(value) is not str or shape(json.loads(value))):
                return False
        for column in checks.times:
            value = get(column)
            if value is not None and (
                type(value) is not str or datetime.fromisoformat(value).tzinfo is None
            ):
                return False
    except (ValueError, RecursionError):  # JSON or a timestamp that does not parse
        return False
    return True


# The standard decoder's own (C) scanner: what ``json.loads`` runs, without its Python
# wrapper, a third of the time for a step's output. A text it refuses (leading space
# included) goes on to the slow path, which asks ``json.loads`` itself.
_scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def _parses(text: str) -> bool:
    try:
        _, end = _scan(text, 0)
    except StopIteration:  # no JSON value where one was expected
        return False
    except ValueError:  # JSONDecodeError: a string or number that does not end
        return False
    return bool(end == len(text))


@dataclass(frozen=True, slots=True)
class _FastChecks:
    required_text: tuple[str, ...]
    statuses: frozenset[str]
    text: tuple[str, ...]
    integers: tuple[str, ...]
    json: tuple[str, ...]
    shaped: tuple[tuple[str, Callable[[Any], str | None]], ...]
    times: tuple[str, ...]


_RUN_FAST = _FastChecks(
    required_text=("id", "workflow"),
    statuses=_RUN_STATUSES,
    text=("definition_hash", "definition", "file", "lease_owner"),
    integers=(),
    json=("outputs",),
    shaped=(("outline", _outline), ("inputs", _object), ("error", _error), ("stats", _object)),
    times=("created_at", "started_at", "finished_at", "updated_at"),
)
_STEP_FAST = _FastChecks(
    required_text=("run_id", "node_id", "step_id"),
    statuses=_STEP_STATUSES,
    # `input` is kept for people reading the database; plait never reads it back, so
    # its JSON is not parsed here (a step of large input would pay for nothing).
    text=("parent_step_id", "branch_name", "join_policy", "reason", "input", "logs"),
    integers=("attempt", "branch_index", "loop_iteration"),
    json=("output",),
    shaped=(("error", _error), ("detail", _object)),
    times=("started_at", "finished_at"),
)


def run_from_row(row: Mapping[Any, Any]) -> RunRecord:
    """A run row read from a store, as a record (damaged: see above)."""
    values = dict(row)  # a copy: cancel_requested is set on it
    lease = values.get("lease_expires_at")
    if _intact(values, _RUN_FAST) and (lease is None or _number(lease) is None):
        values["cancel_requested"] = bool(values.get("cancel_requested"))
        return RunRecord(**values)
    values, notes = _damage(row, _RUN_CHECKS)
    values["cancel_requested"] = bool(values.get("cancel_requested"))
    if notes:
        values["status"] = DAMAGED
        values["error"] = _damaged_error("this run", notes, row.get("status"))
    return RunRecord(**values)


def step_from_row(row: Mapping[Any, Any]) -> StepRecord:
    """A step execution row read from a store, as a record (damaged: see above)."""
    values = row if type(row) is dict else dict(row)
    if _intact(values, _STEP_FAST) and values.get("attempt") is not None:
        return StepRecord(**values)
    values, notes = _damage(row, _STEP_CHECKS)
    if notes:
        values["status"] = DAMAGED
        step = row.get("node_id") if isinstance(row.get("node_id"), str) else "?"
        attempt = row.get("attempt")
        values["error"] = _damaged_error(
            f"step {step!r} (attempt {attempt!r})", notes, row.get("status")
        )
        values["reason"] = "damaged in the store: " + "; ".join(notes)
    return StepRecord(**values)


def checked_run(record: RunRecord) -> RunRecord:
    """A record kept in memory, checked as a row read from a database is."""
    return run_from_row({f.name: getattr(record, f.name) for f in fields(RunRecord)})


def checked_step(record: StepRecord) -> StepRecord:
    return step_from_row(record._asdict())


def damage_of(record: RunRecord | StepRecord) -> str | None:
    """What is damaged in a record read back from a store (its error's message), or
    None if it is intact."""
    if record.status != DAMAGED or record.error is None:
        return None
    try:
        message = json.loads(record.error).get("message")
    except (ValueError, AttributeError):
        return None
    return message if isinstance(message, str) else None
