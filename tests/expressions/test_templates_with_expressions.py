"""``${...}`` with operators inside templates: typed whole values, text, braces and quotes."""

from __future__ import annotations

from typing import Any

import pytest

from expressions.support import DATA, STEP_IDS, DictScope
from plait.errors import ExpressionError
from plait.expressions import compile_template


def render(value: Any) -> Any:
    return compile_template(value, STEP_IDS).render(DictScope(**DATA))


@pytest.mark.parametrize(
    ("template", "value"),
    [
        ("${inputs.n + 1}", 6),
        ("${inputs.n > 3}", True),
        ("${ {'a': inputs.n} }", {"a": 5}),
        ('${ {"a": "}"} }', {"a": "}"}),
        ("${ {'k': {'deep': [1]}} }", {"k": {"deep": [1]}}),
        ("${'it\\'s } here'}", "it's } here"),
        ('${"say \\"}\\""}', 'say "}"'),
        ("n+1=${inputs.n + 1}, big=${inputs.n > 3}", "n+1=6, big=true"),
        ("${upper(inputs.s)}-${len(inputs.l)}", "HELLO-3"),
        ("${default(inputs.missing, 'none')}", "none"),
        ("${step-a.output.result * 2}", 14),
        ("$${not an expression}", "${not an expression}"),
    ],
)
def test_expressions_in_templates(template: str, value: Any) -> None:
    assert render(template) == value


def test_a_refused_expression_in_a_template_is_an_expression_error() -> None:
    with pytest.raises(ExpressionError, match="comprehensions are not allowed"):
        render("a ${[x for x in 'ab'] if false else 1} b")


def test_a_template_keeps_working_without_step_ids() -> None:
    template = compile_template({"a": ["${x - 1}"]})
    assert template.render(DictScope(x=3)) == {"a": [2]}


def test_expressions_of_a_template_are_the_parsed_ones() -> None:
    template = compile_template({"a": "${len(step-a.output) + inputs.n}"}, STEP_IDS)
    [expr] = template.expressions()
    assert list(expr.names()) == [("step-a", ("output",)), ("inputs", ("n",))]
