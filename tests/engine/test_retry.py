"""Retries (issue 5), clause by clause: backoff holds no slot, no wait after the last
attempt, every attempt's error kept and the last one reported, and ``deadline``.
On looptime's fake clock: the backoffs take no wall time and their times are exact."""

from __future__ import annotations

import asyncio

import pytest

import plait
from helpers.probe import Probe, step, workflow
from plait.compiler.plan import RetryPolicy
from plait.engine.retry import next_delay
from plait.errors import ToolError


def policy(attempts: int = 5, deadline: float | None = None) -> RetryPolicy:
    return RetryPolicy(attempts, 1.0, 2.0, 60.0, 0.0, frozenset({"Transient"}), deadline)


def test_next_delay() -> None:
    assert next_delay(None, 1, "Transient", 0.0, 0.5) is None
    assert next_delay(policy(), 1, "Transient", 0.0, 0.5) == 1.0
    assert next_delay(policy(), 3, "Transient", 0.0, 0.5) == 4.0
    assert next_delay(policy(), 5, "Transient", 0.0, 0.5) is None  # no attempt left
    assert next_delay(policy(), 1, "Fatal", 0.0, 0.5) is None  # not in retryOn
    # attempt 4 would start at 3 + 4 = 7 s, after the 6 s deadline: give up now
    assert next_delay(policy(deadline=6.0), 3, "Transient", 3.0, 0.5) is None
    assert next_delay(policy(deadline=7.0), 3, "Transient", 3.0, 0.5) == 4.0


@pytest.fixture
def flaky() -> list[float]:
    """A tool failing with ``Transient`` ("try N") until its ``succeed_on`` call."""
    calls: list[float] = []

    @plait.tool("retry_flaky")
    async def retry_flaky(succeed_on: int = 0) -> str:
        calls.append(asyncio.get_running_loop().time())
        if len(calls) != succeed_on:
            raise ToolError(f"try {len(calls)}", type="Transient")
        return "ok"

    return calls


def flaky_step(retry: dict[str, object], succeed_on: int = 0, **keys: object) -> dict[str, object]:
    return {
        "id": "f",
        "tool": "retry_flaky",
        "input": {"succeed_on": succeed_on},
        "retry": {"retryOn": ["Transient"], **retry},
        **keys,
    }


BACKOFF = {"initial": "1s", "multiplier": 2}


@pytest.mark.looptime
async def test_no_wait_after_the_last_attempt_and_the_last_error_is_reported(
    flaky: list[float],
) -> None:
    loop = asyncio.get_running_loop()
    begin = loop.time()
    result = await workflow(flaky_step({"maxAttempts": 3, "backoff": BACKOFF})).run()
    assert [round(t - begin, 3) for t in flaky] == [0.0, 1.0, 3.0]
    assert round(loop.time() - begin, 3) == 3.0  # not 7.0: no backoff after attempt 3
    f = result.steps["f"]
    assert (f.status, f.attempts) == (plait.StepStatus.FAILED, 3)
    assert f.error is not None
    assert (f.error.type, f.error.message, f.error.step) == ("Transient", "try 3", "f")
    assert [e["message"] for e in f.attempt_errors] == ["try 1", "try 2"]


@pytest.mark.looptime
async def test_no_attempt_starts_after_the_deadline(flaky: list[float]) -> None:
    loop = asyncio.get_running_loop()
    begin = loop.time()
    retry = {"maxAttempts": 10, "backoff": BACKOFF, "deadline": "5s"}
    result = await workflow(flaky_step(retry)).run()
    # attempts at 0, 1 and 3 s; the next would start at 7 s, after the deadline
    assert [round(t - begin, 3) for t in flaky] == [0.0, 1.0, 3.0]
    assert round(loop.time() - begin, 3) == 3.0  # gave up at once, without waiting
    assert result.steps["f"].attempts == 3
    assert result.steps["f"].error["message"] == "try 3"  # type: ignore[index]


@pytest.mark.looptime
async def test_the_deadline_counts_the_wait_for_a_slot_after_a_backoff(
    flaky: list[float],
) -> None:
    # One slot. f fails at 0 s and backs off 1 s; meanwhile `hog` takes the slot until
    # 5 s. f gets the slot back at 5 s, past its 2 s deadline: it gives up, no attempt.
    loop = asyncio.get_running_loop()
    begin = loop.time()
    retry = {"maxAttempts": 5, "backoff": BACKOFF, "deadline": "2s"}
    hog = {"id": "hog", "tool": "sleep", "input": {"duration": "5s"}}
    wf = workflow(flaky_step(retry), hog, parallelConfig={"maxConcurrent": 1})
    result = await wf.run()
    assert [round(t - begin, 3) for t in flaky] == [0.0]
    f = result.steps["f"]
    assert (f.attempts, f.attempt_errors) == (1, ())
    assert f.error is not None
    assert (f.error.type, f.error.message, f.error.step) == ("Transient", "try 1", "f")
    assert result.stats["tasksFailed"] == 1  # the one attempt, counted once
    assert result.stats["activeWorkers"] == 0


@pytest.mark.looptime
async def test_a_step_in_its_backoff_holds_no_slot(flaky: list[float], probe: Probe) -> None:
    loop = asyncio.get_running_loop()
    begin = loop.time()
    retry = {"maxAttempts": 2, "backoff": {"initial": "10s"}}
    wf = workflow(
        flaky_step(retry, succeed_on=2), step("other"), parallelConfig={"maxConcurrent": 1}
    )
    run = wf.create_run()
    task = asyncio.create_task(run.execute())
    await probe.ended("other")  # ran in the only slot while f waited out its backoff
    assert round(loop.time() - begin, 3) == 0.0
    assert run.pools["default"].active == 0
    result = await task
    assert result.steps["f"].status is plait.StepStatus.SUCCEEDED
    assert [round(t - begin, 3) for t in flaky] == [0.0, 10.0]
