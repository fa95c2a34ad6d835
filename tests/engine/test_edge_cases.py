"""Edge cases found in review: each once hung a run or recorded something false."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest

import plait
from helpers.probe import Probe, group, statuses, step, workflow
from plait.store.memory import MemoryStore
from plait.store.records import Write


async def test_a_tool_raising_cancelled_error_itself_fails_its_step() -> None:
    async def cancels_itself() -> None:
        inner = asyncio.create_task(asyncio.sleep(10))
        asyncio.get_running_loop().call_later(0.01, inner.cancel)
        await inner

    result = await asyncio.wait_for(plait.Workflow("c").task("c", tool=cancels_itself).run(), 10)
    assert result.status is plait.RunStatus.FAILED
    error = result.steps["c"].error
    assert error is not None
    assert error["type"] == "CancelledError"


def test_a_tool_calling_sys_exit_fails_its_step_not_the_engine() -> None:
    def exits() -> None:
        sys.exit(3)

    result = plait.run_sync(plait.Workflow("x").task("x", tool=exits))
    error = result.steps["x"].error
    assert error is not None
    assert (error.type, error.message, error.step) == ("SystemExit", "3", "x")


async def test_cancelling_a_run_does_not_make_its_groups_succeed(probe: Probe) -> None:
    wf = workflow(
        step("a", wait="never"),
        step("b", wait="never"),
        group("g", ["a", "b"]),
        step("d", dependsOn=["g"]),
    )
    run = wf.create_run()
    task = asyncio.create_task(run.execute())
    await probe.started("a")
    await probe.started("b")
    run.cancel()
    result = await task
    assert statuses(result) == {
        "a": "cancelled",
        "b": "cancelled",
        "g": "cancelled",
        "d": "skipped",
    }
    assert result.groups["g"].success is False
    assert "d" not in probe.started_names


async def test_a_deeply_nested_output_fails_cleanly_with_a_store() -> None:
    def deep() -> list[Any]:
        value: list[Any] = []
        for _ in range(100_000):
            value = [value]
        return value

    run = plait.Workflow("deep").task("deep", tool=deep).run(store=MemoryStore())
    result = await asyncio.wait_for(run, 20)
    error = result.steps["deep"].error
    assert error is not None
    assert error["type"] == "OutputNotSerializable"


class SlowCommits(MemoryStore):
    """Commits of successes take a while: long enough to cancel the caller meanwhile."""

    def __init__(self) -> None:
        super().__init__()
        self.committing = threading.Event()

    def write(self, batch: Sequence[Write], fence: tuple[str, str] | None = None) -> None:
        if any(getattr(w, "status", None) == "succeeded" for w in batch):
            self.committing.set()
            time.sleep(0.3)
        super().write(batch, fence)


async def test_cancelling_the_caller_while_a_commit_is_pending_records_cancelled() -> None:
    store = SlowCommits()
    wf = plait.Workflow("pending").task("a", tool="noop").task("b", tool="noop", depends_on=["a"])
    run = wf.create_run(store=store)
    task = asyncio.create_task(run.execute())
    assert await asyncio.to_thread(store.committing.wait, 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    record = store.get_run(run.run_id)
    assert record.status == "cancelled"
    assert record.lease_owner is None


class GatedFailures(MemoryStore):
    """Holds the commit of a failed step until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.holding = threading.Event()

    def write(self, batch: Sequence[Write], fence: tuple[str, str] | None = None) -> None:
        if any(getattr(w, "status", None) == "failed" for w in batch):
            self.holding.set()
            self.gate.wait(10)
        super().write(batch, fence)


async def test_a_failure_dependents_consume_is_on_disk_before_they_start() -> None:
    started: list[str] = []

    async def after(previous: Any) -> str:
        started.append("after")
        return "ran"

    store = GatedFailures()
    wf = (
        plait.Workflow("f")
        .task("bad", tool="fail", continue_on_error=True)
        .task("after", tool=after, input={"previous": "${bad.error}"})
    )
    task = asyncio.create_task(wf.run(store=store))
    assert await asyncio.to_thread(store.holding.wait, 10)
    for _ in range(20):
        await asyncio.sleep(0)
    assert started == []
    store.gate.set()
    result = await task
    assert result.steps["after"].output == "ran"
