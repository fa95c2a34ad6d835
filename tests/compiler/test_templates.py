"""``${...}`` templates: typed whole references, text interpolation, paths, escapes."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import plait
from plait.errors import ExpressionError
from plait.expressions import compile_template, parse_expression
from plait.status import StepStatus


class DictScope:
    def __init__(self, **names: Any) -> None:
        self.names = names

    def lookup(self, name: str) -> Any:
        return self.names[name]


SCOPE = DictScope(
    inputs={"n": 5, "d": {"a": 1, "key with space": "v"}, "l": [10, 20, 30], "none": None},
    **{"step-a": {"output": {"result": 7, "items": ["x", "y"]}}},
)
STEP_IDS = {"step-a"}


def render(value: Any) -> Any:
    return compile_template(value, STEP_IDS).render(SCOPE)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("${inputs.n}", 5),
        ("${inputs.d}", {"a": 1, "key with space": "v"}),
        ("${inputs.l}", [10, 20, 30]),
        ("${inputs.none}", None),
        ("${ inputs.n }", 5),
    ],
)
def test_a_whole_reference_keeps_the_value_type(text: str, value: Any) -> None:
    result = render(text)
    assert result == value
    assert type(result) is type(value)


def test_mixed_text_interpolates_to_a_string() -> None:
    assert render("n=${inputs.n}, l=${inputs.l}, none=${inputs.none}") == (
        "n=5, l=[10, 20, 30], none=null"
    )


def test_interpolated_data_keeps_non_ascii_text() -> None:
    scope = DictScope(inputs={"who": {"name": "Zoë", "city": "東京"}})
    rendered = compile_template("who: ${inputs.who}").render(scope)
    assert rendered == 'who: {"name": "Zoë", "city": "東京"}'


def test_two_references_side_by_side_are_text() -> None:
    assert render("${inputs.n}${inputs.n}") == "55"


def test_index_into_a_list() -> None:
    assert render("${inputs.l[1]}") == 20
    assert render("${inputs.l[-1]}") == 30


def test_quoted_key_with_a_space() -> None:
    assert render('${inputs.d["key with space"]}') == "v"
    assert render("${inputs.d['key with space']}") == "v"


def test_step_id_with_a_dash_is_a_name_not_a_subtraction() -> None:
    assert render("${step-a.output.result}") == 7
    assert render("${step-a.output.result - 1}") == 6


def test_without_step_ids_a_dash_is_a_subtraction() -> None:
    scope = DictScope(step=10, a={"output": {"result": 7}})
    assert compile_template("${step-a.output.result}").render(scope) == 3


def test_dot_name_is_a_key_of_the_data_not_an_attribute() -> None:
    # `items` is the key, never dict.items.
    assert render("${step-a.output.items}") == ["x", "y"]


def test_double_dollar_is_a_literal_dollar_brace() -> None:
    assert render("$${inputs.n}") == "${inputs.n}"
    assert render("cost: $${x} for ${inputs.n}") == "cost: ${x} for 5"


def test_templates_inside_mappings_and_lists() -> None:
    value = {"a": ["${inputs.n}", "n is ${inputs.n}"], "b": {"c": "${inputs.l[0]}"}, "d": 1}
    assert render(value) == {"a": [5, "n is 5"], "b": {"c": 10}, "d": 1}


def test_value_without_references_is_returned_as_is() -> None:
    value = {"a": [1, "plain"], "b": None}
    assert compile_template(value).render(SCOPE) is value


def test_lookup_on_null_is_null() -> None:
    assert render("${inputs.none.deeper}") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${inputs.missing}", "no key 'missing'"),
        ("${inputs.l[5]}", "index 5 is out of range (length 3)"),
        ("${inputs.l.key}", "a list has no key 'key'"),
        ("${inputs.n.x}", "cannot look up 'x' in a int"),
        ("${nobody}", "unknown name 'nobody'"),
    ],
)
def test_bad_lookup_is_an_expression_error(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=re.escape(message)):
        render(text)


@pytest.mark.parametrize(
    "text",
    ["${}", "${inputs.n", "${a +}", "${1abc}", "${inputs.}", "${inputs.__class__()}"],
)
def test_bad_syntax_is_an_expression_error(text: str) -> None:
    with pytest.raises(ExpressionError):
        compile_template(text)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(JSON_VALUES)
def test_whole_reference_returns_any_value_unchanged(value: Any) -> None:
    assert compile_template("${inputs.v}").render(DictScope(inputs={"v": value})) == value


@given(st.text().filter(lambda t: "$" not in t))
def test_text_without_a_dollar_renders_to_itself(text: str) -> None:
    assert compile_template(text).render(SCOPE) == text


@given(st.text(alphabet=st.characters(blacklist_characters="${}")))
def test_escaped_reference_renders_literally(inner: str) -> None:
    assert compile_template(f"a $${{{inner}}} b").render(SCOPE) == f"a ${{{inner}}} b"


def test_parsed_expression_names_its_root_and_keys() -> None:
    expr = parse_expression('step-a.output["k k"][2].x', STEP_IDS)
    assert list(expr.names()) == [("step-a", ("output", "k k", 2, "x"))]


async def test_a_reference_makes_the_step_wait_without_depends_on() -> None:
    # `b` names no dependency, only a reference: it must start after `a` has ended.
    wf = plait.Workflow.from_dict(
        {
            "name": "implicit",
            "steps": [
                {"id": "a", "tool": "sleep", "input": {"duration": "20ms", "output": {"v": 42}}},
                {"id": "b", "tool": "echo", "input": {"got": "${a.output.v}"}},
            ],
        }
    )
    result = await wf.run()
    a, b = result.steps["a"], result.steps["b"]
    assert a.status is StepStatus.SUCCEEDED
    assert b.status is StepStatus.SUCCEEDED
    assert b.output == {"got": 42}
    assert a.finished_at is not None
    assert b.started_at is not None
    assert b.started_at >= a.finished_at
