"""What an expression reads (``names()``), hyphenated step ids, and the plain-path fast case."""

from __future__ import annotations

import re
from collections.abc import Collection

import pytest

from expressions.support import STEP_IDS, DictScope, ev
from plait.errors import ExpressionError
from plait.expressions import Path, compile_template, parse_expression

Names = list[tuple[str, tuple[str | int, ...]]]


def names(text: str, step_ids: Collection[str] = STEP_IDS) -> Names:
    return list(parse_expression(text, step_ids).names())


@pytest.mark.parametrize(
    "text",
    ["inputs.n", "step-a.output.items[0]", 'inputs.d["key with space"]', " inputs.l[-1] ", "x"],
)
def test_a_plain_reference_is_a_plain_path(text: str) -> None:
    expr = parse_expression(text, STEP_IDS)
    assert type(expr) is Path
    assert expr.text == text.strip()


def test_path_roots_and_keys() -> None:
    expr = parse_expression('step-a.output["k k"][2].x', STEP_IDS)
    assert isinstance(expr, Path)
    assert (expr.root, expr.keys) == ("step-a", ("output", "k k", 2, "x"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 + 2", []),
        ("inputs.n > 3", [("inputs", ("n",))]),
        (
            "fetch_users.output[0].name + step-a.output.result",
            [("fetch_users", ("output", 0, "name")), ("step-a", ("output", "result"))],
        ),
        ("len(inputs.l) + sum(loop.results)", [("inputs", ("l",)), ("loop", ("results",))]),
        # A computed index: the path stops before it, and the index is read too.
        (
            "inputs.l[loop.index].name",
            [("inputs", ("l",)), ("loop", ("index",))],
        ),
        ("inputs.l[1:loop.index]", [("inputs", ("l",)), ("loop", ("index",))]),
        ("[a, {'k': b.c}]", [("a", ()), ("b", ("c",))]),
        ("{k.x: 1}", [("k", ("x",))]),
        ("a if b else c", [("b", ()), ("a", ()), ("c", ())]),
        ("not a and b or c", [("a", ()), ("b", ()), ("c", ())]),
        ("1 < a.x <= b", [("a", ("x",)), ("b", ())]),
        ("-a.x ** 2", [("a", ("x",))]),
        ("sorted(a)[0].b", [("a", ())]),
        # Inside default()'s first argument only the first key is certain to exist.
        ("default(inputs.opts.retries, 3)", [("inputs", ("opts",))]),
        ("default(step-a.output.maybe[0], b.x)", [("step-a", ("output",)), ("b", ("x",))]),
        ("default(loop, 1)", [("loop", ())]),
    ],
)
def test_names_yields_every_reference(text: str, expected: Names) -> None:
    assert names(text) == expected


def test_function_names_and_literals_are_not_names() -> None:
    assert names("len(x) + int(y) if true else null") == [("x", ()), ("y", ())]


# -- hyphenated step ids -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "step_ids", "expected"),
    [
        ("step-a.output", {"step-a"}, [("step-a", ("output",))]),
        ("step-a.output", set(), [("step", ()), ("a", ("output",))]),
        ("step-a-1", {"step-a"}, [("step-a", ())]),
        ("step-a-1", {"step-a-1", "step-a"}, [("step-a-1", ())]),
        ("x-step-a.output", {"step-a"}, [("x", ()), ("step-a", ("output",))]),
        (
            "step-a.output-step-b.output",
            {"step-a", "step-b"},
            [("step-a", ("output",)), ("step-b", ("output",))],
        ),
        ("step-a.output.a-b", {"step-a"}, [("step-a", ("output", "a")), ("b", ())]),
        ("x.step-a", {"step-a"}, [("x", ("step",)), ("a", ())]),
        ("'step-a' + step-a.output", {"step-a"}, [("step-a", ("output",))]),
        ('"it\\"s step-a" + step-a.output', {"step-a"}, [("step-a", ("output",))]),
        ("step-a['output']", {"step-a"}, [("step-a", ("output",))]),
        ("len(step-a.output)", {"step-a"}, [("step-a", ("output",))]),
        ("x['a-b']", {"a-b"}, [("x", ("a-b",))]),
        ("__s-x.output", {"__s-x"}, [("__s-x", ("output",))]),
    ],
)
def test_hyphenated_step_ids(text: str, step_ids: set[str], expected: Names) -> None:
    assert list(parse_expression(text, step_ids).names()) == expected


def test_a_hyphenated_step_id_evaluates_to_the_step_and_minus_still_works() -> None:
    assert ev("step-a.output.result") == 7
    assert ev("step-a.output.result-1") == 6
    assert ev("step-a.output.result - loop.index") == 6
    assert ev("-step-a.output.result") == -7
    assert ev("step-a.output.result", step_ids=(), step=10, a={"output": {"result": 3}}) == 7


def test_step_ids_may_be_any_collection() -> None:
    for step_ids in (["step-a"], ("step-a",), {"step-a": 0}, frozenset({"step-a"})):
        assert names("step-a.output", step_ids) == [("step-a", ("output",))]
    template = compile_template({"x": "${step-a.output.result}"}, ["step-a"])
    assert template.render(DictScope(**{"step-a": {"output": {"result": 1}}})) == {"x": 1}


def test_an_error_names_the_step_id_as_written() -> None:
    with pytest.raises(ExpressionError) as info:
        ev("step-a.output.result + 'x'")
    assert "${step-a.output.result + 'x'}: cannot apply '+' to int and string" in str(info.value)
    with pytest.raises(ExpressionError) as info:
        parse_expression("step-a.output +", {"step-a"})
    assert "ǂ" not in str(info.value)
    assert "${step-a.output +}" in str(info.value)


def test_keyword_step_ids_and_keys() -> None:
    scope = DictScope(**{"import": {"output": {"from": 1}}}, mail={"from": "a@b", "if": 2})
    expr = parse_expression("import.output.from + 1", {"import"})
    assert list(expr.names()) == [("import", ("output", "from"))]
    assert expr.evaluate(scope) == 2
    assert parse_expression("mail.from").evaluate(scope) == "a@b"
    assert parse_expression("mail.if if mail else 0").evaluate(scope) == 2
    # A keyword step id that is not followed by '.' is still the keyword.
    assert parse_expression("not 1 in [1]", {"not", "in"}).evaluate(scope) is False


def test_step_ids_and_true_false_null() -> None:
    assert names("true.output", {"true"}) == [("true", ("output",))]
    assert ev("true") is True


def test_a_dot_must_be_followed_by_a_key() -> None:
    for text in ("inputs.", "inputs.l.0", "inputs. + 1"):
        with pytest.raises(ExpressionError, match=re.escape("expected a key after '.'")):
            parse_expression(text)


def test_multi_line_expressions() -> None:
    assert ev("inputs.n\n  + 1\n") == 6
    assert ev("[\n  1,\n  2,\n]") == [1, 2]
