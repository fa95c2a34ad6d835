"""Run inputs bound to the declared inputs: typed conversion, defaults, required, unknown."""

from __future__ import annotations

from typing import Any

import pytest

from plait.compiler import Plan, bind_inputs
from plait.errors import InputError

from .conftest import compile_data


def plan_with(**inputs: Any) -> Plan:
    return compile_data({"name": "w", "inputs": inputs, "steps": []})


@pytest.mark.parametrize(
    ("type_", "text", "value"),
    [
        ("integer", "5", 5),
        ("integer", "-12", -12),
        ("number", "2.5", 2.5),
        ("number", "3", 3),
        ("boolean", "true", True),
        ("boolean", "Yes", True),
        ("boolean", "0", False),
        ("boolean", "off", False),
        ("object", '{"a": [1, 2]}', {"a": [1, 2]}),
        ("array", "[1, 2, 3]", [1, 2, 3]),
        ("string", "5", "5"),
        ("string", "", ""),
        ("any", "5", "5"),
    ],
)
def test_text_is_converted_by_the_declared_type(type_: str, text: str, value: Any) -> None:
    bound = bind_inputs(plan_with(x={"type": type_}), {"x": text}, text_keys={"x"})
    assert bound == {"x": value}
    assert type(bound["x"]) is type(value)


@pytest.mark.parametrize(
    ("type_", "text"),
    [
        ("integer", "x"),
        ("integer", "5.5"),
        ("integer", ""),
        ("integer", "true"),
        ("number", "five"),
        ("boolean", "maybe"),
        ("object", "[1]"),
        ("array", "{}"),
    ],
)
def test_text_that_does_not_convert_is_an_error(type_: str, text: str) -> None:
    with pytest.raises(InputError) as info:
        bind_inputs(plan_with(x={"type": type_}), {"x": text}, text_keys={"x"})
    [problem] = info.value.problems
    assert problem.key == "inputs.x"
    assert "input 'x' must be" in problem.message


def test_typed_values_are_not_parsed_as_text() -> None:
    # From --input-file or the Python API, "5" is a string, not an integer.
    with pytest.raises(InputError, match="input 'n' must be an integer, not '5'"):
        bind_inputs(plan_with(n={"type": "integer"}), {"n": "5"})


def test_typed_values_of_the_right_type_pass() -> None:
    bound = bind_inputs(
        plan_with(n={"type": "integer"}, o={"type": "object"}), {"n": 5, "o": {"k": 1}}
    )
    assert bound == {"n": 5, "o": {"k": 1}}


def test_a_boolean_is_not_an_integer() -> None:
    with pytest.raises(InputError, match="must be an integer, not True"):
        bind_inputs(plan_with(n={"type": "integer"}), {"n": True})


def test_default_is_used_when_not_given() -> None:
    bound = bind_inputs(plan_with(n={"type": "integer", "default": 7}, s="hi"), {})
    assert bound == {"n": 7, "s": "hi"}


def test_given_value_overrides_the_default() -> None:
    bound = bind_inputs(plan_with(n={"type": "integer", "default": 7}), {"n": "8"}, text_keys={"n"})
    assert bound == {"n": 8}


def test_input_without_default_is_required() -> None:
    with pytest.raises(InputError) as info:
        bind_inputs(plan_with(n={"type": "integer"}), {})
    [problem] = info.value.problems
    assert problem.key == "inputs.n"
    assert "input 'n' is required (give it with --input n=VALUE)" in problem.message


def test_required_false_without_default_is_null() -> None:
    assert bind_inputs(plan_with(n={"type": "integer", "required": False}), {}) == {"n": None}


def test_required_true_wins_over_a_default() -> None:
    with pytest.raises(InputError, match="is required"):
        bind_inputs(plan_with(n={"type": "integer", "default": 1, "required": True}), {})


def test_unknown_input_names_the_declared_ones() -> None:
    with pytest.raises(InputError) as info:
        bind_inputs(plan_with(a={"default": 1}, b={"default": 2}), {"c": "1"}, text_keys={"c"})
    [problem] = info.value.problems
    assert problem.key == "inputs.c"
    assert "unknown input 'c' (declared inputs: a, b)" in problem.message


def test_unknown_input_when_none_are_declared() -> None:
    with pytest.raises(InputError, match=r"declared inputs: none"):
        bind_inputs(plan_with(), {"x": 1})


def test_every_input_problem_is_reported_at_once() -> None:
    plan = plan_with(n={"type": "integer"}, m={"type": "integer"}, ok={"default": 1})
    with pytest.raises(InputError) as info:
        bind_inputs(plan, {"n": "x", "zzz": "1"}, text_keys={"n", "zzz"})
    assert sorted(p.key for p in info.value.problems) == ["inputs.m", "inputs.n", "inputs.zzz"]
    assert all(p.file == "wf.yaml" for p in info.value.problems)
