"""Seed 001's task API on a pool: ``execute``, ``execute_many``, ``execute_with_strategy``.

``execute_with_strategy`` joins its tasks as the engine joins a group's members: the
same ``Join`` (engine/joins.py) decides, names the winner, shapes the output and words
the error; this file keeps only the futures (start them, wait, cancel the losers).
A task ends as a member does: it returns (succeeded), raises (failed), runs past its
timeout (timed out) or is cancelled. A task has no ``continueOnError`` and is never
skipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from plait.definition.models import WaitStrategy
from plait.engine.deadlines import DeadlineExpired, within
from plait.engine.joins import Join
from plait.engine.pools.slots import SlotPool
from plait.errors import RunError, StepTimedOut
from plait.status import StepStatus

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class WorkerTask(Generic[T]):
    """A unit of work for ``WorkerPool.execute``: an async callable and its own timeout."""

    fn: Callable[[], Awaitable[T]]
    timeout: float | None = None
    id: str | None = None


@dataclass(frozen=True, slots=True)
class StrategyResult(Generic[T]):
    """``execute_with_strategy``: per-task result or exception (None if cancelled or
    never ended); whether the strategy succeeded; the winner's index (``any``, ``race``);
    the output, as a map's (the winner's result, or the list of results with None for
    the tasks that did not succeed); and, on failure, the error (``task 1 failed: ...``
    in that task's error type, or ``GroupFailed`` for ``any``)."""

    results: list[T | BaseException | None]
    success: bool
    winner: int | None = None
    output: Any = None
    error: RunError | None = None


TaskLike = WorkerTask[T] | Callable[[], Awaitable[T]]


class WorkerPool(SlotPool):
    """A pool of ``max_concurrent`` slots with an optional bounded queue and timeout;
    optionally a ``rate`` (calls started per second, with ``burst``), a circuit breaker
    and an adaptive limit (``max_concurrent`` is then where it starts). Users get seed
    001's API in snake_case: ``execute``, ``execute_many``, ``execute_with_strategy``,
    ``get_stats()``, ``get_status()``."""

    async def execute(self, task: TaskLike[T], *, timeout: float | None = None) -> T:
        """Run one task in a slot, waiting for one if needed, within its timeout."""
        fn, task_timeout = _unpack(task)
        limit = next((t for t in (timeout, task_timeout, self.timeout) if t is not None), None)
        if self.breaker is not None and self.breaker.rejects():
            self.breaker.admit()  # raises CircuitOpen: no need to queue for a slot
        await self.acquire()
        try:
            if self.guards:
                result = await self.guarded(lambda: _within(fn, limit))
            else:
                result = await _within(fn, limit)
        except StepTimedOut:
            self.record(timed_out=True)
            raise
        except BaseException:
            self.record(failed=True)
            raise
        else:
            self.record()
            return result
        finally:
            self.release()

    async def execute_many(self, tasks: Sequence[TaskLike[T]]) -> list[T]:
        """Run every task; return their results in order. The first failure cancels the
        rest and is raised (``Promise.all``)."""
        outcome = await self.execute_with_strategy(tasks, WaitStrategy.ALL)
        if not outcome.success:
            error = next(r for r in outcome.results if isinstance(r, BaseException))
            raise error
        return [r for r in outcome.results]  # type: ignore[misc]

    async def execute_with_strategy(
        self, tasks: Sequence[TaskLike[T]], strategy: WaitStrategy | str
    ) -> StrategyResult[T]:
        """Run every task under a wait strategy; the tasks it no longer needs are cancelled
        (and awaited: none is left running when this returns)."""
        join = Join(strategy, len(tasks), noun="task")
        results: list[T | BaseException | None] = [None] * len(tasks)
        if not tasks:
            join.start()  # all, allSettled: succeed; any, race: fail
            return _result(join, results)
        running = {asyncio.ensure_future(self.execute(t)): i for i, t in enumerate(tasks)}
        try:
            pending = set(running)
            while not join.decided and pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for fut in sorted(done, key=running.__getitem__):
                    index = running[fut]
                    status, value, error = _ending(fut)
                    results[index] = error if error is not None else value
                    join.ended(index, status, output=value, error=error)
                    if join.decided:
                        break
            losers = set(join.losers(running.values()))
            for fut, index in running.items():
                if index in losers:
                    fut.cancel()
        finally:
            for fut in running:  # (only if we were cancelled ourselves: all, then)
                fut.cancel()
            await asyncio.gather(*running, return_exceptions=True)
        return _result(join, results)


def _ending(fut: asyncio.Future[Any]) -> tuple[StepStatus, Any, BaseException | None]:
    """How a task ended, as a member of its join: its status, result and error."""
    if fut.cancelled():
        return StepStatus.CANCELLED, None, None
    error = fut.exception()
    if error is None:
        return StepStatus.SUCCEEDED, fut.result(), None
    if isinstance(error, StepTimedOut):
        return StepStatus.TIMED_OUT, None, error
    return StepStatus.FAILED, None, error


def _result(join: Join, results: list[T | BaseException | None]) -> StrategyResult[T]:
    success = join.decided and join.error is None
    return StrategyResult(
        results, success, join.winner, join.output if success else None, join.error
    )


async def _within(fn: Callable[[], Awaitable[T]], limit: float | None) -> T:
    """``fn()`` within ``limit``: ``StepTimedOut`` when the limit ran out (a
    ``TimeoutError`` the task raised itself stays one)."""
    try:
        return await within(limit, fn)
    except DeadlineExpired:
        raise StepTimedOut(f"task timed out after {limit:g}s") from None


def _unpack(task: TaskLike[T]) -> tuple[Callable[[], Awaitable[T]], float | None]:
    if isinstance(task, WorkerTask):
        return task.fn, task.timeout
    if callable(task):
        return task, None
    raise TypeError(f"a task is an async callable or a WorkerTask, not {task!r}")
