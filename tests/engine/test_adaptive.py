"""Adaptive concurrency (issue 5): ``maxConcurrent: auto`` moves a pool's limit by AIMD.
The controller is plain arithmetic on the latencies it is told. The pool tests run on
looptime's fake clock: a call's latency is what its timers say (0 here), never how busy
the machine is, so no call is "slow" by accident."""

from __future__ import annotations

import asyncio

import pytest

import plait
from helpers.probe import Probe, step, workflow
from plait.compiler.reliability import AdaptiveSpec
from plait.definition.models import AdaptiveDef, PoolDef
from plait.engine.adaptive import AdaptiveLimit
from plait.errors import ValidationError


def controller(lo: int = 1, hi: int = 100, start: int = 8, tolerance: float = 2.0) -> AdaptiveLimit:
    return AdaptiveLimit(AdaptiveSpec(lo, hi, start, tolerance))


def test_maxconcurrent_auto_spellings() -> None:
    assert PoolDef.model_validate({"maxConcurrent": "auto"}).max_concurrent == AdaptiveDef()
    pool = PoolDef.model_validate({"maxConcurrent": {"auto": True, "min": 2, "max": 50}})
    assert pool.max_concurrent == AdaptiveDef(min=2, max=50)
    wf = plait.Workflow.from_dict(
        {
            "name": "a",
            "pools": {"api": {"maxConcurrent": {"auto": True, "min": 2, "max": 5}}},
            "steps": [{"id": "s", "tool": "noop", "pool": "api"}],
        }
    )
    spec = wf.plan.pools["api"]
    assert (spec.max_concurrent, spec.adaptive) == (5, AdaptiveSpec(2, 5, 5, 2.0))
    with pytest.raises(ValidationError, match="'min' \\(9\\) is more than 'max' \\(3\\)"):
        plait.Workflow.from_dict(
            {"name": "a", "pools": {"p": {"maxConcurrent": {"min": 9, "max": 3}}}, "steps": []}
        ).validate()


def test_an_error_halves_the_limit_but_not_below_min() -> None:
    aimd = controller(lo=3, start=8)
    assert aimd.observe(0.01, failed=True, busy=True) == "error"
    assert aimd.limit == 4
    for _ in range(8):  # the calls that were running when it dropped: no second drop
        assert aimd.observe(0.01, failed=True, busy=True) is None
    assert aimd.observe(0.01, failed=True, busy=True) == "error"
    assert aimd.limit == 3  # min


def test_a_slowdown_halves_the_limit() -> None:
    aimd = controller(start=8, tolerance=2.0)
    aimd.observe(0.100, failed=False, busy=False)
    assert aimd.observe(0.190, failed=False, busy=False) is None  # within 2x
    assert aimd.observe(0.500, failed=False, busy=False) == "slow"
    assert aimd.limit == 4


def test_sub_millisecond_jitter_is_not_a_slowdown() -> None:
    aimd = controller(start=8)
    aimd.observe(0.0001, failed=False, busy=True)
    assert aimd.observe(0.0009, failed=False, busy=True) is None
    assert aimd.limit == 8


def test_the_limit_grows_by_one_per_window_of_busy_successes_up_to_max() -> None:
    aimd = controller(hi=10, start=8)
    moves = [aimd.observe(0.01, failed=False, busy=True) for _ in range(8 + 9 + 10)]
    assert moves.count("fast") == 2
    assert moves[7] == "fast"
    assert moves[16] == "fast"
    assert aimd.limit == 10
    assert aimd.statistics().raised == 2


def test_an_idle_pool_does_not_grow() -> None:
    aimd = controller(start=8)
    for _ in range(100):
        aimd.observe(0.01, failed=False, busy=False)
    assert aimd.limit == 8


def test_a_lasting_change_in_latency_becomes_the_usual_one() -> None:
    aimd = controller(start=8)
    for _ in range(10):
        aimd.observe(0.010, failed=False, busy=True)
    for _ in range(60):  # ten times slower from now on: one drop, then it is the norm
        aimd.observe(0.100, failed=False, busy=True)
    assert aimd.statistics().lowered == 1
    assert aimd.latency == pytest.approx(0.100, rel=0.05)
    assert aimd.statistics().raised >= 1


@pytest.mark.looptime
async def test_a_pool_at_auto_grows_while_calls_succeed(probe: Probe) -> None:
    steps = [step(f"s{i}", pool="api") for i in range(40)]
    auto = {"auto": True, "min": 1, "max": 4, "initial": 2}
    wf = workflow(*steps, pools={"api": {"maxConcurrent": auto}})
    run = wf.create_run()
    result = await run.execute()
    assert result.status is plait.RunStatus.SUCCEEDED
    pool = run.pools["api"]
    assert pool.max_concurrent == 4
    assert pool.peak_active <= 4
    assert pool.get_status().adaptive
    adaptive = result.stats["pools"]["api"]["adaptive"]
    assert (adaptive["limit"], adaptive["min"], adaptive["max"], adaptive["raised"]) == (4, 1, 4, 2)
    assert result.stats["pools"]["api"]["maxConcurrent"] == 4


@pytest.mark.looptime
async def test_a_lowered_limit_takes_effect_as_slots_come_back(probe: Probe) -> None:
    auto = {"auto": True, "min": 1, "max": 8, "initial": 4}
    first = [step("bad", pool="api", fail="x")] + [
        step(f"w{i}", pool="api", wait="go") for i in range(3)
    ]
    rest = [step(f"s{i}", pool="api") for i in range(6)]
    wf = workflow(
        *[{**s, "continueOnError": True} for s in first + rest],
        pools={"api": {"maxConcurrent": auto}},
    )
    run = wf.create_run()
    task = asyncio.create_task(run.execute())
    for name in ("w0", "w1", "w2"):
        await probe.started(name)
    await probe.ended("bad")
    for _ in range(5):
        await asyncio.sleep(0)
    pool = run.pools["api"]
    assert pool.max_concurrent == 2  # halved by the failure
    assert (pool.active, pool.queue_length) == (3, 6)  # nobody stopped, nobody started
    probe.peak = 0
    probe.release("go")
    result = await task
    assert result.steps["s5"].status is plait.StepStatus.SUCCEEDED
    assert probe.peak <= 2


@pytest.mark.looptime
async def test_a_worker_pool_can_adapt() -> None:
    pool = plait.WorkerPool(adaptive=AdaptiveSpec(1, 3, 1))

    async def ok() -> int:
        await asyncio.sleep(0)  # the calls overlap: the pool is busy up to its limit
        return 1

    assert await pool.execute_many([ok for _ in range(20)]) == [1] * 20
    assert pool.get_status().max_concurrent == 3
    assert pool.get_stats().adaptive is not None
