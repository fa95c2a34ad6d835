"""Groups and their wait strategies, exactly as SPEC §1's table."""

from __future__ import annotations

import asyncio

import pytest

import plait
from helpers.probe import Probe, group, statuses, step, workflow


async def test_all_succeeds_with_mapping_of_member_outputs(probe: Probe) -> None:
    wf = workflow(
        group("g", ["a", "b"]),
        step("a", output={"x": 1}),
        step("b", output=[2]),
        {"id": "join", "tool": "echo", "input": "${g.output}", "dependsOn": ["g"]},
    )
    result = await wf.run()
    assert result.status is plait.RunStatus.SUCCEEDED
    assert result.steps["join"].output == {"a": {"x": 1}, "b": [2]}
    record = result.groups["g"]
    assert record.completed_steps == ["a", "b"]
    assert record.success is True
    assert record.winner is None
    assert record.results == {"a": {"x": 1}, "b": [2]}


async def test_all_fails_at_first_failure_and_cancels_the_rest(probe: Probe) -> None:
    wf = workflow(
        group("g", ["ok", "bad", "slow"]),
        step("ok"),
        step("bad", wait="fail-now", fail="boom"),
        step("slow", wait="never"),
        step("after", dependsOn=["g"]),
    )
    task = asyncio.create_task(wf.run())
    await probe.started("slow")
    probe.release("fail-now")
    result = await task
    assert result.status is plait.RunStatus.FAILED
    assert statuses(result) == {
        "g": "failed",
        "ok": "succeeded",
        "bad": "failed",
        "slow": "cancelled",
        "after": "skipped",
    }
    assert probe.cancelled == ["slow"]
    assert "slow" not in probe.finished  # its side effect after the cancel point never ran
    record = result.groups["g"]
    assert (record.completed_steps, record.failed_steps, record.skipped_steps) == (
        ["ok"],
        ["bad"],
        ["slow"],
    )
    assert record.errors["bad"]["message"] == "boom"
    assert result.error is not None
    assert result.error["step"] == "g"


async def test_any_takes_first_success_and_cancels_losers(probe: Probe) -> None:
    wf = workflow(
        group("g", ["p1", "p2", "p3"], waitStrategy="any"),
        step("p1", fail="down"),
        step("p2", wait="p2-go", output="from p2"),
        step("p3", wait="never"),
        {"id": "use", "tool": "echo", "input": "${g.output}", "dependsOn": ["g"]},
    )
    task = asyncio.create_task(wf.run())
    await probe.ended("p1")
    await probe.started("p3")
    probe.release("p2-go")
    result = await task
    assert result.status is plait.RunStatus.SUCCEEDED
    assert result.steps["use"].output == "from p2"
    assert result.groups["g"].winner == "p2"
    assert statuses(result)["p3"] == "cancelled"
    assert result.groups["g"].skipped_steps == ["p3"]
    assert "p3" not in probe.finished


async def test_any_fails_when_every_member_failed(probe: Probe) -> None:
    wf = workflow(
        group("g", ["a", "b"], waitStrategy="any"), step("a", fail="x"), step("b", fail="y")
    )
    result = await wf.run()
    assert result.status is plait.RunStatus.FAILED
    assert result.steps["g"].error is not None
    assert result.steps["g"].error["type"] == "GroupFailed"
    assert result.groups["g"].failed_steps == ["a", "b"]


async def test_all_settled_waits_for_everyone_and_never_fails(probe: Probe) -> None:
    wf = workflow(
        group("g", ["a", "b", "c"], waitStrategy="allSettled"),
        step("a"),
        step("b", fail="meh"),
        step("c", wait="c-go"),
    )
    task = asyncio.create_task(wf.run())
    await probe.ended("b")
    await probe.started("c")
    assert not task.done()
    probe.release("c-go")
    result = await task
    assert result.status is plait.RunStatus.SUCCEEDED
    assert result.steps["g"].output == {"a": "a", "c": "c"}
    assert result.groups["g"].failed_steps == ["b"]
    assert result.groups["g"].success is True


@pytest.mark.parametrize(("first_fails", "expected"), [(False, "succeeded"), (True, "failed")])
async def test_race_first_to_end_decides(probe: Probe, first_fails: bool, expected: str) -> None:
    first = step("first", fail="lost") if first_fails else step("first", output="won")
    wf = workflow(
        group("g", ["first", "second"], waitStrategy="race"), first, step("second", wait="never")
    )
    result = await wf.run()
    assert result.steps["g"].status.value == expected
    assert result.groups["g"].winner == "first"
    assert result.steps["second"].status is plait.StepStatus.CANCELLED
    assert "second" not in probe.finished


async def test_group_continue_on_error_does_not_fail_the_run(probe: Probe) -> None:
    wf = workflow(
        group("g", ["a"], continueOnError=True),
        step("a", fail="x"),
        step("after", dependsOn=["g"]),
    )
    result = await wf.run()
    assert result.status is plait.RunStatus.SUCCEEDED
    assert statuses(result) == {"g": "failed", "a": "failed", "after": "succeeded"}


@pytest.mark.parametrize("strategy", ["all", "allSettled"])
async def test_empty_group_succeeds_at_once(strategy: str) -> None:
    wf = plait.Workflow.from_dict(
        {
            "name": "e",
            "steps": [
                {"id": "g", "parallelGroup": {"steps": [], "waitStrategy": strategy}},
                {"id": "after", "tool": "echo", "input": "${g.output}", "dependsOn": ["g"]},
            ],
        }
    )
    result = await wf.run()
    assert result.status is plait.RunStatus.SUCCEEDED
    assert result.steps["after"].output == {}


async def test_sliding_window_follows_seed_001_timeline(probe: Probe) -> None:
    # t0: start A, B · t1: A ends → start C · t2: B ends → start D
    wf = workflow(
        group("g", ["A", "B", "C", "D"], maxConcurrent=2),
        step("A", wait="A"),
        step("B", wait="B"),
        step("C", wait="C"),
        step("D", wait="D"),
    )
    task = asyncio.create_task(wf.run())
    await probe.started("A")
    await probe.started("B")
    assert probe.started_names == ["A", "B"]
    probe.release("A")
    await probe.started("C")  # C starts the moment A ends, while B still runs
    assert probe.started_names == ["A", "B", "C"]
    assert "B" not in probe.finished
    probe.release("B")
    await probe.started("D")
    probe.release("C", "D")
    result = await task
    assert result.status is plait.RunStatus.SUCCEEDED
    assert probe.peak == 2


async def test_nested_groups(probe: Probe) -> None:
    wf = workflow(
        group("outer", ["inner", "c"]),
        group("inner", ["a", "b"], waitStrategy="any"),
        step("a", output="A"),
        step("b", wait="never"),
        step("c", output="C"),
    )
    result = await wf.run()
    assert result.status is plait.RunStatus.SUCCEEDED
    assert result.steps["outer"].output == {"inner": "A", "c": "C"}
    assert result.steps["b"].status is plait.StepStatus.CANCELLED


async def test_cancelling_a_group_cancels_its_nested_members(probe: Probe) -> None:
    wf = workflow(
        group("outer", ["inner", "bad"]),
        group("inner", ["deep"]),
        step("deep", wait="never"),
        step("bad", wait="bad-go", fail="x"),
    )
    task = asyncio.create_task(wf.run())
    await probe.started("deep")
    probe.release("bad-go")
    result = await task
    assert statuses(result) == {
        "outer": "failed",
        "inner": "cancelled",
        "deep": "cancelled",
        "bad": "failed",
    }
    assert probe.cancelled == ["deep"]


async def test_group_id_and_step_id_both_name_the_group(probe: Probe) -> None:
    wf = workflow(
        {"id": "step_id", "parallelGroup": {"id": "group_id", "steps": ["a"]}},
        step("a"),
        step("after", dependsOn=["group_id"]),
    )
    result = await wf.run()
    assert result.status is plait.RunStatus.SUCCEEDED
    assert result.groups["group_id"].step_id == "step_id"
    assert result.to_document()["groups"]["group_id"]["groupId"] == "group_id"


async def test_seed_002_parallel_block_aggregates_and_runs_next_step() -> None:
    wf = plait.Workflow.from_dict(
        {
            "name": "s2",
            "steps": [
                {
                    "id": "parallel-block-1",
                    "type": "parallel",
                    "parallel_steps": ["step-a", "step-b", "step-c"],
                    "max_parallelism": 2,
                    "next_step": "final-step",
                },
                {"id": "step-a", "tool": "echo", "input": {"result": "A"}},
                {"id": "step-b", "tool": "echo", "input": {"result": "B"}},
                {"id": "step-c", "tool": "echo", "input": {"result": "C"}},
                {
                    "id": "final-step",
                    "tool": "echo",
                    "input": "${step-a.output.result}${step-b.output.result}"
                    "${step-c.output.result}",
                },
            ],
        }
    )
    result = await wf.run()
    assert result.steps["parallel-block-1"].output == {
        "step-a": {"result": "A"},
        "step-b": {"result": "B"},
        "step-c": {"result": "C"},
    }
    assert result.steps["final-step"].output == "ABC"
    assert result.steps["final-step"].started_at >= result.steps["parallel-block-1"].finished_at


async def test_member_depending_on_outside_step_waits_for_it(probe: Probe) -> None:
    wf = workflow(step("pre", wait="pre-go"), group("g", ["m"]), step("m", dependsOn=["pre"]))
    task = asyncio.create_task(wf.run())
    await probe.started("pre")
    for _ in range(5):
        await asyncio.sleep(0)
    assert "m" not in probe.started_names
    probe.release("pre-go")
    result = await task
    assert result.status is plait.RunStatus.SUCCEEDED


async def test_group_output_reshapes_what_it_records(probe: Probe) -> None:
    wf = workflow(
        {"id": "g", "parallelGroup": {"steps": ["a", "b"]}, "output": "${result.a}"},
        step("a", output={"n": 1}),
        step("b"),
        {"id": "after", "tool": "echo", "input": "${g.output}", "dependsOn": ["g"]},
    )
    result = await wf.run()
    assert result.steps["g"].output == {"n": 1}
    assert result.steps["after"].output == {"n": 1}


async def test_failed_any_group_names_no_winner(probe: Probe) -> None:
    wf = workflow(
        group("g", ["a", "b"], waitStrategy="any"), step("a", fail="x"), step("b", fail="y")
    )
    result = await wf.run()
    assert result.groups["g"].winner is None


async def test_a_reference_in_output_waits_for_that_step(probe: Probe) -> None:
    wf = workflow(
        step("slow", wait="go", output="late"),
        {"id": "fast", "tool": "echo", "input": 1, "output": "${slow.output}"},
    )
    task = asyncio.create_task(wf.run())
    await probe.started("slow")
    probe.release("go")
    result = await task
    assert result.steps["fast"].output == "late"


async def test_expression_errors_at_run_time_name_the_problem_plainly() -> None:
    wf = plait.Workflow.from_dict(
        {
            "name": "e",
            "steps": [
                {"id": "a", "tool": "echo", "input": {"x": 1}},
                {"id": "b", "tool": "echo", "input": "${a.output.y}"},
            ],
        }
    )
    result = await wf.run()
    error = result.steps["b"].error
    assert error is not None
    assert error["type"] == "ExpressionError"
    assert error["message"] == "no key 'y' in ${a.output.y}"
