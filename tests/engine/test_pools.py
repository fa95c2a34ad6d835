"""Worker pools inside runs: limits hold, slots always come back, queues reject."""

from __future__ import annotations

import asyncio

import pytest

import plait
from helpers.probe import Probe, group, statuses, step, workflow
from plait.engine.run import Run


async def test_global_limit_is_never_exceeded(probe: Probe) -> None:
    steps = [step(f"s{i}", sleep=0.001 * (i % 3)) for i in range(30)]
    wf = workflow(*steps, parallelConfig={"maxConcurrent": 4})
    result = await wf.run()
    assert result.status is plait.RunStatus.SUCCEEDED
    assert probe.peak == 4
    assert result.stats["tasksCompleted"] == 30
    assert result.stats["activeWorkers"] == 0
    assert result.stats["queueLength"] == 0


async def test_named_pool_limits_its_steps(probe: Probe) -> None:
    db_steps = [step(f"db{i}", wait="go", pool="db") for i in range(6)]
    wf = workflow(*db_steps, pools={"db": {"maxConcurrent": 2}})
    run = wf.create_run()
    task = asyncio.create_task(run.execute())
    await probe.started("db0")
    await probe.started("db1")
    for _ in range(5):
        await asyncio.sleep(0)
    assert probe.active == 2
    assert run.pools["db"].queue_length == 4
    probe.release("go")
    result = await task
    assert result.status is plait.RunStatus.SUCCEEDED
    assert probe.peak == 2
    assert result.stats["pools"]["db"]["tasksCompleted"] == 6


async def test_slot_is_freed_on_every_ending(probe: Probe) -> None:
    # One slot: success, failure, timeout and cancellation must each hand it on, or the
    # next step would wait forever.
    wf = workflow(
        step("ok"),
        step("bad", fail="x", dependsOn=["ok"], continueOnError=True),
        step("slow", wait="never", timeout="20ms", dependsOn=["bad"], continueOnError=True),
        group("race", ["quick", "loser"], waitStrategy="race", dependsOn=["slow"]),
        step("quick", sleep=0.001),
        step("loser", wait="never"),
        step("last", dependsOn=["race"]),
        parallelConfig={"maxConcurrent": 1},
    )
    run = wf.create_run()
    result = await run.execute()
    assert statuses(result) == {
        "ok": "succeeded",
        "bad": "failed",
        "slow": "timed_out",
        "race": "succeeded",
        "quick": "succeeded",
        "loser": "cancelled",
        "last": "succeeded",
    }
    assert run.pools["default"].active == 0


async def test_full_queue_rejects_with_pool_full(probe: Probe) -> None:
    steps = [step(f"s{i}", wait="go") for i in range(4)]
    wf = workflow(*steps, parallelConfig={"maxConcurrent": 1, "queueSize": 2})
    task = asyncio.create_task(wf.run())
    await probe.started("s0")
    probe.release("go")
    result = await task
    assert result.status is plait.RunStatus.FAILED
    rejected = [s for s in result.steps.values() if s.error and s.error["type"] == "PoolFull"]
    assert [s.id for s in rejected] == ["s3"]
    assert sorted(probe.finished) == ["s0", "s1", "s2"]


async def test_waiting_group_holds_no_slot(probe: Probe) -> None:
    # With a single slot, a group that held one while waiting for its members would
    # deadlock against them.
    wf = workflow(
        group("outer", ["inner", "c"]),
        group("inner", ["a", "b"]),
        step("a"),
        step("b"),
        step("c"),
        parallelConfig={"maxConcurrent": 1},
    )
    result = await asyncio.wait_for(wf.run(), 10)
    assert result.status is plait.RunStatus.SUCCEEDED
    assert probe.peak == 1


async def test_group_window_and_global_pool_both_bound(probe: Probe) -> None:
    members = [f"m{i}" for i in range(12)]
    wf = workflow(
        group("g", members, maxConcurrent=5),
        *[step(m, sleep=0.001) for m in members],
        parallelConfig={"maxConcurrent": 3},
    )
    result = await wf.run()
    assert result.status is plait.RunStatus.SUCCEEDED
    assert probe.peak == 3


async def test_queued_step_cancelled_with_its_group_never_runs(probe: Probe) -> None:
    wf = workflow(
        group("g", ["winner", "w1", "w2"], waitStrategy="any"),
        step("winner", wait="go"),
        step("w1", wait="never"),
        step("w2", wait="never"),
        parallelConfig={"maxConcurrent": 2},
    )
    run = wf.create_run()
    task = asyncio.create_task(run.execute())
    await probe.started("winner")
    await probe.started("w1")
    assert run.pools["default"].queue_length == 1  # w2 waits for a slot
    probe.release("go")
    result = await task
    assert "w2" not in probe.started_names
    assert statuses(result)["w2"] == "cancelled"
    assert run.pools["default"].active == 0


async def test_pool_stats_count_waits(probe: Probe) -> None:
    wf = workflow(
        *[step(f"s{i}", sleep=0.002) for i in range(4)], parallelConfig={"maxConcurrent": 1}
    )
    run = wf.create_run()
    await run.execute()
    stats = run.pools["default"].get_stats()
    assert stats.tasks_completed == 4
    assert stats.total_wait_time > 0
    assert stats.average_wait_time == pytest.approx(stats.total_wait_time / 4)
    assert isinstance(run, Run)


async def test_a_step_cancelled_while_queued_frees_its_queue_place(probe: Probe) -> None:
    wf = workflow(
        step("long", wait="go"),
        step("quick", pool="fast"),
        step("queued_member"),  # queued in the default pool behind `long`
        group("g", ["quick", "queued_member"], waitStrategy="race"),
        step("after", dependsOn=["g"]),  # must find the queue place the loser left
        parallelConfig={"maxConcurrent": 1, "queueSize": 1},
        pools={"fast": {"maxConcurrent": 5}},
    )
    task = asyncio.create_task(wf.run())
    await probe.ended("quick")
    await probe.started("long")
    for _ in range(10):
        await asyncio.sleep(0)
    probe.release("go")
    result = await task
    assert statuses(result)["queued_member"] == "cancelled"
    assert statuses(result)["after"] == "succeeded"
