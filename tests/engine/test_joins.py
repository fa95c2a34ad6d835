"""One decision for every join (issue 12): a static group, a dynamic group, a map and
``WorkerPool.execute_with_strategy`` decide alike.

The decision table runs real workflows (and real pool tasks) on looptime's fake clock:
member ``x`` ends first, at t=1 (a skipped member at t=0), in the ending under test;
member ``y`` ends at t=2, succeeding with ``"ok"`` unless the row says otherwise. Every
kind must give the same group status, winner, output and error type. The endings a
kind cannot express are listed in ``NOT_EXPRESSIBLE``, with why; a test checks that
every (kind, ending) is either run or listed there.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import pytest

import plait
from plait import WorkerPool, WorkerTask
from plait.engine.joins import Join, outcome_of
from plait.engine.strategies import Decision, Outcome
from plait.errors import ToolError
from plait.status import StepStatus

KINDS = ("static", "dynamic", "map", "pool")
ENDINGS = ("success", "failure", "continueOnError", "timeout", "cancelled", "skipped")
STRATEGIES = ("all", "any", "allSettled", "race")

NOT_EXPRESSIBLE = {
    **{
        (kind, "cancelled"): (
            "a member (or branch) is cancelled only by its own join's decision, a timeout "
            "or the run's end; the join has decided or closed by then, so it never counts one"
        )
        for kind in ("static", "dynamic", "map")
    },
    ("pool", "continueOnError"): "a pool task has no continueOnError",
    ("pool", "skipped"): "a pool task has no `when`: it is never skipped",
}


@dataclass(frozen=True)
class Row:
    """``x`` ends as ``ending``, then ``y`` as ``then``; the join is expected to end
    ``status``, with ``winner`` (``x``/``y``/None), ``output`` (the winner's, or the
    successes by member id) and an error of ``error`` type."""

    strategy: str
    ending: str
    status: str
    winner: str | None
    output: Any
    error: str | None
    then: str = "success"


BOTH = {"x": "x", "y": "ok"}
ONLY_Y = {"y": "ok"}

TABLE = [
    # all: succeed when every member ended and none failed; fail at the first failure
    Row("all", "success", "succeeded", None, BOTH, None),
    Row("all", "failure", "failed", None, None, "Boom"),
    Row("all", "continueOnError", "succeeded", None, ONLY_Y, None),
    Row("all", "timeout", "failed", None, None, "TimeoutError"),
    Row("all", "cancelled", "succeeded", None, ONLY_Y, None),
    Row("all", "skipped", "succeeded", None, ONLY_Y, None),
    # any: the first success wins; a failure absorbed by continueOnError is no success
    Row("any", "success", "succeeded", "x", "x", None),
    Row("any", "failure", "succeeded", "y", "ok", None),
    Row("any", "continueOnError", "succeeded", "y", "ok", None),  # divergence A
    Row("any", "timeout", "succeeded", "y", "ok", None),
    Row("any", "cancelled", "succeeded", "y", "ok", None),
    Row("any", "skipped", "succeeded", "y", "ok", None),
    # allSettled: wait for every member, never fail
    Row("allSettled", "success", "succeeded", None, BOTH, None),
    Row("allSettled", "failure", "succeeded", None, ONLY_Y, None),
    Row("allSettled", "continueOnError", "succeeded", None, ONLY_Y, None),
    Row("allSettled", "timeout", "succeeded", None, ONLY_Y, None),
    Row("allSettled", "cancelled", "succeeded", None, ONLY_Y, None),
    Row("allSettled", "skipped", "succeeded", None, ONLY_Y, None),
    # race: the first member to end with a result or a failure decides, won or lost
    Row("race", "success", "succeeded", "x", "x", None),
    Row("race", "failure", "failed", "x", None, "Boom"),
    Row("race", "continueOnError", "failed", "x", None, "Boom"),
    Row("race", "timeout", "failed", "x", None, "TimeoutError"),
    Row("race", "cancelled", "succeeded", "y", "ok", None),
    Row("race", "skipped", "succeeded", "y", "ok", None),
    # every member fails
    Row("all", "failure", "failed", None, None, "Boom", then="failure"),
    Row("any", "failure", "failed", None, None, "GroupFailed", then="failure"),
    Row("allSettled", "failure", "succeeded", None, {}, None, then="failure"),
    Row("race", "failure", "failed", "x", None, "Boom", then="failure"),
]


def cases() -> list[Any]:
    return [
        pytest.param(kind, row, id=f"{kind}-{row.strategy}-{row.ending}-then-{row.then}")
        for row in TABLE
        for kind in KINDS
        if (kind, row.ending) not in NOT_EXPRESSIBLE
    ]


def test_the_table_covers_every_kind_strategy_and_ending() -> None:
    run = {(kind, row.strategy, row.ending) for row in TABLE for kind in KINDS}
    every = {(k, s, e) for k in KINDS for s in STRATEGIES for e in ENDINGS}
    assert run == every
    assert set(NOT_EXPRESSIBLE) <= {(k, e) for k in KINDS for e in ENDINGS}


# -- the members --------------------------------------------------------------------


@plait.tool("join_member")
async def join_member(ending: str, at: float, output: Any = None) -> Any:
    """Ends at ``at`` (fake) seconds as ``ending`` says; a timeout never ends by itself."""
    if ending == "timeout":
        await asyncio.sleep(1000)
    await asyncio.sleep(at)
    if ending in ("failure", "continueOnError"):
        raise ToolError("boom", type="Boom")
    return output


def spec(name: str, ending: str) -> dict[str, Any]:
    at, output = (1, "x") if name == "x" else (2, "ok")
    return {"ending": ending, "at": at, "output": output}


def member(name: str, ending: str) -> dict[str, Any]:
    """A group member (static or dynamic) that ends as ``ending``."""
    found: dict[str, Any] = {"id": name, "tool": "join_member", "input": spec(name, ending)}
    if ending == "timeout":
        found["timeout"] = found["input"]["at"]
    if ending == "continueOnError":
        found["continueOnError"] = True
    if ending == "skipped":
        found["when"] = "false"
    return found


def static_group(row: Row) -> list[dict[str, Any]]:
    group = {"steps": ["x", "y"], "waitStrategy": row.strategy}
    return [
        {"id": "g", "parallelGroup": group},
        member("x", row.ending),
        member("y", row.then),
    ]


def dynamic_group(row: Row) -> list[dict[str, Any]]:
    def members(ctx: Any) -> list[dict[str, Any]]:
        return [member("x", row.ending), member("y", row.then)]

    return [{"id": "g", "parallelGroup": {"steps": members, "waitStrategy": row.strategy}}]


def a_map(row: Row) -> list[dict[str, Any]]:
    """Branch 0 is ``x``, branch 1 ``y``: the body picks its ending from the item. The
    timeout is a step's own, so it is written on a step only the timing-out item runs;
    ``continueOnError`` is the map's (it is what absorbs a branch's failure)."""
    ending = "parallel.item.ending"  # a `when` without ${...} is one expression
    body = [
        {
            "id": "timed",
            "tool": "join_member",
            "input": "${parallel.item}",
            "timeout": 1,
            "when": f"{ending} == 'timeout'",
        },
        {
            "id": "plain",
            "tool": "join_member",
            "input": "${parallel.item}",
            "when": f"{ending} != 'timeout' and {ending} != 'skipped'",
        },
    ]
    parallel = {
        "items": [spec("x", row.ending), spec("y", row.then)],
        "steps": body,
        "waitStrategy": row.strategy,
        "continueOnError": row.ending == "continueOnError",
    }
    return [{"id": "g", "parallel": parallel}]


STEPS = {"static": static_group, "dynamic": dynamic_group, "map": a_map}
WINNERS = {"static": ["x", "y"], "dynamic": ["x", "y"], "map": ["g<0>", "g<1>"]}
NAMES = {"static": "member 'x'", "dynamic": "member 'x'", "map": "branch 0", "pool": "task 0"}


@dataclass(frozen=True)
class Seen:
    status: str
    winner: str | None
    output: Any
    error: str | None
    message: str | None


async def run_workflow(kind: str, row: Row, caplog: pytest.LogCaptureFixture) -> Seen:
    caplog.set_level(logging.INFO, logger="plait.parallel")
    wf = plait.Workflow.from_dict({"name": "joins", "steps": STEPS[kind](row)})
    result = await wf.run()
    step = result.steps["g"]
    ended = [r for r in caplog.records if getattr(r, "event", None) == "group_ended"]
    (record,) = [r for r in ended if r.group == "g"]  # type: ignore[attr-defined]
    winner = record.winner  # type: ignore[attr-defined]
    if winner is not None:
        winner = "xy"[WINNERS[kind].index(winner)]
    output = step.output
    if kind == "map" and isinstance(output, list):
        output = {name: out for name, out in zip("xy", output, strict=True) if out is not None}
    error = step.error or {}
    return Seen(step.status.value, winner, output, error.get("type"), error.get("message"))


def pool_task(name: str, ending: str) -> WorkerTask[Any]:
    at, output = (1, "x") if name == "x" else (2, "ok")

    async def task() -> Any:
        if ending == "timeout":
            await asyncio.sleep(1000)
        await asyncio.sleep(at)
        if ending == "failure":
            raise ToolError("boom", type="Boom")
        if ending == "cancelled":
            current = asyncio.current_task()
            assert current is not None
            current.cancel()
            await asyncio.sleep(0)
        return output

    return WorkerTask(task, timeout=at if ending == "timeout" else None)


async def run_pool(row: Row) -> Seen:
    pool = WorkerPool(max_concurrent=2)
    tasks = [pool_task("x", row.ending), pool_task("y", row.then)]
    outcome = await pool.execute_with_strategy(tasks, row.strategy)
    assert pool.get_status().active_workers == 0  # nothing left running
    output = outcome.output
    if isinstance(output, list):
        output = {name: out for name, out in zip("xy", output, strict=True) if out is not None}
    error = outcome.error
    return Seen(
        "succeeded" if outcome.success else "failed",
        None if outcome.winner is None else "xy"[outcome.winner],
        output,
        None if error is None else error.type,
        None if error is None else error.message,
    )


@pytest.mark.looptime
@pytest.mark.parametrize(("kind", "row"), cases())
async def test_every_join_decides_alike(
    kind: str, row: Row, caplog: pytest.LogCaptureFixture
) -> None:
    seen = await run_pool(row) if kind == "pool" else await run_workflow(kind, row, caplog)
    expected = (row.status, row.winner, row.output, row.error)
    assert (seen.status, seen.winner, seen.output, seen.error) == expected
    if row.error == "GroupFailed":
        assert seen.message is not None
        assert "every" in seen.message
    elif row.error is not None:
        assert seen.message is not None
        assert f"{NAMES[kind]} failed: " in seen.message


# -- the Join itself ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "continue_on_error", "outcome"),
    [
        (StepStatus.SUCCEEDED, False, Outcome.SUCCEEDED),
        (StepStatus.SUCCEEDED, True, Outcome.SUCCEEDED),
        (StepStatus.FAILED, False, Outcome.FAILED),
        (StepStatus.FAILED, True, Outcome.SETTLED),
        (StepStatus.TIMED_OUT, False, Outcome.FAILED),
        (StepStatus.TIMED_OUT, True, Outcome.SETTLED),
        (StepStatus.CANCELLED, False, Outcome.NEUTRAL),
        (StepStatus.SKIPPED, True, Outcome.NEUTRAL),
    ],
)
def test_one_mapping_from_a_member_ending_to_an_outcome(
    status: StepStatus, continue_on_error: bool, outcome: Outcome
) -> None:
    assert outcome_of(status, continue_on_error) is outcome


S, F, C, T, N, K = (
    (StepStatus.SUCCEEDED, False),
    (StepStatus.FAILED, False),
    (StepStatus.FAILED, True),
    (StepStatus.TIMED_OUT, False),
    (StepStatus.CANCELLED, False),
    (StepStatus.SKIPPED, False),
)
WAIT, SUCCEED, FAIL = Decision.WAIT, Decision.SUCCEED, Decision.FAIL


@pytest.mark.parametrize(
    ("strategy", "endings", "decisions", "winner", "output", "error"),
    [
        # endings of members 0, 1, 2 in that order; the decision after each
        ("all", [S, S, S], [WAIT, WAIT, SUCCEED], None, {"a": 0, "b": 1, "c": 2}, None),
        ("all", [S, F], [WAIT, FAIL], None, None, "member 'b' failed: e1"),
        ("all", [C, N, S], [WAIT, WAIT, SUCCEED], None, {"c": 2}, None),
        ("any", [F, T, S], [WAIT, WAIT, SUCCEED], 2, 2, None),
        ("any", [C, K, F], [WAIT, WAIT, FAIL], None, None, "every member failed"),
        ("allSettled", [F, T, S], [WAIT, WAIT, SUCCEED], None, {"c": 2}, None),
        ("allSettled", [K, N, C], [WAIT, WAIT, SUCCEED], None, {}, None),
        ("race", [K, S], [WAIT, SUCCEED], 1, 1, None),
        ("race", [C], [FAIL], 0, None, "member 'a' failed: e0"),
        ("race", [K, N, K], [WAIT, WAIT, FAIL], None, None, "no member ended with a result"),
    ],
)
def test_join_table(
    strategy: str,
    endings: list[tuple[StepStatus, bool]],
    decisions: list[Decision],
    winner: int | None,
    output: Any,
    error: str | None,
) -> None:
    join = Join(strategy, 3, ids=["a", "b", "c"], label="group 'g'", step="g")
    got = []
    for i, (status, coe) in enumerate(endings):
        failure = ToolError(f"e{i}", type="Boom") if status is not StepStatus.SUCCEEDED else None
        got.append(join.ended(i, status, continue_on_error=coe, output=i, error=failure))
    assert got == decisions
    assert join.winner == winner
    if join.error is None:
        assert join.output == output
    else:
        assert error is not None
        assert join.error.message == f"group 'g': {error}"
        assert join.error.type == ("GroupFailed" if "member '" not in error else "Boom")
    assert join.losers(range(3)) == list(range(len(endings), 3))


def test_a_join_of_numbered_members_gives_a_list_and_numbers_them() -> None:
    join = Join("allSettled", 3, label="map 'm'", noun="branch", step="m")
    join.ended(2, StepStatus.SUCCEEDED, output="c")
    join.ended(0, StepStatus.FAILED, error=ValueError("bad"))
    assert join.ended(1, StepStatus.SUCCEEDED, output="b") is SUCCEED
    assert join.output == [None, "b", "c"]
    failing = Join("all", 2, label="map 'm'", noun="branch", step="m")
    assert failing.ended(1, StepStatus.FAILED, error=ValueError("bad")) is FAIL
    assert failing.error is not None
    assert (failing.error.message, failing.error.type) == (
        "map 'm': branch 1 failed: bad",
        "ValueError",
    )
    assert failing.losers([0]) == [0]
    assert failing.reason == "map 'm' failed"


@pytest.mark.parametrize(
    ("strategy", "decision"),
    [("all", SUCCEED), ("allSettled", SUCCEED), ("any", FAIL), ("race", FAIL)],
)
def test_an_empty_join_decides_at_start(strategy: str, decision: Decision) -> None:
    join = Join(strategy, 0)
    assert join.start() is decision
    assert join.winner is None


def test_endings_after_the_decision_are_counted_but_decide_nothing() -> None:
    join = Join("any", 2, ids=["a", "b"])
    assert join.ended(0, StepStatus.SUCCEEDED, output=1) is SUCCEED
    assert join.ended(1, StepStatus.SUCCEEDED, output=2) is WAIT
    assert (join.winner, join.output, join.tally.ended) == (0, 1, 2)


def test_join_misuse_is_refused() -> None:
    join = Join("all", 2, label="group 'g'")
    join.ended(0, StepStatus.SUCCEEDED)
    with pytest.raises(ValueError, match="member 0 of group 'g' ended twice"):
        join.ended(0, StepStatus.SUCCEEDED)
    with pytest.raises(IndexError, match="member 2 of a join of 2 members"):
        join.ended(2, StepStatus.SUCCEEDED)
    with pytest.raises(ValueError, match="a join of 2 members was given 1 ids"):
        Join("all", 2, ids=["a"])
    with pytest.raises(ValueError, match="unknown wait strategy 'first'"):
        Join("first", 2)
