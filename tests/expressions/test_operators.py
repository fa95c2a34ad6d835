"""Literals, operators, precedence, comparisons, logic, lookups: what ``${...}`` computes."""

from __future__ import annotations

import re
from typing import Any

import pytest

from expressions.support import DictScope, ev
from plait.errors import ExpressionError
from plait.expressions import parse_expression


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", 1),
        ("-1", -1),
        ("2.5", 2.5),
        ("1_000", 1000),
        ("1e3", 1000.0),
        ("'text'", "text"),
        ('"text"', "text"),
        ("'it''s'", "its"),
        ("'a\\nb'", "a\nb"),
        ("true", True),
        ("false", False),
        ("null", None),
        ("True", True),
        ("False", False),
        ("None", None),
        ("[]", []),
        ("[1, 'a', null]", [1, "a", None]),
        ("[1, [2, [3]]]", [1, [2, [3]]]),
        ("(1, 2)", [1, 2]),
        ("{}", {}),
        ('{"k": 1, "l": [true]}', {"k": 1, "l": [True]}),
        ("{1: 'one', null: 'none'}", {1: "one", None: "none"}),
        ('{"n": inputs.n, inputs.s: loop.item}', {"n": 5, "Hello": "x"}),
        ("[inputs.n, inputs.l[0]]", [5, 10]),
    ],
)
def test_literals(text: str, value: Any) -> None:
    result = ev(text)
    assert result == value
    assert type(result) is type(value)


def test_list_and_dict_literals_are_new_at_each_evaluation() -> None:
    expr = parse_expression("[1, {'a': []}]")
    first = expr.evaluate(DictScope())
    first[1]["a"].append(1)
    assert expr.evaluate(DictScope()) == [1, {"a": []}]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("inputs.n + 1", 6),
        ("inputs.n - 7", -2),
        ("inputs.n * 3", 15),
        ("inputs.n / 2", 2.5),
        ("inputs.n // 2", 2),
        ("-inputs.n // 2", -3),
        ("inputs.n % 3", 2),
        ("-7 % 3", 2),
        ("inputs.n ** 2", 25),
        ("2 ** -1", 0.5),
        ("inputs.f * 2", 5.0),
        ("0.1 + 0.2", 0.1 + 0.2),
        ("-inputs.n", -5),
        ("+inputs.n", 5),
        ("- -inputs.n", 5),
        ("true + 1", 2),
        ("'a' + 'b'", "ab"),
        ("inputs.s + '!'", "Hello!"),
        ("'ab' * 3", "ababab"),
        ("3 * 'ab'", "ababab"),
        ("'ab' * 0", ""),
        ("'ab' * -2", ""),
        ("[1] + [2, 3]", [1, 2, 3]),
        ("inputs.l + [40]", [10, 20, 30, 40]),
        ("[0] * 3", [0, 0, 0]),
        ("2 * [0]", [0, 0]),
        ("(1, 2) + [3]", [1, 2, 3]),
    ],
)
def test_arithmetic(text: str, value: Any) -> None:
    result = ev(text)
    assert result == value
    assert type(result) is type(value)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("2 ** 3 ** 2", 512),
        ("-2 ** 2", -4),
        ("(-2) ** 2", 4),
        ("10 - 4 - 3", 3),
        ("100 / 10 / 5", 2.0),
        ("1 + 2 == 3", True),
        ("not 1 == 2", True),
        ("not true and false", False),
        ("true or false and false", True),
        ("(true or false) and false", False),
        ("1 if false else 2 if true else 3", 2),
        ("1 + 1 if inputs.n > 3 else 0", 2),
        ("inputs.n > 3 and inputs.s == 'Hello'", True),
        ("inputs.l[1] * 2 + inputs.d.a", 41),
        ("-inputs.l[-1]", -30),
    ],
)
def test_precedence(text: str, value: Any) -> None:
    assert ev(text) == value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("inputs.n == 5", True),
        ("inputs.n != 5", False),
        ("inputs.n < 5", False),
        ("inputs.n <= 5", True),
        ("inputs.n > 3", True),
        ("inputs.n >= 6", False),
        ("1 == 1.0", True),
        ("'5' == 5", False),
        ("inputs.none == null", True),
        ("inputs.none is null", True),
        ("inputs.n is not null", True),
        ("inputs.flag is true", True),
        ("'a' < 'b'", True),
        ("[1, 2] < [1, 3]", True),
        ("20 in inputs.l", True),
        ("25 not in inputs.l", True),
        ("'ell' in inputs.s", True),
        ("'a' in inputs.d", True),
        ("'z' in inputs.d", False),
        ("inputs.l == [10, 20, 30]", True),
        ("inputs.d == {'a': 1}", False),
    ],
)
def test_comparisons(text: str, value: bool) -> None:
    assert ev(text) is value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1 < inputs.n <= 5", True),
        ("1 < inputs.n < 5", False),
        ("0 < 1 < 2 < 3", True),
        ("3 > 2 > 2", False),
        ("1 == 1 != 2", True),
        ("10 in inputs.l in [[10, 20, 30]]", True),
    ],
)
def test_chained_comparisons(text: str, value: bool) -> None:
    assert ev(text) is value


def test_a_chain_evaluates_each_operand_once_and_stops_at_the_first_false_link() -> None:
    scope = DictScope(a=1, b=0, c=5)
    assert parse_expression("a < b < c").evaluate(scope) is False
    assert scope.looked_up == ["a", "b"]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0 or 'x'", "x"),
        ("'' or null", None),
        ("[] or inputs.l", [10, 20, 30]),
        ("inputs.n or 0", 5),
        ("inputs.n and 'yes'", "yes"),
        ("0 and 'yes'", 0),
        ("inputs.none and 1", None),
        ("inputs.empty or 'none'", "none"),
        ("1 and 2 and 3", 3),
        ("0 or '' or []", []),
    ],
)
def test_and_or_return_an_operand_as_python_does(text: str, value: Any) -> None:
    assert ev(text) == value


def test_and_or_short_circuit() -> None:
    # `nobody` is not in the scope: evaluating it would raise.
    assert ev("true or nobody.x") is True
    assert ev("false and nobody.x") is False
    assert ev("1 if true else nobody") == 1
    assert ev("nobody if false else 2") == 2
    with pytest.raises(ExpressionError, match="unknown name 'nobody'"):
        ev("false or nobody")


@pytest.mark.parametrize(
    ("value", "truth"),
    [
        (None, False),
        (0, False),
        (0.0, False),
        ("", False),
        ([], False),
        ({}, False),
        (False, False),
        (1, True),
        (-1, True),
        ("0", True),
        ("false", True),
        ([0], True),
        ({"a": None}, True),
        (True, True),
    ],
)
def test_truthiness(value: Any, truth: bool) -> None:
    assert ev("not v", v=value) is (not truth)
    assert ev("'yes' if v else 'no'", v=value) == ("yes" if truth else "no")
    assert ev("bool(v)", v=value) is truth


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("inputs.l[0]", 10),
        ("inputs.l[-1]", 30),
        ("inputs.l[loop.index]", 20),
        ("inputs.l[loop.index + 1]", 30),
        ("inputs.l[-loop.index]", 30),
        ("inputs.d['key with space']", "v"),
        ('inputs.d["a"]', 1),
        ("inputs.d.items", "the key"),
        ("inputs['d']['b']", 2),
        ("inputs.s[0]", "H"),
        ("inputs.s[-1]", "o"),
        ("inputs.l[1:]", [20, 30]),
        ("inputs.l[:2]", [10, 20]),
        ("inputs.l[1:2]", [20]),
        ("inputs.l[-2:]", [20, 30]),
        ("inputs.l[::2]", [10, 30]),
        ("inputs.l[::-1]", [30, 20, 10]),
        ("inputs.l[loop.index:]", [20, 30]),
        ("inputs.l[5:]", []),
        ("inputs.s[1:3]", "el"),
        ("inputs.s[::-1]", "olleH"),
        ("inputs.none[1:]", None),
        ("inputs.none['x']", None),
        ("[1, 2, 3][1]", 2),
        ("{'a': {'b': 3}}.a.b", 3),
        ("{'a': [1, 2]}['a'][-1]", 2),
        ("(inputs.l + [40])[3]", 40),
        ("sorted(inputs.words)[0]", "a"),
    ],
)
def test_indexing_and_slicing(text: str, value: Any) -> None:
    assert ev(text) == value


def test_dot_is_always_a_data_key_never_an_attribute() -> None:
    assert ev("inputs.d.items") == "the key"
    assert ev("m.keys", m={"keys": 1}) == 1
    with pytest.raises(ExpressionError, match="a string has no key 'upper'"):
        ev("inputs.s.upper")
    with pytest.raises(ExpressionError, match=re.escape("cannot look up 'real' in a int")):
        ev("inputs.n.real")
    with pytest.raises(ExpressionError, match="no key 'values'"):
        ev("inputs.d.values")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("'a' - 1", "cannot apply '-' to string and int"),
        ("inputs.s * 'x'", "cannot apply '*' to string and string"),
        ("inputs.l + 1", "cannot apply '+' to list and int"),
        ("inputs.d + inputs.d", "cannot apply '+' to mapping and mapping"),
        ("null + 1", "cannot apply '+' to null and int"),
        ("'%s' % inputs.n", "cannot apply '%' to string and int"),
        ("inputs.l * 1.5", "cannot apply '*' to list and float"),
        ("-inputs.s", "cannot apply '-' to string"),
        ("+null", "cannot apply '+' to null"),
        ("inputs.n / 0", "division by zero in '/'"),
        ("inputs.n // 0", "division by zero in '//'"),
        ("inputs.n % 0", "division by zero in '%'"),
        ("0 ** -1", "division by zero in '**'"),
        ("'a' < 1", "cannot apply '<' to string and int"),
        ("1 < 2 < 'a'", "cannot apply '<' to int and string"),
        ("1 in inputs.s", "cannot apply 'in' to int and string"),
        ("1 in inputs.n", "cannot apply 'in' to int and int"),
        ("[1] in inputs.d", "cannot apply 'in' to list and mapping"),
        ("inputs.l[1:'a']", "slice bounds must be whole numbers or null, not string"),
        ("inputs.l[::0]", "a slice step cannot be zero"),
        ("inputs.d[1:]", "cannot slice a mapping"),
        ("inputs.l[1.0]", "a key or index must be a string or a whole number, not float"),
        ("inputs.l[true]", "a key or index must be a string or a whole number, not bool"),
        ("inputs.l[null]", "a key or index must be a string or a whole number, not null"),
        ("inputs.l[7]", "index 7 is out of range (length 3)"),
        ("inputs.d[loop.item + 'y']", "no key 'xy'"),
        ("{[1]: 2}", "a mapping key cannot be a list"),
    ],
)
def test_runtime_errors_name_the_operation_and_the_types(text: str, message: str) -> None:
    with pytest.raises(ExpressionError) as info:
        ev(text)
    assert message in str(info.value)
    assert f"${{{text}}}" in str(info.value)


def test_a_type_error_is_never_a_raw_type_error() -> None:
    for text in ("inputs.d < inputs.l", "sorted([1, 'a'])", "inputs.l - inputs.l", "-inputs.d"):
        with pytest.raises(ExpressionError):
            ev(text)
