"""Runs a Plan: the ready queue, pools, group scopes, timeouts and retries."""

from plait.engine.pools import PoolStats, PoolStatus, StrategyResult, WorkerPool, WorkerTask
from plait.engine.result import GroupResult, RunResult, StepResult
from plait.engine.run import Run

__all__ = [
    "GroupResult",
    "PoolStats",
    "PoolStatus",
    "Run",
    "RunResult",
    "StepResult",
    "StrategyResult",
    "WorkerPool",
    "WorkerTask",
]
