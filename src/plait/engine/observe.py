"""Observers: what watches a run besides its recorder (traces, metrics), issue 13.

The session holds at most one observer (``Observers`` fans out to several). The
engine calls it where it calls the recorder, after one ``is None`` check, so a run that
nobody observes pays one attribute read per transition and imports nothing::

    run.execute ─▶ run_started ─▶ step_started (each attempt) ─▶ attempt_failed (a
                   retry follows) ─▶ step_ended (every node, once) ─▶ run_finished

An observer must be cheap and must not raise: it is called on the event loop, in the
middle of the engine's transitions. What it may read of a step is its ``StepState``
(``started_at``, ``finished_at``, ``attempts``, ``status``, ``error``); a step that
never started ends with ``started_at`` None. Steps a resume restores from the store
are not reported: they ran, and were observed, in an earlier process.

The implementations live outside the engine (``plait.observability``), imported only
when a run asks for them.
"""

from __future__ import annotations

from typing import Protocol

from plait.compiler.plan import Plan
from plait.engine.pools import WorkerPool
from plait.engine.recording import Recorder
from plait.engine.result import RunResult
from plait.engine.state import StepState
from plait.errors import RunError
from plait.secrets import Secrets


class ObservedRun(Protocol):
    """What an observer may read of the run it watches (the run's ``Session``)."""

    run_id: str
    plan: Plan
    pools: dict[str, WorkerPool]
    secrets: Secrets
    recorder: Recorder | None


class Observer(Protocol):
    def run_started(self, run: ObservedRun) -> None:
        """The run starts (or goes on, resumed), before its first step."""

    def step_started(self, st: StepState) -> None:
        """An attempt of a task starts, or a switch, group, map, loop or sub-workflow
        node starts."""

    def attempt_failed(self, st: StepState, error: RunError) -> None:
        """Attempt ``st.attempts`` failed with ``error``; the step will be retried."""

    def step_ended(self, st: StepState) -> None:
        """A node ended, once (its last attempt, or without starting: skipped)."""

    def trace_context(self, st: StepState) -> str | None:
        """The W3C ``traceparent`` of the running attempt of ``st`` (for a tool that
        propagates it, the ``http`` tool), or None."""

    def run_finished(self, result: RunResult) -> None:
        """The run ended (or paused); nothing is reported after this."""


class Observers:
    """Several observers as one (tracing and metrics together)."""

    __slots__ = ("_all",)

    def __init__(self, observers: list[Observer]) -> None:
        self._all = tuple(observers)

    def run_started(self, run: ObservedRun) -> None:
        for observer in self._all:
            observer.run_started(run)

    def step_started(self, st: StepState) -> None:
        for observer in self._all:
            observer.step_started(st)

    def attempt_failed(self, st: StepState, error: RunError) -> None:
        for observer in self._all:
            observer.attempt_failed(st, error)

    def step_ended(self, st: StepState) -> None:
        for observer in self._all:
            observer.step_ended(st)

    def trace_context(self, st: StepState) -> str | None:
        for observer in self._all:
            found = observer.trace_context(st)
            if found is not None:
                return found
        return None

    def run_finished(self, result: RunResult) -> None:
        for observer in self._all:
            observer.run_finished(result)


def combine(observers: list[Observer]) -> Observer | None:
    """None, the one observer, or ``Observers`` of them all."""
    if not observers:
        return None
    return observers[0] if len(observers) == 1 else Observers(observers)
