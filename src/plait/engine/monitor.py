"""Structured logs: ``plait.pool`` (slots, queues, breakers, limits) and ``plait.parallel``
(groups and maps), seed 001's ``[WorkerPool]`` and ``[ParallelExecution]`` messages.

Every record carries ``extra`` fields a log handler or formatter can pick up:
``event`` always; ``pool``, ``tool``, ``step``, ``group``, ``kind`` where they apply;
``wait`` and ``duration`` in milliseconds. Records are built only when the logger is
enabled for their level: callers on hot paths test ``isEnabledFor`` first, so a run
with logging off pays one method call per step and no formatting.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from plait.engine.pools import SlotPool
    from plait.engine.state import StepState

POOL_LOG = logging.getLogger("plait.pool")
PARALLEL_LOG = logging.getLogger("plait.parallel")
DEBUG, INFO, WARNING = logging.DEBUG, logging.INFO, logging.WARNING


def loop_time() -> float:
    """The running event loop's clock (a test's fake one under looptime), else monotonic."""
    try:
        return asyncio.get_running_loop().time()
    except RuntimeError:
        return time.monotonic()


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 3)


def slot_granted(pool: SlotPool, st: StepState) -> None:
    """DEBUG ``slot_granted``: ``wait`` is how long the step queued for its slot."""
    wait = _ms(time.time() - st.queued_at) if st.queued_at is not None else 0.0
    POOL_LOG.debug(
        "pool '%s': slot granted to '%s' after %.3f ms (%d/%d busy)",
        pool.name,
        st.node_id,
        wait,
        pool.active,
        pool.max_concurrent,
        extra={"event": "slot_granted", "pool": pool.name, "step": st.node_id, "wait": wait},
    )


def slot_released(pool: SlotPool, st: StepState, why: str) -> None:
    """DEBUG ``slot_released``: ``duration`` is how long the step held the slot."""
    held = _ms(time.time() - st.started_at) if st.started_at is not None else 0.0
    POOL_LOG.debug(
        "pool '%s': '%s' released its slot after %.3f ms (%s)",
        pool.name,
        st.node_id,
        held,
        why,
        extra={
            "event": "slot_released",
            "pool": pool.name,
            "step": st.node_id,
            "duration": held,
            "reason": why,
        },
    )


def queue_full(pool: SlotPool, step: str | None) -> None:
    """WARNING ``queue_full``: a step was rejected with ``PoolFull``."""
    if POOL_LOG.isEnabledFor(WARNING):
        POOL_LOG.warning(
            "pool '%s': queue full (queueSize %s); '%s' rejected",
            pool.name,
            pool.queue_size,
            step,
            extra={"event": "queue_full", "pool": pool.name, "step": step},
        )


def limit_changed(pool: SlotPool, previous: int, reason: str) -> None:
    """INFO ``limit_raised`` / ``limit_lowered``: an adaptive pool moved its limit."""
    if POOL_LOG.isEnabledFor(INFO):
        event = "limit_raised" if pool.max_concurrent > previous else "limit_lowered"
        POOL_LOG.info(
            "pool '%s': limit %d -> %d (%s)",
            pool.name,
            previous,
            pool.max_concurrent,
            reason,
            extra={
                "event": event,
                "pool": pool.name,
                "limit": pool.max_concurrent,
                "previous": previous,
                "reason": reason,
            },
        )


def parallel_started(st: StepState, members: int | None) -> None:
    """INFO ``group_started`` for a group or a map (``kind``)."""
    node = st.node
    extra: dict[str, Any] = {
        "event": "group_started",
        "group": st.node_id,
        "kind": node.kind.value,
        "strategy": node.strategy.value,
    }
    if members is not None:
        extra["members"] = members
    PARALLEL_LOG.info(
        "%s '%s' started (%s)", node.kind.value, st.node_id, node.strategy.value, extra=extra
    )


def parallel_ended(st: StepState) -> None:
    """INFO ``group_ended``: its status and ``duration``; WARNING if it did not succeed."""
    if st.started_at is None or st.finished_at is None:
        return  # skipped (or restored) without starting: there was no group_started
    node = st.node
    duration = _ms(st.finished_at - st.started_at)
    status = st.status.value
    level = INFO if status == "succeeded" else WARNING
    PARALLEL_LOG.log(
        level,
        "%s '%s' %s after %s ms",
        node.kind.value,
        st.node_id,
        status,
        duration,
        extra={
            "event": "group_ended",
            "group": st.node_id,
            "kind": node.kind.value,
            "status": status,
            "duration": duration,
            "winner": st.winner,
        },
    )
