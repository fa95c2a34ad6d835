"""The statuses of runs and step executions (SPEC §2), shared by every layer."""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"
    # Only read back from a store: the run's row there cannot be read as recorded (a
    # status plait does not know, a column that is not valid JSON; issue 19).
    DAMAGED = "damaged"

    @property
    def finished(self) -> bool:
        return self in _RUN_FINISHED


class StepStatus(StrEnum):
    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"
    DAMAGED = "damaged"  # read back from a store whose row of it is damaged (issue 19)

    @property
    def terminal(self) -> bool:
        return self in STEP_TERMINAL


_RUN_FINISHED = frozenset(
    {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.TIMED_OUT}
)
STEP_TERMINAL = frozenset(
    {
        StepStatus.SUCCEEDED,
        StepStatus.FAILED,
        StepStatus.SKIPPED,
        StepStatus.CANCELLED,
        StepStatus.TIMED_OUT,
        StepStatus.DAMAGED,  # nothing will change it: plait cancel leaves it as it is
    }
)
