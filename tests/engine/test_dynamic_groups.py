"""Dynamic groups (seed 001, Python API): a group's ``steps`` is a callable of the run
context that gives the members' step definitions when the group starts."""

from __future__ import annotations

import asyncio
from typing import Any

import plait
from helpers.probe import Probe, statuses


def fan_out(ctx: Any) -> list[dict[str, Any]]:
    items = ctx.results.get("fetch_items")
    return [
        {"id": f"process_{item['id']}", "tool": "echo", "input": {"doubled": item["n"] * 2}}
        for item in items
    ]


def workflow(steps: Any, **group: Any) -> plait.Workflow:
    return plait.Workflow.from_dict(
        {
            "name": "dynamic",
            "steps": [
                {
                    "id": "fetch_items",
                    "tool": "echo",
                    "input": [{"id": 1, "n": 10}, {"id": 2, "n": 20}, {"id": 3, "n": 30}],
                },
                {
                    "id": "dynamic_parallel",
                    "dependsOn": "fetch_items",
                    "parallelGroup": {"id": "dynamic_processing", "steps": steps, **group},
                },
                {"id": "after", "tool": "echo", "input": "${dynamic_parallel.output}"},
            ],
        }
    )


def test_the_callable_gives_members_from_an_earlier_result() -> None:
    result = plait.run_sync(workflow(fan_out, waitStrategy="allSettled", maxConcurrent=2))
    assert result.status is plait.RunStatus.SUCCEEDED, result.error
    expected = {f"process_{i}": {"doubled": 10 * i * 2} for i in (1, 2, 3)}
    assert result.steps["dynamic_parallel"].output == expected
    assert result.steps["after"].output == expected
    assert result.steps["process_2"].output == {"doubled": 40}
    group = result.groups["dynamic_processing"]
    assert sorted(group.completed_steps) == ["process_1", "process_2", "process_3"]
    assert group.success


async def test_max_concurrent_is_a_window_over_the_dynamic_members(probe: Probe) -> None:
    def members(ctx: Any) -> list[dict[str, Any]]:
        return [
            {"id": f"m{i}", "tool": "probe", "input": {"name": f"m{i}", "wait": f"go{i}"}}
            for i in range(4)
        ]

    task = asyncio.create_task(workflow(members, maxConcurrent=2).run())
    await probe.started("m0")
    await probe.started("m1")
    assert probe.started_names == ["m0", "m1"]  # the window is full
    probe.release("go1")
    await probe.started("m2")  # m1's end frees a place at once
    assert probe.active == 2
    probe.release("go0", "go2", "go3")
    result = await task
    assert result.status is plait.RunStatus.SUCCEEDED
    assert probe.peak == 2


async def test_any_takes_the_first_success_and_cancels_the_rest(probe: Probe) -> None:
    def members(ctx: Any) -> list[dict[str, Any]]:
        return [
            {"id": "slow", "tool": "probe", "input": {"name": "slow", "wait": "never"}},
            {"id": "fast", "tool": "probe", "input": {"name": "fast", "output": "won"}},
        ]

    result = await workflow(members, waitStrategy="any").run()
    assert result.steps["dynamic_parallel"].output == "won"
    assert result.groups["dynamic_processing"].winner == "fast"
    assert statuses(result)["slow"] == "cancelled"
    assert probe.cancelled == ["slow"]


def test_a_failing_member_fails_an_all_group_and_bad_members_fail_it_clearly() -> None:
    def failing(ctx: Any) -> list[dict[str, Any]]:
        return [{"id": "bad", "tool": "fail", "input": {"message": "nope", "type": "Boom"}}]

    result = plait.run_sync(workflow(failing))
    error = result.steps["dynamic_parallel"].error
    assert error is not None
    assert error["type"] == "Boom"
    assert "member 'bad' failed: nope" in error["message"]

    def clashing(ctx: Any) -> list[dict[str, Any]]:
        return [{"id": "after", "tool": "echo"}, {"id": "x", "tool": "no_such_tool"}]

    result = plait.run_sync(workflow(clashing))
    error = result.steps["dynamic_parallel"].error
    assert error is not None
    assert error["type"] == "DynamicGroupError"
    assert "duplicate step id 'after'" in error["message"]
    assert "no_such_tool" in error["message"]

    def not_a_list(ctx: Any) -> str:
        return "process_1"

    result = plait.run_sync(workflow(not_a_list))
    error = result.steps["dynamic_parallel"].error
    assert error is not None
    assert "must return a list of step definitions, not str" in error["message"]


def test_an_empty_dynamic_group_succeeds_for_all_and_fails_for_any() -> None:
    empty = plait.run_sync(workflow(lambda ctx: []))
    assert empty.steps["dynamic_parallel"].output == {}
    failed = plait.run_sync(workflow(lambda ctx: [], waitStrategy="any"))
    assert failed.steps["dynamic_parallel"].status is plait.StepStatus.FAILED


def test_members_can_read_earlier_steps_and_inputs() -> None:
    wf = plait.Workflow.from_dict(
        {
            "name": "reads",
            "inputs": {"k": {"type": "integer", "default": 5}},
            "steps": [
                {"id": "base", "tool": "echo", "input": 100},
                {
                    "id": "g",
                    "dependsOn": "base",
                    "parallelGroup": {
                        "steps": lambda ctx: [
                            {"id": f"add{i}", "tool": "echo", "input": f"${{base.output + {i}}}"}
                            for i in range(ctx.inputs["k"])
                        ]
                    },
                },
            ],
        }
    )
    result = plait.run_sync(wf)
    assert result.steps["g"].output == {f"add{i}": 100 + i for i in range(5)}
