"""Timeouts nest (run ≥ group ≥ step ≥ pool default) and really stop the work.

These run on looptime's fake clock: the event loop jumps to its next timer when idle,
so a 60-second timeout takes no wall time and the order of timers is exact.
"""

from __future__ import annotations

import asyncio
import itertools

import pytest

import plait
from helpers.probe import Probe, group, statuses, step, workflow

pytestmark = pytest.mark.looptime


async def test_step_timeout_cancels_the_work(probe: Probe) -> None:
    wf = workflow(step("slow", sleep=60, timeout="5s"), step("after", dependsOn=["slow"]))
    loop = asyncio.get_running_loop()
    start = loop.time()
    result = await wf.run()
    assert loop.time() - start == pytest.approx(5, abs=0.01)
    assert result.status is plait.RunStatus.FAILED
    assert statuses(result) == {"slow": "timed_out", "after": "skipped"}
    assert result.steps["slow"].error is not None
    assert result.steps["slow"].error["type"] == "TimeoutError"
    assert probe.cancelled == ["slow"]
    assert probe.finished == []
    assert result.stats["tasksTimedOut"] == 1


async def test_pool_default_timeout_applies_when_step_sets_none(probe: Probe) -> None:
    wf = workflow(step("slow", sleep=60), parallelConfig={"timeout": 2000})
    result = await wf.run()
    assert statuses(result) == {"slow": "timed_out"}


async def test_step_timeout_overrides_pool_default(probe: Probe) -> None:
    wf = workflow(step("ok", sleep=3, timeout="10s"), parallelConfig={"timeout": "1s"})
    result = await wf.run()
    assert statuses(result) == {"ok": "succeeded"}


async def test_group_timeout_stops_members(probe: Probe) -> None:
    wf = workflow(
        group("g", ["fast", "slow", "later"], timeout="5s", maxConcurrent=2),
        step("fast", sleep=1),
        step("slow", sleep=60, timeout="30s"),
        step("later", sleep=60),
    )
    loop = asyncio.get_running_loop()
    start = loop.time()
    result = await wf.run()
    # fast ends at 1 s and lets `later` in; the group's 5 s fires before slow's own 30 s.
    assert loop.time() - start == pytest.approx(5, abs=0.01)
    assert statuses(result) == {
        "g": "timed_out",
        "fast": "succeeded",
        "slow": "timed_out",
        "later": "timed_out",
    }
    assert sorted(probe.cancelled) == ["later", "slow"]
    assert result.status is plait.RunStatus.FAILED
    assert "timed out after 5s" in result.steps["g"].error["message"]  # type: ignore[index]


async def test_run_max_duration_times_out_everything(probe: Probe) -> None:
    wf = workflow(
        step("first", sleep=1),
        step("long", sleep=600, dependsOn=["first"]),
        step("never", dependsOn=["long"]),
        maxDuration="10s",
    )
    loop = asyncio.get_running_loop()
    start = loop.time()
    result = await wf.run()
    assert loop.time() - start == pytest.approx(10, abs=0.01)
    assert result.status is plait.RunStatus.TIMED_OUT
    assert statuses(result) == {"first": "succeeded", "long": "timed_out", "never": "skipped"}
    assert result.error is not None
    assert result.error["type"] == "RunTimedOut"
    assert probe.cancelled == ["long"]


async def test_cancel_stops_the_run(probe: Probe) -> None:
    wf = workflow(step("a", wait="never"), step("b", dependsOn=["a"]))
    run = wf.create_run()
    task = asyncio.create_task(run.execute())
    await probe.started("a")
    run.cancel()
    result = await task
    assert result.status is plait.RunStatus.CANCELLED
    assert statuses(result) == {"a": "cancelled", "b": "skipped"}
    assert probe.cancelled == ["a"]


async def test_cancelling_the_caller_cancels_the_run_and_reraises(probe: Probe) -> None:
    wf = workflow(step("a", wait="never"), step("b", wait="never"))
    before = set(asyncio.all_tasks())
    task = asyncio.create_task(wf.run())
    await probe.started("a")
    await probe.started("b")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(probe.cancelled) == ["a", "b"]
    assert set(asyncio.all_tasks()) == before


async def test_retry_backoff_then_success(probe: Probe) -> None:
    attempts: list[float] = []
    loop = asyncio.get_running_loop()

    @plait.tool("flaky_for_retry")
    async def flaky() -> str:
        attempts.append(loop.time())
        if len(attempts) < 3:
            raise ConnectionError("try again")
        return "ok"

    wf = workflow(
        {
            "id": "f",
            "tool": "flaky_for_retry",
            "retry": {"maxAttempts": 4, "backoff": {"initial": "1s", "multiplier": 2}},
        }
    )
    result = await wf.run()
    assert result.steps["f"].status is plait.StepStatus.SUCCEEDED
    assert result.steps["f"].attempts == 3
    assert [e["type"] for e in result.steps["f"].attempt_errors] == ["ConnectionError"] * 2
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(attempts)]
    assert gaps == [1.0, 2.0]


async def test_retry_gives_up_with_last_error_and_honours_retry_on(probe: Probe) -> None:
    wf = workflow(
        {
            "id": "never_retried",
            "tool": "fail",
            "input": {"type": "Fatal"},
            "retry": {"maxAttempts": 5, "retryOn": ["Transient"]},
        },
        {
            "id": "exhausted",
            "tool": "fail",
            "input": {"type": "Transient", "message": "m"},
            "retry": {"maxAttempts": 3, "backoff": {"initial": 10}},
        },
    )
    result = await wf.run()
    assert result.steps["never_retried"].attempts == 1
    assert result.steps["exhausted"].attempts == 3
    exhausted = result.steps["exhausted"].error
    assert exhausted is not None
    assert (exhausted.type, exhausted.message, exhausted.step) == ("Transient", "m", "exhausted")
