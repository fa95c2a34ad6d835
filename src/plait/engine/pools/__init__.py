"""Worker pools (seed 001): slots for the engine, a task API for users.

slots.py     SlotPool: slots, the queue, rate, breaker and adaptive limits, statistics
task_api.py  WorkerPool(SlotPool): execute, execute_many, execute_with_strategy
"""

from __future__ import annotations

from typing import Any

from plait.engine.pools.slots import Alive, PoolStats, PoolStatus, SlotPool, Starter
from plait.engine.pools.task_api import StrategyResult, TaskLike, WorkerPool, WorkerTask

__all__ = [
    "Alive",
    "PoolStats",
    "PoolStatus",
    "SlotPool",
    "Starter",
    "StrategyResult",
    "TaskLike",
    "WorkerPool",
    "WorkerTask",
    "pool_from_spec",
]


def pool_from_spec(spec: Any) -> WorkerPool:
    return WorkerPool(
        spec.max_concurrent,
        spec.queue_size,
        spec.timeout,
        name=spec.name,
        rate=spec.rate,
        burst=spec.burst,
        circuit_breaker=spec.breaker,
        adaptive=spec.adaptive,
    )
