"""Circuit breakers (issue 5): per pool (``circuitBreaker``) and per tool
(``circuitBreakers``). The breaker itself runs on a hand-driven clock; the workflows
on looptime's fake event-loop clock, so a 10-second reset takes no wall time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import plait
from plait.compiler.reliability import BreakerSpec
from plait.engine.breaker import BreakerState, CircuitBreaker
from plait.errors import CircuitOpen, ToolError, ValidationError


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def breaker(
    threshold: int = 3, reset: float = 10.0, trials: int = 1
) -> tuple[CircuitBreaker, FakeClock]:
    clock = FakeClock()
    return CircuitBreaker(BreakerSpec(threshold, reset, trials), name="api", clock=clock), clock


def fail_times(b: CircuitBreaker, n: int) -> None:
    for _ in range(n):
        b.failed(b.admit())


def test_opens_after_threshold_failures_in_a_row() -> None:
    b, _ = breaker(threshold=3)
    fail_times(b, 2)
    b.succeeded(b.admit())  # a success in between starts the count again
    fail_times(b, 2)
    assert b.state is BreakerState.CLOSED
    fail_times(b, 1)
    assert b.state is BreakerState.OPEN
    assert b.statistics().opened == 1


def test_open_refuses_at_once_until_the_reset_timeout() -> None:
    b, clock = breaker(threshold=1, reset=10.0)
    fail_times(b, 1)
    clock.now += 9.5
    assert b.rejects()
    with pytest.raises(CircuitOpen, match=r"pool 'api': the circuit is open .* half-opens in 0.5s"):
        b.admit("s1")
    assert b.statistics().rejected == 1
    clock.now += 0.5
    assert not b.rejects()
    ticket = b.admit()
    assert ticket.trial
    assert b.state is BreakerState.HALF_OPEN


def test_half_open_lets_half_open_max_trials_through_and_a_success_closes() -> None:
    b, clock = breaker(threshold=1, reset=10.0, trials=2)
    fail_times(b, 1)
    clock.now += 10
    first, second = b.admit(), b.admit()
    with pytest.raises(CircuitOpen, match="trial"):
        b.admit()
    b.succeeded(second)
    assert b.state is BreakerState.CLOSED
    b.failed(first)  # a trial of the half-open period that ended: no longer counts
    assert b.state is BreakerState.CLOSED
    assert b.statistics().failures == 0


def test_a_failed_trial_opens_again_for_a_full_reset_timeout() -> None:
    b, clock = breaker(threshold=1, reset=10.0)
    fail_times(b, 1)
    clock.now += 10
    b.failed(b.admit())
    assert b.state is BreakerState.OPEN
    clock.now += 9.9
    assert b.rejects()
    assert b.statistics().opened == 2


def test_a_call_let_in_before_the_circuit_opened_does_not_close_it() -> None:
    b, _ = breaker(threshold=1)
    slow = b.admit()
    fail_times(b, 1)
    b.succeeded(slow)
    assert b.state is BreakerState.OPEN


def test_a_cancelled_trial_gives_its_place_back() -> None:
    b, clock = breaker(threshold=1, reset=1.0)
    fail_times(b, 1)
    clock.now += 1
    b.dropped(b.admit())
    assert b.admit().trial  # the one place is free again


# -- in workflows --------------------------------------------------------------------

CALLS: list[str] = []


@plait.tool("breaker_api")
async def breaker_api(name: str, fail: bool = False) -> str:
    CALLS.append(name)
    if fail:
        raise ToolError("the service is down", type="ApiDown")
    return name


@pytest.fixture(autouse=True)
def calls() -> Iterator[list[str]]:
    CALLS.clear()
    yield CALLS
    CALLS.clear()


def chain(*steps: dict[str, Any], **settings: Any) -> plait.Workflow:
    """Steps one after another; each failure absorbed, so the next still runs."""
    listed = []
    for i, s in enumerate(steps):
        entry = {"continueOnError": True, **s}
        if i:
            entry["dependsOn"] = [steps[i - 1]["id"]]
        listed.append(entry)
    return plait.Workflow.from_dict({"name": "breakers", "steps": listed, **settings})


def call(id: str, fail: bool = False, **keys: Any) -> dict[str, Any]:
    return {"id": id, "tool": "breaker_api", "input": {"name": id, "fail": fail}, **keys}


API_POOL = {"api": {"circuitBreaker": {"failureThreshold": 2, "resetTimeout": "10s"}}}


@pytest.mark.looptime
async def test_pool_breaker_fails_steps_at_once_without_calling(calls: list[str]) -> None:
    wf = chain(
        call("f1", True, pool="api"),
        call("f2", True, pool="api"),
        call("ok1", pool="api"),
        call("other"),  # the default pool has no breaker
        pools=API_POOL,
    )
    run = wf.create_run()
    result = await run.execute()
    assert calls == ["f1", "f2", "other"]
    refused = result.steps["ok1"]
    assert refused.status is plait.StepStatus.FAILED
    assert refused.attempts == 1
    assert refused.error is not None
    assert refused.error["type"] == "CircuitOpen"
    assert "pool 'api'" in refused.error["message"]
    stats = result.stats["pools"]["api"]["circuitBreaker"]
    assert stats == {"state": "open", "consecutiveFailures": 2, "timesOpened": 1, "rejected": 1}
    assert run.pools["api"].get_status().circuit_state == "open"
    assert run.pools["api"].get_stats().circuit_breaker is not None
    assert "circuitBreaker" not in result.stats["pools"]["default"]


@pytest.mark.looptime
async def test_after_the_reset_timeout_a_trial_success_closes_the_circuit(
    calls: list[str],
) -> None:
    wait = {"id": "wait", "tool": "sleep", "input": {"duration": "10s"}}
    wf = chain(
        call("f1", True, pool="api"),
        call("f2", True, pool="api"),
        wait,
        call("trial", pool="api"),
        call("after", pool="api"),
        pools=API_POOL,
    )
    result = await wf.run()
    assert result.status is plait.RunStatus.SUCCEEDED
    assert calls == ["f1", "f2", "trial", "after"]
    stats = result.stats["pools"]["api"]["circuitBreaker"]
    assert (stats["state"], stats["timesOpened"]) == ("closed", 1)


@pytest.mark.looptime
async def test_circuit_open_is_a_type_retry_on_can_name(calls: list[str]) -> None:
    retry = {"maxAttempts": 3, "retryOn": ["CircuitOpen"], "backoff": {"initial": "10s"}}
    wf = chain(
        call("f1", True, pool="api"),
        call("f2", True, pool="api"),
        call("patient", pool="api", retry=retry),
        pools=API_POOL,
    )
    result = await wf.run()
    patient = result.steps["patient"]
    assert patient.status is plait.StepStatus.SUCCEEDED
    assert patient.attempts == 2
    assert [e["type"] for e in patient.attempt_errors] == ["CircuitOpen"]
    assert calls == ["f1", "f2", "patient"]


@pytest.mark.looptime
async def test_tool_breaker_spans_pools_and_shows_in_the_run_stats(calls: list[str]) -> None:
    wf = chain(
        call("f1", True),
        call("f2", True, pool="other"),
        call("refused", pool="other"),
        {"id": "echoed", "tool": "echo", "input": 1},  # another tool: not affected
        pools={"other": {"maxConcurrent": 1}},
        circuitBreakers={"breaker_api": {"failureThreshold": 2, "resetTimeout": "1m"}},
    )
    result = await wf.run()
    assert calls == ["f1", "f2"]
    assert result.steps["refused"].error is not None
    assert result.steps["refused"].error["type"] == "CircuitOpen"
    assert "tool 'breaker_api'" in result.steps["refused"].error["message"]
    assert result.steps["echoed"].status is plait.StepStatus.SUCCEEDED
    tools = result.to_document()["stats"]["circuitBreakers"]
    assert tools["breaker_api"]["state"] == "open"


@pytest.mark.looptime
async def test_a_tool_breaker_counts_calls_inside_map_branches(calls: list[str]) -> None:
    body = [{"id": "hit", "tool": "breaker_api", "input": {"name": "x", "fail": True}}]
    wf = plait.Workflow.from_dict(
        {
            "name": "mapped",
            "circuitBreakers": {"breaker_api": {"failureThreshold": 3}},
            "parallelConfig": {"maxConcurrent": 1},
            "steps": [
                {
                    "id": "m",
                    "parallel": {"count": 10, "steps": body, "waitStrategy": "allSettled"},
                }
            ],
        }
    )
    result = await wf.run()
    assert len(calls) == 3
    types = [result.steps[f"hit<{i}>"].error["type"] for i in range(10)]  # type: ignore[index]
    assert types == ["ApiDown"] * 3 + ["CircuitOpen"] * 7


def test_a_breaker_for_an_unknown_tool_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match=r"circuitBreakers.nope.*unknown tool 'nope'"):
        plait.Workflow.from_dict(
            {"name": "x", "circuitBreakers": {"nope": {}}, "steps": [call("a")]}
        ).validate()


async def test_worker_pool_breaker_refuses_without_running_the_task() -> None:
    pool = plait.WorkerPool(2, circuit_breaker=BreakerSpec(failure_threshold=1, reset_timeout=60))
    ran: list[int] = []

    async def boom() -> None:
        ran.append(1)
        raise RuntimeError("down")

    with pytest.raises(RuntimeError):
        await pool.execute(boom)
    with pytest.raises(CircuitOpen):
        await pool.execute(boom)
    assert ran == [1]
    assert pool.get_status().circuit_state == "open"
    assert pool.get_stats().to_dict()["circuitBreaker"]["rejected"] == 1
