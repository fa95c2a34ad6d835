"""What a run produced: ``RunResult``, and the run document of SPEC §4."""

from __future__ import annotations

import time
from collections.abc import ItemsView, Iterable, Iterator, Mapping, Sequence, ValuesView
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from plait.errors import ErrorInfo
from plait.secrets import NO_SECRETS, Secrets
from plait.status import RunStatus, StepStatus

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def iso(timestamp: float | None) -> str | None:
    """ISO 8601, UTC, with microseconds (whole microseconds, rounded half to even)."""
    if timestamp is None:
        return None
    seconds, micros = divmod(round(timestamp * 1e6), 1_000_000)
    cached = _last_second
    if cached[0] == seconds:
        prefix = cached[1]
    else:
        t = time.gmtime(seconds)
        prefix = (
            f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T"
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}."
        )
        _remember(seconds, prefix)
    return f"{prefix}{micros:06d}+00:00"


# The formatted date and time of the last whole second asked for: a run's timestamps
# mostly fall in the same second. One tuple, replaced whole, so threads cannot tear it.
_last_second: tuple[int, str] = (-1, "")


def _remember(seconds: int, prefix: str) -> None:
    global _last_second
    _last_second = (seconds, prefix)


def from_iso(text: str | None) -> float | None:
    """The inverse of ``iso``, exact to the microsecond."""
    if text is None:
        return None
    micros = (datetime.fromisoformat(text) - _EPOCH) // timedelta(microseconds=1)
    return micros / 1e6


def duration_ms(start: float | None, end: float | None) -> float | None:
    if start is None or end is None:
        return None
    # Whole microseconds, as ISO timestamps hold them: a duration rebuilt from the store
    # is then the same number as the one the run reported.
    return (round(end * 1e6) - round(start * 1e6)) / 1000.0


@dataclass(slots=True)
class StepResult:
    """One step execution's outcome. (Not frozen: a run builds one per node, and a frozen
    dataclass's ``__init__`` costs several times more.) ``error`` is the last attempt's
    error (``error.type``, ``.message``, ``.traceback``, ``.cause``, ``.details``...),
    ``attempt_errors`` the earlier attempts' errors."""

    id: str
    status: StepStatus
    output: Any
    error: ErrorInfo | None
    attempts: int
    started_at: float | None
    finished_at: float | None
    reason: str | None = None
    attempt_errors: tuple[ErrorInfo, ...] = ()
    # What the step's code logged in its last attempt (None: nothing); earlier
    # attempts' logs are in the store (``plait runs logs``).
    logs: str | None = None

    @property
    def duration_ms(self) -> float | None:
        return duration_ms(self.started_at, self.finished_at)

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "status": self.status.value,
            "output": self.output,
            "error": None if self.error is None else self.error.to_dict(),
            "attempts": self.attempts,
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "duration_ms": self.duration_ms,
        }
        if self.reason is not None:
            doc["reason"] = self.reason
        if self.attempt_errors:
            doc["attempt_errors"] = [error.to_dict() for error in self.attempt_errors]
        if self.logs is not None:
            doc["logs"] = (
                self.logs if len(self.logs) <= DOCUMENT_LOGS else _logs_ref(self.id, self.logs)
            )
        return doc


# A step's logs longer than this are not copied into the run document: it says where
# they are instead (``plait runs logs``), with their last lines.
DOCUMENT_LOGS = 16 * 1024
_LOGS_TAIL = 2000


def _logs_ref(step: str, logs: str) -> dict[str, Any]:
    return {"size": len(logs), "tail": logs[-_LOGS_TAIL:], "see": f"plait runs logs RUN {step}"}


# A group member as its group's result counts it: (step id, status, output, error).
Member = tuple[str, StepStatus, Any, ErrorInfo | None]

_FAILED = frozenset({StepStatus.FAILED, StepStatus.TIMED_OUT})
_SKIPPED = frozenset({StepStatus.SKIPPED, StepStatus.CANCELLED})


@dataclass(frozen=True, slots=True)
class GroupResult:
    """Seed 001's ``ParallelExecutionResult``, plus the winner of ``any``/``race``."""

    group_id: str
    step_id: str
    strategy: str
    completed_steps: list[str]
    failed_steps: list[str]
    skipped_steps: list[str]
    duration: float | None
    success: bool
    results: dict[str, Any]
    errors: dict[str, ErrorInfo]
    winner: str | None
    status: StepStatus

    @classmethod
    def of_members(
        cls,
        members: Iterable[Member],
        *,
        group_id: str,
        step_id: str,
        strategy: str,
        status: StepStatus,
        started_at: float | None,
        finished_at: float | None,
        winner: str | None,
    ) -> GroupResult:
        """A group's result from its members' outcomes and its own fields: the one place
        a member counts as completed, failed or skipped, for a live run
        (``engine/summary.py``) and a run rebuilt from the store (``durable/document.py``)
        alike, so the two agree."""
        completed: list[str] = []
        failed: list[str] = []
        skipped: list[str] = []
        results: dict[str, Any] = {}
        errors: dict[str, ErrorInfo] = {}
        for step, member_status, output, error in members:
            if member_status is StepStatus.SUCCEEDED:
                completed.append(step)
                results[step] = output
            elif member_status in _FAILED:
                failed.append(step)
            elif member_status in _SKIPPED:
                skipped.append(step)
            if error is not None:
                errors[step] = error
        return cls(
            group_id=group_id,
            step_id=step_id,
            strategy=strategy,
            completed_steps=completed,
            failed_steps=failed,
            skipped_steps=skipped,
            duration=duration_ms(started_at, finished_at),
            success=status is StepStatus.SUCCEEDED,
            results=results,
            errors=errors,
            winner=winner,
            status=status,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "groupId": self.group_id,
            "stepId": self.step_id,
            "waitStrategy": self.strategy,
            "status": self.status.value,
            "completedSteps": self.completed_steps,
            "failedSteps": self.failed_steps,
            "skippedSteps": self.skipped_steps,
            "duration": self.duration,
            "success": self.success,
            "results": self.results,
            "errors": {step: error.to_dict() for step, error in self.errors.items()},
            "winner": self.winner,
        }


@dataclass(frozen=True, slots=True)
class RunResult:
    run_id: str
    workflow: str
    status: RunStatus
    outputs: Any
    error: ErrorInfo | None
    started_at: float | None
    finished_at: float | None
    steps: Mapping[str, StepResult]
    groups: dict[str, GroupResult]
    stats: dict[str, Any] = field(default_factory=dict)
    # the values read from ${env.NAME}: masked out of the run document
    secrets: Secrets = NO_SECRETS

    @property
    def succeeded(self) -> bool:
        return self.status is RunStatus.SUCCEEDED

    @property
    def duration_ms(self) -> float | None:
        return duration_ms(self.started_at, self.finished_at)

    def to_document(self) -> dict[str, Any]:
        """The run document of SPEC §4 (``plait run --json``); the run's secrets read
        ``***`` in it."""
        document: dict[str, Any] = self.secrets.value(
            {
                "run_id": self.run_id,
                "workflow": self.workflow,
                "status": self.status.value,
                "duration_ms": self.duration_ms,
                "started_at": iso(self.started_at),
                "finished_at": iso(self.finished_at),
                "outputs": self.outputs,
                "error": None if self.error is None else self.error.to_dict(),
                "steps": {sid: s.to_dict() for sid, s in self.steps.items()},
                "groups": {gid: g.to_dict() for gid, g in self.groups.items()},
                "stats": self.stats,
            }
        )
        return document


class NestedSteps(Protocol):
    """The nodes of a run's bodies (map branches, loop passes...), as ``StepResults``
    reads them (``engine/finished.Records``)."""

    def __len__(self) -> int: ...
    def ids(self) -> Iterator[str]: ...
    def result(self, node_id: str) -> StepResult | None: ...
    def items(self) -> Iterator[tuple[str, StepResult]]: ...


class StepResults(Mapping[str, StepResult]):
    """``RunResult.steps``: a read-only view of a finished run's steps. Each
    ``StepResult`` is made when first asked for, so a 100,000-step run does not build
    100,000 of them to return one output. The workflow's own steps come first, then
    the nodes of its bodies (``nested``), kept compact until asked for."""

    __slots__ = ("_cache", "_index", "_nested", "_states")

    def __init__(
        self,
        states: Sequence[Any],
        index: Mapping[str, int],
        nested: NestedSteps | None = None,
    ) -> None:
        self._states = states
        self._index = index
        self._nested = nested
        self._cache: dict[int | str, StepResult] = {}

    def __getitem__(self, step_id: str) -> StepResult:
        position = self._index.get(step_id)
        key: int | str = step_id if position is None else position
        found = self._cache.get(key)
        if found is not None:
            return found
        if position is not None:
            found = step_result(self._states[position])
        elif self._nested is not None:
            found = self._nested.result(step_id)
        if found is None:
            raise KeyError(step_id)
        self._cache[key] = found
        return found

    def __iter__(self) -> Iterator[str]:
        yield from (st.node_id for st in self._states)
        if self._nested is not None:
            yield from self._nested.ids()

    def __len__(self) -> int:
        return len(self._states) + (0 if self._nested is None else len(self._nested))

    def items(self) -> ItemsView[str, StepResult]:
        return _Items(self)

    def values(self) -> ValuesView[StepResult]:
        return _Values(self)

    def pairs(self) -> Iterator[tuple[str, StepResult]]:
        """Every (id, result) in order, without looking each id up: the run document of a
        map of a million branches reads them once, in one pass over the records."""
        for position, st in enumerate(self._states):
            found = self._cache.get(position)
            yield st.node_id, found if found is not None else step_result(st)
        if self._nested is not None:
            yield from self._nested.items()

    def __repr__(self) -> str:
        return f"<StepResults of {len(self)} steps>"


class _Items(ItemsView[str, StepResult]):
    _mapping: StepResults

    def __iter__(self) -> Iterator[tuple[str, StepResult]]:
        return self._mapping.pairs()


class _Values(ValuesView[StepResult]):
    _mapping: StepResults

    def __iter__(self) -> Iterator[StepResult]:
        return (result for _, result in self._mapping.pairs())


def step_result(st: Any) -> StepResult:
    """The result of one node, from its ``StepState``."""
    return StepResult(
        id=st.node_id,
        status=st.status,
        output=st.output,
        error=ErrorInfo.of(st.error) if st.error is not None else None,
        attempts=st.attempts,
        started_at=st.started_at,
        finished_at=st.finished_at,
        reason=st.reason,
        attempt_errors=tuple(map(ErrorInfo.of, st.attempt_errors)) if st.attempt_errors else (),
        logs=st.logs if type(st.logs) is str else None,
    )
