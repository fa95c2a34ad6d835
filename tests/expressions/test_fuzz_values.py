"""Random text and awkward values through the whole language: parse, then evaluate, or
compile a template, then render it. Only a value or an ``ExpressionError`` may come out.

The values are the ones a tool's output can hold: a structure that contains itself,
lists nested past Python's recursion limit, NaN and infinities, integers of thousands
of digits, long strings.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import plait
from expressions.support import DATA, STEP_IDS, DictScope
from plait.errors import ExpressionError
from plait.expressions import FUNCTION_NAMES, compile_template, parse_expression

FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _nested(depth: int) -> list[Any]:
    top: list[Any] = []
    current = top
    for _ in range(depth):
        inner: list[Any] = []
        current.append(inner)
        current = inner
    return top


def awkward() -> dict[str, Any]:
    """Names bound to awkward values (fresh each time: nothing may be mutated)."""
    return {
        **DATA,
        "deep": _nested(3_000),
        "deep2": _nested(3_000),
        "nan": float("nan"),
        "inf": float("inf"),
        "big": 10**4000,
        "long": "ab" * 50_000,
        "mixed": [1, "a", None, True, 2.5, [3], {"k": "v"}],
        "empty": {"l": [], "d": {}, "s": ""},
    }


def evaluate(text: str, names: dict[str, Any]) -> None:
    try:
        expr = parse_expression(text, STEP_IDS)
    except ExpressionError:
        return
    with contextlib.suppress(ExpressionError):
        expr.evaluate(DictScope(**names))


# -- a structure that holds itself ----------------------------------------------------------


def test_a_value_that_contains_itself_is_refused_not_walked_forever() -> None:
    # Was an endless loop (on the event loop: the whole engine froze) in size_of.
    r: list[Any] = [1]
    r.append({"again": r})
    with pytest.raises(ExpressionError, match="result too large"):
        parse_expression("json(r)").evaluate(DictScope(r=r))


def test_a_value_that_contains_itself_stays_usable_where_nothing_walks_it() -> None:
    r: list[Any] = [1]
    r.append(r)
    assert parse_expression("len(r) + r[0]").evaluate(DictScope(r=r)) == 3
    assert "[...]" in compile_template("got ${r}").render(DictScope(r=r))


def test_a_deeply_nested_value_in_a_definition_is_a_validation_error() -> None:
    # compile_template walks the value recursively: this was an uncaught RecursionError
    # (a traceback from `plait validate` for a JSON file nested ~500 levels deep).
    wf = plait.Workflow.from_dict(
        {"name": "w", "steps": [{"id": "s", "tool": "echo", "input": _nested(3_000)}]}
    )
    with pytest.raises(plait.ValidationError, match="nested too deeply"):
        wf.validate()


# -- random text -------------------------------------------------------------------------

NAMES = sorted(awkward())
TEXT = st.text(
    alphabet=st.sampled_from(
        [*"abcdfgijkmnopqrstuvwxyz_-.,:[](){}'\"0123456789+-*/%<>=!&|^~ \n\\$#@e", "\x00", "é"]
    ),
    max_size=50,
)


@settings(FUZZ, max_examples=150)
@given(TEXT)
def test_random_text_parses_and_evaluates_or_raises_expression_error(text: str) -> None:
    evaluate(text, awkward())


@settings(FUZZ, max_examples=100)
@given(st.text(max_size=40), st.text(max_size=10))
def test_random_templates_compile_and_render_or_raise_expression_error(
    inner: str, around: str
) -> None:
    for value in (f"{around}${{{inner}}}{around}", {"k": [f"${{{inner}}}", around]}):
        try:
            template = compile_template(value, STEP_IDS)
        except ExpressionError:
            continue
        with contextlib.suppress(ExpressionError):
            template.render(DictScope(**awkward()))


# -- every function and operator over awkward values -----------------------------------

ARGS = st.sampled_from(
    [
        *NAMES,
        *("inputs.l", "inputs.d", "inputs.s", "mixed[6]", "empty.l", "empty.d", "empty.s"),
        *("deep[0]", "big * -1", "-inf", "1e308 * 10", "0", "-1", "2.5", "''", "'a'", "null"),
        *("true", "[]", "{}", "[nan, 1]", "[deep, deep2]", "[big, 1]", "[inf, nan, -inf]"),
    ]
)
OPERATORS = ["+", "-", "*", "/", "//", "%", "**", "==", "!=", "<", ">=", "in", "not in", "and"]


@settings(FUZZ, max_examples=200)
@given(st.sampled_from(sorted(FUNCTION_NAMES)), st.lists(ARGS, max_size=3))
def test_every_function_over_awkward_values_returns_or_raises_expression_error(
    function: str, args: list[str]
) -> None:
    evaluate(f"{function}({', '.join(args)})", awkward())


@settings(FUZZ, max_examples=150)
@given(ARGS, st.sampled_from(OPERATORS), ARGS)
def test_every_operator_over_awkward_values_returns_or_raises_expression_error(
    left: str, operator: str, right: str
) -> None:
    names = awkward()
    evaluate(f"{left} {operator} {right}", names)
    evaluate(f"{left}[{right}]", names)
    evaluate(f"'x${{{left}}}' + str({right})", names)
