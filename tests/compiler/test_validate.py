"""Every check that runs before a run: each problem with its step and key, all at once."""

from __future__ import annotations

from typing import Any

import pytest

from plait.errors import CycleError, ValidationError

from .conftest import compile_data, problems_of


def wf(*steps: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"name": "w", **top, "steps": list(steps)}


def where(problems: list) -> list[tuple[str | None, str | None]]:
    return [(p.step, p.key) for p in problems]


def test_unknown_id_in_depends_on() -> None:
    [p] = problems_of(wf({"id": "a", "tool": "noop", "dependsOn": ["ghost"]}))
    assert (p.file, p.step, p.key, p.message) == (
        "wf.yaml",
        "a",
        "dependsOn",
        "unknown step 'ghost'",
    )


def test_unknown_id_in_group_steps() -> None:
    [p] = problems_of(wf({"id": "g", "parallelGroup": {"steps": ["ghost"]}}))
    assert (p.step, p.key, p.message) == ("g", "parallelGroup.steps", "unknown step 'ghost'")


def test_unknown_id_in_parallel_steps() -> None:
    [p] = problems_of(wf({"id": "g", "type": "parallel", "parallel_steps": ["ghost"]}))
    assert (p.step, p.key, p.message) == ("g", "parallel_steps", "unknown step 'ghost'")


def test_unknown_id_in_next_step() -> None:
    [p] = problems_of(wf({"id": "a", "tool": "noop", "next_step": "ghost"}))
    assert (p.step, p.key, p.message) == ("a", "next_step", "unknown step 'ghost'")


def test_duplicate_id() -> None:
    [p] = problems_of(wf({"id": "a", "tool": "noop"}, {"id": "a", "tool": "echo"}))
    assert (p.step, p.key, p.message) == ("a", "id", "duplicate step id 'a'")


def test_cycle_is_reported_with_its_path() -> None:
    with pytest.raises(CycleError) as info:
        compile_data(
            wf(
                {"id": "a", "tool": "noop", "dependsOn": ["c"]},
                {"id": "b", "tool": "noop", "dependsOn": ["a"]},
                {"id": "c", "tool": "noop", "dependsOn": ["b"]},
            )
        )
    assert info.value.cycle == ["a", "b", "c", "a"]
    [p] = info.value.problems
    assert "dependency cycle: a -> b -> c -> a" in p.message
    assert p.file == "wf.yaml"


def test_member_depending_on_its_own_group_is_a_cycle() -> None:
    with pytest.raises(CycleError) as info:
        compile_data(
            wf(
                {"id": "g", "parallelGroup": {"steps": ["m1", "m2"]}},
                {"id": "m1", "tool": "noop", "dependsOn": ["g"]},
                {"id": "m2", "tool": "noop"},
            )
        )
    assert info.value.cycle == ["g", "m1", "g"]


def test_reference_can_close_a_cycle() -> None:
    with pytest.raises(CycleError) as info:
        compile_data(
            wf(
                {"id": "a", "tool": "echo", "input": "${b.output}"},
                {"id": "b", "tool": "noop", "dependsOn": ["a"]},
            )
        )
    assert sorted(info.value.cycle[:-1]) == ["a", "b"]
    assert info.value.cycle[0] == info.value.cycle[-1]


def test_cycle_is_reported_along_with_other_problems() -> None:
    problems = problems_of(
        wf(
            {"id": "a", "tool": "noop", "dependsOn": ["b"]},
            {"id": "b", "tool": "no_such_tool", "dependsOn": ["a"]},
        )
    )
    assert where(problems) == [("b", "tool"), ("a", "dependsOn")]
    assert "dependency cycle: a -> b -> a" in problems[1].message


def test_step_cannot_depend_on_itself() -> None:
    [p] = problems_of(wf({"id": "a", "tool": "noop", "dependsOn": ["a"]}))
    assert (p.step, p.key) == ("a", "dependsOn")


def test_step_in_two_groups() -> None:
    [p] = problems_of(
        wf(
            {"id": "g1", "parallelGroup": {"steps": ["m"]}},
            {"id": "g2", "type": "parallel", "parallel_steps": ["m"]},
            {"id": "m", "tool": "noop"},
        )
    )
    assert (p.step, p.key) == ("g2", "parallel_steps")
    assert "step 'm' is already a member of group 'g1'" in p.message


def test_group_cannot_contain_itself() -> None:
    [p] = problems_of(wf({"id": "g", "parallelGroup": {"steps": ["g"]}}))
    assert (p.step, p.message) == ("g", "a group cannot contain itself")


def test_member_listed_twice() -> None:
    [p] = problems_of(
        wf({"id": "g", "parallelGroup": {"steps": ["m", "m"]}}, {"id": "m", "tool": "noop"})
    )
    assert "listed twice" in p.message


def test_unknown_tool() -> None:
    [p] = problems_of(wf({"id": "a", "toolName": "no_such_tool"}))
    assert (p.step, p.key) == ("a", "tool")
    assert "unknown tool 'no_such_tool'" in p.message


@pytest.mark.parametrize("strategy", ["any", "race"])
def test_empty_any_or_race_group_is_an_error(strategy: str) -> None:
    [p] = problems_of(wf({"id": "g", "parallelGroup": {"steps": [], "waitStrategy": strategy}}))
    assert (p.step, p.key) == ("g", "parallelGroup.steps")
    assert f"an empty '{strategy}' group can never succeed" in p.message


@pytest.mark.parametrize("strategy", ["all", "allSettled"])
def test_empty_all_or_all_settled_group_is_fine(strategy: str) -> None:
    plan = compile_data(wf({"id": "g", "parallelGroup": {"steps": [], "waitStrategy": strategy}}))
    assert plan.node("g").members == ()


def test_reference_to_an_unknown_step() -> None:
    [p] = problems_of(wf({"id": "a", "tool": "echo", "input": {"x": "${nobody.output}"}}))
    assert (p.step, p.key) == ("a", "input")
    assert "unknown name 'nobody'" in p.message
    assert "${nobody.output}" in p.message


def test_reference_to_an_undeclared_input() -> None:
    [p] = problems_of(
        wf({"id": "a", "tool": "echo", "input": "${inputs.m}"}, inputs={"n": {"default": 1}})
    )
    assert (p.step, p.key) == ("a", "input")
    assert "unknown input 'm' (declared inputs: n)" in p.message


def test_reference_in_outputs_is_checked() -> None:
    [p] = problems_of(wf({"id": "a", "tool": "noop"}, outputs={"x": "${nobody.output}"}))
    assert (p.step, p.key) == (None, "outputs")


def test_reference_to_a_step_field_that_does_not_exist() -> None:
    [p] = problems_of(
        wf({"id": "a", "tool": "noop"}, {"id": "b", "tool": "echo", "input": "${a.result}"})
    )
    assert (p.step, p.key) == ("b", "input")
    assert "write ${a.output.result}" in p.message


def test_bad_expression_syntax() -> None:
    [p] = problems_of(wf({"id": "a", "tool": "echo", "input": "${inputs.}"}))
    assert (p.step, p.key) == ("a", "input")
    assert "expected a key after '.'" in p.message


def test_unclosed_expression() -> None:
    [p] = problems_of(wf({"id": "a", "tool": "echo", "input": "x ${inputs.n"}))
    assert "unclosed '${'" in p.message


def test_literal_dollar_brace_is_not_a_reference() -> None:
    plan = compile_data(wf({"id": "a", "tool": "echo", "input": "$${nobody.output}"}))
    assert plan.node("a").input.render(None) == "${nobody.output}"


def test_unknown_pool() -> None:
    [p] = problems_of(wf({"id": "a", "tool": "noop", "pool": "gpu"}))
    assert (p.step, p.key) == ("a", "pool")
    assert "unknown pool 'gpu'" in p.message


def test_default_is_not_a_named_pool() -> None:
    [p] = problems_of(wf({"id": "a", "tool": "noop"}, pools={"default": {"maxConcurrent": 2}}))
    assert p.key == "pools.default"


def test_retry_on_a_group_is_an_error() -> None:
    [p] = problems_of(wf({"id": "g", "parallelGroup": {"steps": []}, "retry": {"maxAttempts": 2}}))
    assert (p.step, p.key) == ("g", "retry")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "integer", "default": "abc"}, "input 'n' must be an integer, not 'abc'"),
        ({"type": "integer", "default": True}, "input 'n' must be an integer, not True"),
        ({"type": "string", "default": 5}, "input 'n' must be a string, not 5"),
        ({"type": "array", "default": {"a": 1}}, "input 'n' must be an array"),
    ],
)
def test_default_of_the_wrong_type(spec: dict[str, Any], message: str) -> None:
    [p] = problems_of(wf(inputs={"n": spec}))
    assert p.key == "inputs.n.default"
    assert message in p.message


def test_default_of_the_right_type_is_fine() -> None:
    plan = compile_data(
        wf(inputs={"n": {"type": "number", "default": 3}, "o": {"type": "object", "default": {}}})
    )
    assert plan.inputs["n"].default == 3


def test_every_problem_is_collected() -> None:
    with pytest.raises(ValidationError) as info:
        compile_data(
            wf(
                {"id": "a", "tool": "noop", "dependsOn": ["ghost1"]},
                {"id": "a", "tool": "noop"},
                {"id": "b", "tool": "nosuch", "next_step": "ghost2"},
                {"id": "g", "parallelGroup": {"steps": [], "waitStrategy": "race"}},
                {"id": "c", "tool": "echo", "input": "${nobody.output} ${inputs.zz}"},
                {"id": "bad", "tool": "noop", "timeout": "5x"},
            )
        )
    assert sorted(where(info.value.problems), key=str) == sorted(
        [
            ("bad", "timeout"),
            ("a", "id"),
            ("a", "dependsOn"),
            ("b", "next_step"),
            ("b", "tool"),
            ("g", "parallelGroup.steps"),
            ("c", "input"),
            ("c", "input"),
        ],
        key=str,
    )
    assert all(p.file == "wf.yaml" for p in info.value.problems)


def test_a_step_that_failed_the_schema_is_not_reported_again_as_unknown() -> None:
    problems = problems_of(
        wf(
            {"id": "a", "tool": "noop", "timeout": "5x"},
            {"id": "b", "tool": "echo", "dependsOn": ["a"], "input": "${a.output}"},
        )
    )
    assert where(problems) == [("a", "timeout")]


def test_group_id_used_by_another_step() -> None:
    [p] = problems_of(
        wf(
            {"id": "g", "parallelGroup": {"id": "a", "steps": []}},
            {"id": "a", "tool": "noop"},
        )
    )
    assert (p.step, p.key) == ("g", "parallelGroup.id")
    assert "group id 'a' is already used" in p.message
