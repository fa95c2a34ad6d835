"""``output:`` on groups, maps and loops works as on tasks: ``${result}`` is the step's
own output (a group's mapping or winner, a map's or loop's list), and a step that an
``onError`` routes to also sees ``${error}`` (issue 12, divergence B)."""

from __future__ import annotations

from typing import Any

import pytest

import plait


def run(*steps: dict[str, Any]) -> plait.RunResult:
    return plait.run_sync(plait.Workflow.from_dict({"name": "outputs", "steps": list(steps)}))


def echo(id: str, value: Any) -> dict[str, Any]:
    return {"id": id, "tool": "echo", "input": value}


def dynamic(ctx: Any) -> list[dict[str, Any]]:
    return [echo("d1", 1), echo("d2", 2)]


BODY = [echo("x", "${parallel.index}")]
LOOP_BODY = [echo("x", "${loop.index}")]

# Each kind: the step (with `output`), its members, and what `${result}` was.
KINDS: dict[str, tuple[dict[str, Any], list[dict[str, Any]], Any]] = {
    "static group": (
        {"id": "s", "parallelGroup": {"steps": ["a", "b"]}},
        [echo("a", 1), echo("b", 2)],
        {"a": 1, "b": 2},
    ),
    "static any group": (
        {"id": "s", "parallelGroup": {"steps": ["a", "b"], "waitStrategy": "any"}},
        [echo("a", 1), echo("b", 2)],
        1,
    ),
    "dynamic group": (
        {"id": "s", "parallelGroup": {"steps": dynamic}},
        [],
        {"d1": 1, "d2": 2},
    ),
    "map": ({"id": "s", "parallel": {"count": 2, "steps": BODY}}, [], [0, 1]),
    "map with a branch output": (
        {"id": "s", "parallel": {"count": 2, "steps": BODY, "output": "<${x.output}>"}},
        [],
        ["<0>", "<1>"],
    ),
    "loop": ({"id": "s", "loop": {"type": "for", "count": 2, "steps": LOOP_BODY}}, [], [0, 1]),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_output_reshapes_what_the_step_records(kind: str) -> None:
    step, members, result = KINDS[kind]
    reshaped = {**step, "output": {"got": "${result}", "n": "${len(result)}"}}
    if isinstance(result, int):
        reshaped["output"] = {"got": "${result}"}
    outcome = run(reshaped, *members, echo("after", "${s.output.got}"))
    assert outcome.status is plait.RunStatus.SUCCEEDED, outcome.error
    assert outcome.steps["s"].output["got"] == result
    assert outcome.steps["after"].output == result


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_handler_step_s_output_reads_the_error_it_handles(kind: str) -> None:
    step, members, _ = KINDS[kind]
    failing = {"id": "bad", "tool": "fail", "input": {"message": "boom"}, "onError": "s"}
    handler = {**step, "output": "handled ${error.type}: ${error.message} (${error.step})"}
    outcome = run(failing, handler, *members)
    assert outcome.status is plait.RunStatus.SUCCEEDED, outcome.error
    assert outcome.steps["s"].output.endswith(": boom (bad)")


@pytest.mark.parametrize("kind", list(KINDS))
def test_an_output_that_cannot_be_rendered_fails_the_step_in_its_own_words(kind: str) -> None:
    step, members, _ = KINDS[kind]
    outcome = run({**step, "output": "${result.missing.deeper}"}, *members)
    error = outcome.steps["s"].error
    assert outcome.steps["s"].status is plait.StepStatus.FAILED
    assert error is not None
    assert error["type"] == "ExpressionError"
    assert error["message"].startswith("output: ")
    assert "<workflow>" not in error["message"]
