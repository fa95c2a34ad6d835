"""Every function of the table, its errors, and ``default()``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from expressions.support import DictScope, ev
from plait.errors import ExpressionError
from plait.expressions import FUNCTION_NAMES, parse_expression


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("len(inputs.l)", 3),
        ("len(inputs.s)", 5),
        ("len(inputs.d)", 4),
        ("len('')", 0),
        ("length(inputs.l)", 3),
        ("min(inputs.l)", 10),
        ("min(3, 1, 2)", 1),
        ("min('b', 'a')", "a"),
        ("max(inputs.l)", 30),
        ("max(1, 2.5)", 2.5),
        ("max(inputs.words)", "c"),
        ("sum(inputs.l)", 60),
        ("sum([0.5, 1])", 1.5),
        ("sum([true, true, false])", 2),
        ("sum([])", 0),
        ("abs(-3)", 3),
        ("abs(-2.5)", 2.5),
        ("round(2.5)", 2),
        ("round(2.675, 2)", 2.67),
        ("round(1234, -2)", 1200),
        ("int('42')", 42),
        ("int(' 42 ')", 42),
        ("int(3.9)", 3),
        ("int(true)", 1),
        ("float('2.5')", 2.5),
        ("float(2)", 2.0),
        ("str(5)", "5"),
        ("str('x')", "x"),
        ("str(null)", "null"),
        ("str(true)", "true"),
        ("str([1, 'a'])", '[1, "a"]'),
        ("json('x')", '"x"'),
        ("json({'a': [1, null]})", '{"a": [1, null]}'),
        ("bool(0)", False),
        ("bool('x')", True),
        ("lower(inputs.s)", "hello"),
        ("upper(inputs.s)", "HELLO"),
        ("strip('  x ')", "x"),
        ("keys({'a': 1, 'b': 2})", ["a", "b"]),
        ("values({'a': 1, 'b': 2})", [1, 2]),
        ("items({'a': 1})", [["a", 1]]),
        ("range(3)", [0, 1, 2]),
        ("range(1, 4)", [1, 2, 3]),
        ("range(10, 0, -3)", [10, 7, 4, 1]),
        ("range(0)", []),
        ("sorted(inputs.words)", ["a", "b", "c"]),
        ("sorted([3, 1.5, 2])", [1.5, 2, 3]),
        ("sorted({'b': 1, 'a': 2})", ["a", "b"]),
        ("join(inputs.words, ', ')", "b, a, c"),
        ("join(inputs.words)", "bac"),
        ("join(range(3), '-')", "0-1-2"),
        ("join([1, null, true, 'x'], ' ')", "1 null true x"),
        ("split('a,b,,c', ',')", ["a", "b", "", "c"]),
        ("split(' a  b ')", ["a", "b"]),
        ("contains(inputs.l, 20)", True),
        ("contains(inputs.s, 'ell')", True),
        ("contains(inputs.d, 'zz')", False),
        ("replace('a-b-c', '-', '+')", "a+b+c"),
        ("startswith(inputs.s, 'He')", True),
        ("endswith(inputs.s, 'x')", False),
        ("any([0, '', 1])", True),
        ("any([])", False),
        ("all([1, 'a'])", True),
        ("all([1, 0])", False),
        ("len(range(inputs.n)) + sum(range(inputs.n))", 15),
        ("upper(lower(inputs.s)[0]) + lower(inputs.s)[1:]", "Hello"),
    ],
)
def test_functions(text: str, value: Any) -> None:
    result = ev(text)
    assert result == value
    assert type(result) is type(value)


def test_every_function_is_tested_above() -> None:
    source = Path(__file__).read_text(encoding="utf-8")
    for name in FUNCTION_NAMES:
        assert f'("{name}(' in source, name


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("len(5)", "len(): needs a string, list or mapping, not int"),
        ("len(null)", "len(): needs a string, list or mapping, not null"),
        ("min([])", "min(): the list is empty"),
        ("min(5)", "min(): needs a list, or two values or more, not int"),
        ("max(1, 'a')", "max(): '>' not supported"),
        ("sum(['a'])", "sum(): needs a list of numbers, not string"),
        ("sum(inputs.d)", "sum(): needs a list of numbers, not mapping"),
        ("abs('x')", "abs(): needs a number, not string"),
        ("round('x')", "round(): needs a number, not string"),
        ("round(1.5, 2.5)", "round(): needs a whole number of digits, not float"),
        ("round(5, -100000)", "round(): takes at most 1000 digits"),
        ("int('x')", "int(): invalid literal"),
        ("int(null)", "int(): needs a number or a string, not null"),
        ("int(float('inf'))", "int(): cannot convert float infinity"),
        ("float('x')", "float(): could not convert"),
        ("lower(1)", "lower(): needs a string, not int"),
        ("keys(inputs.l)", "keys(): needs a mapping, not list"),
        ("range('a')", "range(): needs whole numbers, not string"),
        ("range(1, 2, 0)", "range(): range() arg 3 must not be zero"),
        ("sorted(5)", "sorted(): needs a list, not int"),
        ("sorted([1, 'a'])", "sorted(): '<' not supported"),
        ("join('abc', ',')", "join(): needs a list as its first argument, not string"),
        ("join(inputs.l, 1)", "join(): needs a string separator, not int"),
        ("split(1)", "split(): needs a string as its first argument, not int"),
        ("split('a', '')", "split(): needs a separator that is not empty"),
        ("contains(5, 1)", "contains(): needs a string, list or mapping, not int"),
        ("contains('abc', 1)", "contains(): needs a string to look for in a string, not int"),
        ("replace('a', 1, 'b')", "replace(): needs strings, not int"),
        ("startswith(1, 'a')", "startswith(): needs a string as its first argument"),
        ("any(1)", "any(): needs a list, not int"),
        ("json({'f': float})", "'float' is a function"),
    ],
)
def test_function_errors_name_the_function(text: str, message: str) -> None:
    with pytest.raises(ExpressionError) as info:
        ev(text)
    assert message in str(info.value)
    assert f"${{{text}}}" in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("len()", "wrong number of arguments to len(); write len(value)"),
        ("len(1, 2)", "wrong number of arguments to len(); write len(value)"),
        ("contains([1])", "write contains(container, item)"),
        ("range()", "write range(stop) or range(start, stop, step)"),
        ("default(1)", "default() takes 2 arguments, not 1"),
        ("round(1.5, ndigits=1)", "round() takes no keyword arguments"),
    ],
)
def test_wrong_arguments_are_refused_at_parse_time(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_expression(text)


# -- default() ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("default(inputs.n, 1)", 5),
        ("default(inputs.none, 1)", 1),
        ("default(inputs.missing, 'fb')", "fb"),
        ("default(inputs.d.zz.deeper, 0)", 0),
        ("default(inputs.l[10], -1)", -1),
        ("default(inputs.l[loop.index + 10], -1)", -1),
        ("default(nobody.output, 'no step')", "no step"),
        ("default(inputs.s + 1, 'bad')", "bad"),
        ("default(int('x'), 0)", 0),
        ("default(0, 1)", 0),
        ("default('', 1)", ""),
        ("default(false, 1)", False),
        ("default([], 1)", []),
        ("default(inputs.none, default(inputs.missing, 3))", 3),
        ("default(inputs.missing, null)", None),
    ],
)
def test_default(text: str, value: Any) -> None:
    assert ev(text) == value


def test_default_evaluates_the_fallback_only_when_needed() -> None:
    scope = DictScope(a=1, b=2)
    assert parse_expression("default(a, b)").evaluate(scope) == 1
    assert scope.looked_up == ["a"]


def test_default_does_not_hide_errors_in_the_fallback() -> None:
    with pytest.raises(ExpressionError, match="no key 'zz'"):
        ev("default(inputs.missing, inputs.zz)")


def test_a_function_name_is_not_a_value() -> None:
    for text in ("len", "len + 1", "[len]", "default", "len[0]", "len.x"):
        with pytest.raises(ExpressionError, match="is a function") as info:
            parse_expression(text)
        assert "Functions: abs, all, any" in str(info.value)


def test_a_step_named_like_a_function_is_still_the_step_outside_call_position() -> None:
    expr = parse_expression("len.output + str(len(len.output))", {"len"})
    assert list(expr.names()) == [("len", ("output",)), ("len", ("output",))]
    assert expr.evaluate(DictScope(len={"output": "abc"})) == "abc3"
