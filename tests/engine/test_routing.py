"""Routing and dead-path elimination (SPEC §2): `when`, `switch`, `onError`.

A step whose every incoming edge is dead is skipped with its reason; a join waits only
for live branches; a merge after a switch runs once; skips go through groups.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import plait
from helpers.probe import Probe, group, statuses, step, workflow


def inputs(**types: str) -> dict[str, Any]:
    return {"inputs": {name: {"type": kind} for name, kind in types.items()}}


async def test_a_false_when_skips_the_step_and_what_only_it_feeds(probe: Probe) -> None:
    wf = workflow(
        step("gate", when="${inputs.go}"),
        step("after_gate", dependsOn=["gate"]),
        step("other"),
        step("join", dependsOn=["after_gate", "other"]),
        **inputs(go="boolean"),
    )
    result = await wf.run(inputs={"go": False})
    assert result.status is plait.RunStatus.SUCCEEDED
    assert statuses(result) == {
        "gate": "skipped",
        "after_gate": "skipped",
        "other": "succeeded",
        "join": "succeeded",  # one live branch is enough
    }
    assert result.steps["gate"].reason == "its 'when' condition is false"
    assert result.steps["after_gate"].reason == "dependency 'gate' skipped"
    assert sorted(probe.finished) == ["join", "other"]


async def test_a_true_when_runs_the_step(probe: Probe) -> None:
    wf = workflow(step("gate", when="${inputs.go}"), **inputs(go="boolean"))
    result = await wf.run(inputs={"go": True})
    assert statuses(result) == {"gate": "succeeded"}


async def test_when_reads_the_output_of_a_step_and_waits_for_it(probe: Probe) -> None:
    wf = workflow(
        step("check", output={"ok": False}),
        step("act", when="${check.output.ok}"),
    )
    result = await wf.run()
    assert statuses(result) == {"check": "succeeded", "act": "skipped"}
    assert probe.order() == ["start:check", "end:check"]


async def test_a_when_that_cannot_be_evaluated_fails_the_step(probe: Probe) -> None:
    wf = workflow(step("check", output={}), step("act", when="${check.output.missing}"))
    result = await wf.run()
    assert result.status is plait.RunStatus.FAILED
    error = result.steps["act"].error
    assert error is not None
    assert error["type"] == "ExpressionError"
    assert "when:" in error["message"]
    assert "missing" in error["message"]


def switch_workflow(*extra: dict[str, Any]) -> plait.Workflow:
    return workflow(
        step("classify", output={"size": "${inputs.size}"}),
        {
            "id": "route",
            "switch": [
                {"when": "${inputs.small}", "next": "small"},
                {"when": "${inputs.large}", "next": "large"},
                {"default": "medium"},
            ],
            "dependsOn": ["classify"],
        },
        step("small"),
        step("medium"),
        step("large"),
        step("merge", dependsOn=["small", "medium", "large"]),
        *extra,
        inputs={
            "size": {"type": "string", "default": "?"},
            "small": {"type": "boolean", "default": False},
            "large": {"type": "boolean", "default": False},
        },
    )


async def test_switch_takes_the_first_matching_case_and_skips_the_others(probe: Probe) -> None:
    result = await switch_workflow().run(inputs={"small": True, "large": True})
    assert result.status is plait.RunStatus.SUCCEEDED
    assert statuses(result) == {
        "classify": "succeeded",
        "route": "succeeded",
        "small": "succeeded",
        "medium": "skipped",
        "large": "skipped",
        "merge": "succeeded",
    }
    assert result.steps["route"].output == "small"
    assert result.steps["large"].reason == "switch 'route' did not choose this route"
    assert probe.finished.count("merge") == 1  # the merge after a switch runs once


async def test_switch_falls_back_to_its_default(probe: Probe) -> None:
    result = await switch_workflow().run()
    assert [s for s, v in statuses(result).items() if v == "succeeded"] == [
        "classify",
        "route",
        "medium",
        "merge",
    ]
    assert result.steps["route"].output == "medium"


async def test_a_switch_with_no_matching_case_and_no_default_routes_nowhere(
    probe: Probe,
) -> None:
    wf = workflow(
        {"id": "route", "switch": [{"when": "${inputs.flag}", "next": "a"}]},
        step("a"),
        step("b", dependsOn=["a"]),
        step("free"),
        **inputs(flag="boolean"),
    )
    result = await wf.run(inputs={"flag": False})
    assert result.status is plait.RunStatus.SUCCEEDED
    assert statuses(result) == {
        "route": "succeeded",
        "a": "skipped",
        "b": "skipped",
        "free": "succeeded",
    }
    assert result.steps["route"].output is None


async def test_a_skipped_switch_skips_every_route(probe: Probe) -> None:
    wf = workflow(
        step("gate", when="${inputs.flag}"),
        {"id": "route", "switch": [{"default": "a"}], "dependsOn": ["gate"]},
        step("a"),
        **inputs(flag="boolean"),
    )
    result = await wf.run(inputs={"flag": False})
    assert statuses(result) == {"gate": "skipped", "route": "skipped", "a": "skipped"}


async def test_a_bare_expression_is_a_condition(probe: Probe) -> None:
    wf = workflow(
        {"id": "route", "switch": [{"when": "inputs.flag", "next": "a"}, {"default": "b"}]},
        step("a"),
        step("b"),
        step("c", when="inputs.flag"),
        **inputs(flag="boolean"),
    )
    result = await wf.run(inputs={"flag": True})
    assert statuses(result) == {
        "route": "succeeded",
        "a": "succeeded",
        "b": "skipped",
        "c": "succeeded",
    }


async def test_on_error_routes_a_failure_to_its_handler(probe: Probe) -> None:
    wf = workflow(
        {**step("fetch", fail="connection refused"), "onError": "fallback"},
        step("use", dependsOn=["fetch"]),
        {
            "id": "fallback",
            "tool": "echo",
            "input": {
                "type": "${error.type}",
                "message": "${error.message}",
                "step": "${error.step}",
            },
        },
        step("report", dependsOn=["use", "fallback"]),
    )
    result = await wf.run()
    assert result.status is plait.RunStatus.SUCCEEDED  # the route absorbed the failure
    assert statuses(result) == {
        "fetch": "failed",
        "use": "skipped",
        "fallback": "succeeded",
        "report": "succeeded",
    }
    handled = result.steps["fallback"].output
    assert handled["step"] == "fetch"
    assert handled["message"] == "connection refused"
    assert handled["type"]
    assert result.steps["use"].reason == "'fetch' failed and its onError route was taken instead"


async def test_on_error_handler_is_skipped_when_the_step_succeeds(probe: Probe) -> None:
    wf = workflow(
        {**step("fetch"), "onError": "fallback"},
        step("use", dependsOn=["fetch"]),
        step("fallback"),
        step("report", dependsOn=["use", "fallback"]),
    )
    result = await wf.run()
    assert result.status is plait.RunStatus.SUCCEEDED
    assert statuses(result) == {
        "fetch": "succeeded",
        "use": "succeeded",
        "fallback": "skipped",
        "report": "succeeded",
    }
    assert (
        result.steps["fallback"].reason == "'fetch' did not fail (this step is its onError route)"
    )


CONTROL_EDGES_YAML = """
name: control-edges
steps:
  - {id: classify, tool: echo, input: {size: small}}
  - id: route
    dependsOn: [classify]
    switch:
      - {when: "${classify.output.size == 'large'}", next: large}
      - {default: small}
  - {id: large, tool: echo, input: "large got ${classify.output.size}"}
  - {id: small, tool: echo, input: "small got ${classify.output.size}"}
"""


async def test_a_switch_route_not_taken_does_not_run_though_it_reads_upstream_data(
    tmp_path: Any,
) -> None:
    path = tmp_path / "route.yaml"
    path.write_text(CONTROL_EDGES_YAML)
    result = await plait.load(path).run()
    assert result.status is plait.RunStatus.SUCCEEDED
    assert result.steps["route"].output == "small"
    assert result.steps["small"].output == "small got small"
    assert result.steps["large"].status is plait.StepStatus.SKIPPED
    assert result.steps["large"].reason == "switch 'route' did not choose this route"


async def test_an_on_error_handler_that_reads_upstream_data_does_not_run_on_success(
    probe: Probe,
) -> None:
    wf = workflow(
        step("load", output={"rows": 3}),
        {**step("fetch", dependsOn=["load"]), "onError": "fallback"},
        {**step("fallback", output="${load.output.rows}"), "dependsOn": ["load"]},
    )
    result = await wf.run()
    assert result.status is plait.RunStatus.SUCCEEDED
    assert statuses(result) == {"load": "succeeded", "fetch": "succeeded", "fallback": "skipped"}
    assert "fallback" not in probe.started_names
    assert (
        result.steps["fallback"].reason == "'fetch' did not fail (this step is its onError route)"
    )


async def test_an_on_error_handler_that_reads_upstream_data_runs_on_failure(
    probe: Probe,
) -> None:
    wf = workflow(
        step("load", output={"rows": 3}),
        {**step("fetch", fail="down", dependsOn=["load"]), "onError": "fallback"},
        {**step("fallback", output="${load.output.rows}"), "dependsOn": ["load"]},
    )
    result = await wf.run()
    assert statuses(result) == {"load": "succeeded", "fetch": "failed", "fallback": "succeeded"}
    assert result.steps["fallback"].output == 3


@pytest.mark.parametrize(
    ("fail_a", "fail_b", "ran"),
    [(True, False, True), (False, True, True), (True, True, True), (False, False, False)],
)
async def test_one_handler_for_two_steps_runs_once_after_both_when_either_fired(
    probe: Probe, fail_a: bool, fail_b: bool, ran: bool
) -> None:
    wf = workflow(
        {**step("a", wait="go-a", fail="a broke" if fail_a else None), "onError": "handler"},
        {**step("b", wait="go-b", fail="b broke" if fail_b else None), "onError": "handler"},
        step("handler", output="${error.step}"),
    )
    task = asyncio.create_task(wf.run())
    await probe.started("a")
    await probe.started("b")
    probe.release("go-a")
    await probe.ended("a")
    assert "handler" not in probe.started_names  # b has not ended: the handler waits
    probe.release("go-b")
    result = await task
    assert probe.started_names.count("handler") == (1 if ran else 0)
    assert result.steps["handler"].status is (
        plait.StepStatus.SUCCEEDED if ran else plait.StepStatus.SKIPPED
    )
    if ran:  # the first failure routed to it is the one it handles
        assert result.steps["handler"].output == ("a" if fail_a else "b")


async def test_a_failing_handler_fails_the_run(probe: Probe) -> None:
    wf = workflow(
        {**step("fetch", fail="first"), "onError": "fallback"},
        step("fallback", fail="second"),
    )
    result = await wf.run()
    assert result.status is plait.RunStatus.FAILED
    assert result.error is not None
    assert result.error["step"] == "fallback"


async def test_a_member_skipped_by_when_does_not_fail_its_all_group(probe: Probe) -> None:
    wf = workflow(
        group("g", ["a", "b"]),
        step("a", output=1),
        step("b", when="${inputs.flag}"),
        **inputs(flag="boolean"),
    )
    result = await wf.run(inputs={"flag": False})
    assert result.status is plait.RunStatus.SUCCEEDED
    assert statuses(result) == {"g": "succeeded", "a": "succeeded", "b": "skipped"}
    assert result.steps["g"].output == {"a": 1}
    assert result.groups["g"].skipped_steps == ["b"]


async def test_a_group_skipped_by_when_skips_its_members(probe: Probe) -> None:
    wf = workflow(
        {**group("g", ["a", "b"]), "when": "${inputs.flag}"},
        step("a"),
        step("b"),
        step("after", dependsOn=["g"]),
        **inputs(flag="boolean"),
    )
    result = await wf.run(inputs={"flag": False})
    assert statuses(result) == {"g": "skipped", "a": "skipped", "b": "skipped", "after": "skipped"}
    assert probe.finished == []


async def test_routes_are_recorded_in_the_store(probe: Probe) -> None:
    wf = switch_workflow()
    result = await wf.run(inputs={"large": True}, store="memory://")
    assert result.steps["large"].status is plait.StepStatus.SUCCEEDED
    assert result.steps["small"].reason == "switch 'route' did not choose this route"


@pytest.mark.parametrize(
    ("steps", "key", "words"),
    [
        (
            [{"id": "r", "switch": [{"when": "${inputs.x}", "next": "nowhere"}]}],
            "switch[0]",
            "unknown step 'nowhere'",
        ),
        (
            [{"id": "r", "switch": [{"default": "a"}, {"when": "x", "next": "a"}]}, step("a")],
            "switch",
            "'default' must be the last case",
        ),
        (
            [{"id": "r", "switch": []}],
            "switch",
            "at least one case",
        ),
        (
            [{**step("a"), "onError": "ghost"}],
            "onError",
            "unknown step 'ghost'",
        ),
        (
            [{**step("a"), "onError": "b", "continueOnError": True}, step("b")],
            "onError",
            "not both",
        ),
        (
            [{"id": "a", "tool": "echo", "input": "${error.message}"}],
            "input",
            "'error' is known only in a step",
        ),
        (
            [{"id": "a", "tool": "echo", "switch": [{"default": "a"}]}],
            None,
            "exactly one kind",
        ),
    ],
)
def test_bad_routes_are_validation_errors(
    steps: list[dict[str, Any]], key: str | None, words: str
) -> None:
    wf = plait.Workflow.from_dict(
        {"name": "bad", "inputs": {"x": {"type": "boolean"}}, "steps": steps}
    )
    with pytest.raises(plait.ValidationError) as info:
        wf.plan  # noqa: B018 - compiling is the point
    problems = info.value.problems
    assert any(words in p.message for p in problems), problems
    if key is not None:
        assert any(p.key == key for p in problems if words in p.message), problems
