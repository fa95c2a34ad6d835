"""``plait.WorkerPool`` on its own: seed 001's API in snake_case."""

from __future__ import annotations

import asyncio

import pytest

import plait
from plait import WorkerPool, WorkerTask


def _counting(pool_log: dict[str, int], delay: float, value: object = None, fail: bool = False):
    async def task() -> object:
        pool_log["active"] += 1
        pool_log["peak"] = max(pool_log["peak"], pool_log["active"])
        try:
            await asyncio.sleep(delay)
            if fail:
                raise ValueError(f"failed {value}")
            return value
        finally:
            pool_log["active"] -= 1

    return task


async def test_execute_many_respects_max_concurrent_and_keeps_order() -> None:
    pool = WorkerPool(max_concurrent=3)
    log = {"active": 0, "peak": 0}
    results = await pool.execute_many([_counting(log, 0.001 * (i % 4), i) for i in range(20)])
    assert results == list(range(20))
    assert log["peak"] == 3
    stats = pool.get_stats()
    assert stats.tasks_completed == 20
    assert stats.active_workers == 0
    assert stats.queue_length == 0
    assert stats.total_wait_time > 0


async def test_execute_many_raises_first_failure_and_cancels_the_rest() -> None:
    pool = WorkerPool(max_concurrent=5)
    log = {"active": 0, "peak": 0}
    with pytest.raises(ValueError, match="failed 1"):
        await pool.execute_many([_counting(log, 10, 0), _counting(log, 0, 1, fail=True)])
    assert log["active"] == 0  # the slow one was cancelled, not left running
    assert pool.get_status().active_workers == 0


@pytest.mark.looptime
async def test_execute_honours_task_and_pool_timeouts() -> None:
    pool = WorkerPool(max_concurrent=2, timeout=5)
    log = {"active": 0, "peak": 0}
    with pytest.raises(plait.StepTimedOut):
        await pool.execute(_counting(log, 60))
    with pytest.raises(plait.StepTimedOut):
        await pool.execute(WorkerTask(_counting(log, 60), timeout=1))
    assert await pool.execute(WorkerTask(_counting(log, 3, "ok"), timeout=10)) == "ok"
    assert pool.get_stats().tasks_timed_out == 2


async def test_queue_size_rejects_instead_of_hanging() -> None:
    pool = WorkerPool(max_concurrent=1, queue_size=1)
    gate = asyncio.Event()

    async def wait() -> str:
        await gate.wait()
        return "done"

    first = asyncio.create_task(pool.execute(wait))
    second = asyncio.create_task(pool.execute(wait))
    await asyncio.sleep(0)
    assert pool.get_status().queue_length == 1
    with pytest.raises(plait.PoolFull):
        await pool.execute(wait)
    gate.set()
    assert await asyncio.gather(first, second) == ["done", "done"]


@pytest.mark.parametrize(
    ("strategy", "success", "winner"),
    [("all", False, None), ("any", True, 2), ("allSettled", True, None), ("race", False, 1)],
)
async def test_execute_with_strategy(strategy: str, success: bool, winner: int | None) -> None:
    # task 1 fails first, task 2 succeeds next, task 0 would end last.
    pool = WorkerPool(max_concurrent=10)
    log = {"active": 0, "peak": 0}
    tasks = [
        _counting(log, 0.2, "slow"),
        _counting(log, 0.001, 1, fail=True),
        _counting(log, 0.01, "fast"),
    ]
    outcome = await pool.execute_with_strategy(tasks, strategy)
    assert outcome.success is success
    assert outcome.winner == winner
    assert isinstance(outcome.results[1], ValueError)
    if strategy == "allSettled":
        assert outcome.results[0] == "slow"
    if strategy == "any":
        assert outcome.results[2] == "fast"
        assert outcome.results[0] is None  # cancelled
    assert log["active"] == 0


def test_status_and_stats_are_frozen_values() -> None:
    pool = WorkerPool(max_concurrent=4, queue_size=10, timeout=1.0)
    status = pool.get_status()
    assert (status.active_workers, status.max_concurrent, status.queue_length) == (0, 4, 0)
    assert status.utilization_rate == 0
    with pytest.raises(AttributeError):
        status.active_workers = 3  # type: ignore[misc]
    assert set(pool.get_stats().to_dict()) == {
        "tasksCompleted",
        "tasksFailed",
        "tasksTimedOut",
        "totalWaitTime",
        "averageWaitTime",
        "activeWorkers",
        "queueLength",
        "maxConcurrent",  # the limit now: an adaptive pool moves it
    }


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="max_concurrent"):
        WorkerPool(max_concurrent=0)
