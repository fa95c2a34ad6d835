"""Rate limits (issue 5): a token bucket per pool, separate from its concurrency.
The bucket runs on a hand-driven clock; workflows on looptime's fake loop clock."""

from __future__ import annotations

import asyncio

import pytest

import plait
from helpers.probe import Probe, step, workflow
from plait.definition import parse_duration
from plait.definition.models import PoolDef
from plait.definition.rates import parse_rate
from plait.engine.ratelimit import TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("written", "per_second"),
    [("10/s", 10.0), ("30/m", 0.5), ("7200/h", 2.0), (" 2.5 / s ", 2.5), (4, 4.0), (0.5, 0.5)],
)
def test_rates_are_parsed_to_calls_per_second(written: object, per_second: float) -> None:
    assert parse_rate(written) == pytest.approx(per_second)


@pytest.mark.parametrize("written", ["10", "10/d", "/s", "ten/s", 0, -1, True, None, "0/s"])
def test_bad_rates_are_refused(written: object) -> None:
    with pytest.raises(ValueError, match="rate"):
        parse_rate(written)


def test_burst_needs_a_rate() -> None:
    with pytest.raises(ValueError, match="'burst' goes with 'rate'"):
        PoolDef.model_validate({"burst": 3})
    assert PoolDef.model_validate({"rate": "10/s", "burst": 3}).burst == 3


def test_bucket_starts_full_then_gains_rate_tokens_a_second() -> None:
    clock = FakeClock()
    bucket = TokenBucket(2.0, burst=3, clock=clock)
    assert [bucket.try_take() for _ in range(4)] == [True, True, True, False]
    assert bucket.delay() == pytest.approx(0.5)
    clock.now = 0.49
    assert not bucket.try_take()
    clock.now = 0.5
    assert bucket.try_take()
    clock.now = 100.0  # a long idle time refills only up to burst
    assert bucket.tokens == 3


def test_timer_rounding_never_misses_a_token() -> None:
    clock = FakeClock()
    bucket = TokenBucket(3.0, clock=clock)
    for _ in range(1000):
        assert bucket.try_take()
        clock.now += bucket.delay()  # exactly when the next token is due, float error and all


@pytest.mark.looptime
async def test_a_rate_limited_pool_spaces_its_starts() -> None:
    loop = asyncio.get_running_loop()
    starts: dict[str, float] = {}

    @plait.tool("stamp_start")
    async def stamp_start(name: str) -> None:
        starts[name] = loop.time()

    steps = [{"id": f"s{i}", "tool": "stamp_start", "input": {"name": f"s{i}"}} for i in range(5)]
    wf = workflow(*[{**s, "pool": "api"} for s in steps], pools={"api": {"rate": "2/s"}})
    begin = loop.time()
    result = await wf.run()
    assert result.status is plait.RunStatus.SUCCEEDED
    offsets = sorted(round(t - begin, 3) for t in starts.values())
    assert offsets == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert result.stats["pools"]["api"]["rateLimit"]["rate"] == 2.0
    assert result.stats["pools"]["api"]["rateLimit"]["rateLimited"] == 4


@pytest.mark.looptime
async def test_burst_lets_that_many_start_together() -> None:
    loop = asyncio.get_running_loop()
    starts: list[float] = []

    @plait.tool("stamp_burst")
    async def stamp_burst() -> None:
        starts.append(loop.time())

    steps = [{"id": f"s{i}", "tool": "stamp_burst", "pool": "api"} for i in range(5)]
    wf = workflow(*steps, pools={"api": {"rate": "1/s", "burst": 3}})
    begin = loop.time()
    await wf.run()
    assert [round(t - begin, 3) for t in starts] == [0.0, 0.0, 0.0, 1.0, 2.0]


@pytest.mark.looptime
async def test_waiting_for_a_token_holds_no_slot_and_no_task(probe: Probe) -> None:
    # One slot and one token a minute: the second step waits a minute for its token.
    # Meanwhile the slot is free: a step of the same pool cannot take it either (no
    # token), but nothing waiting costs a task, and the first step's end is not held up.
    steps = [step(f"s{i}", pool="api") for i in range(50)]
    wf = workflow(*steps, pools={"api": {"maxConcurrent": 1, "rate": "60/m"}})
    run = wf.create_run()
    before = len(asyncio.all_tasks())
    task = asyncio.create_task(run.execute())
    await probe.ended("s0")
    for _ in range(5):
        await asyncio.sleep(0)
    pool = run.pools["api"]
    assert pool.active == 0  # the slot came back: waiting for a token holds none
    assert pool.queue_length == 49
    assert len(asyncio.all_tasks()) - before <= 2  # the run, and nothing per waiting step
    await asyncio.sleep(parse_duration("1s") + 0.001)
    assert probe.finished[:2] == ["s0", "s1"]
    result = await task
    assert result.status is plait.RunStatus.SUCCEEDED


@pytest.mark.looptime  # no token comes back while the machine is merely slow
async def test_worker_pool_rate_applies_to_execute() -> None:
    loop = asyncio.get_running_loop()
    pool = plait.WorkerPool(10, rate=1000.0, burst=2)
    stamps: list[float] = []

    async def stamp() -> None:
        stamps.append(loop.time())

    await pool.execute_many([stamp for _ in range(4)])
    assert len(stamps) == 4
    assert pool.get_status().rate == 1000.0
    assert pool.get_stats().rate_limit is not None
    assert pool.get_stats().rate_limit.waited == 2  # type: ignore[union-attr]
