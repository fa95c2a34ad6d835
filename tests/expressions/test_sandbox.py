"""The language is safe: escapes, huge results and deep nesting are refused, quickly.

"Quickly" is asserted loosely (a second of wall time for the lot would already mean a
bug): the point is that each is refused by a bound, not by running out of memory.
"""

from __future__ import annotations

import contextlib
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from expressions.support import DATA, STEP_IDS, DictScope
from plait.errors import ExpressionError
from plait.expressions import FUNCTION_NAMES, compile_template, parse_expression


def refused(text: str) -> str:
    """Parse and evaluate ``text``; return the ExpressionError's message."""
    started = time.perf_counter()
    with pytest.raises(ExpressionError) as info:
        parse_expression(text, STEP_IDS).evaluate(DictScope(**DATA))
    assert time.perf_counter() - started < 1.0, text
    return str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__class__", "names and keys starting with '__' are not allowed"),
        ("inputs.__class__", "names and keys starting with '__' are not allowed"),
        ("inputs['__class__']", "names and keys starting with '__' are not allowed"),
        ("inputs.s.__class__.__subclasses__()", "method calls such as .__subclasses__()"),
        ("inputs.l.__len__", "'__len__': names and keys starting with '__'"),
        ("__subclasses__", "names and keys starting with '__' are not allowed"),
        ("x.__globals__", "names and keys starting with '__' are not allowed"),
        ("().__class__.__bases__", "names and keys starting with '__' are not allowed"),
        ("().__class__.__bases__[0].__subclasses__()", "method calls"),
        ("__import__('os')", "'__import__': names and keys starting with '__'"),
        ("__builtins__", "names and keys starting with '__' are not allowed"),
        ("import os", "invalid syntax"),
        ("exec('1')", "unknown function 'exec'"),
        ("eval('1')", "unknown function 'eval'"),
        ("open('/etc/passwd')", "unknown function 'open'"),
        ("getattr(inputs, 'x')", "unknown function 'getattr'"),
        ("type(inputs)", "unknown function 'type'"),
        ("lambda: 1", "lambda is not allowed"),
        ("(lambda x: x)(1)", "only a function can be called"),
        ("[x for x in y]", "comprehensions are not allowed"),
        ("{x: 1 for x in y}", "comprehensions are not allowed"),
        ("{x for x in y}", "comprehensions are not allowed"),
        ("len(x for x in y)", "comprehensions are not allowed"),
        ("f'{inputs.n}'", "f-strings are not allowed"),
        ("(x := 1)", "':=' is not allowed"),
        ("[*inputs.l]", "'*' unpacking is not allowed"),
        ("{**inputs.d}", "'**' unpacking is not allowed"),
        ("len(*inputs.l)", "'*' unpacking is not allowed"),
        ("{1, 2}", "sets are not supported"),
        ("b'x'", "bytes literals are not supported"),
        ("1j", "complex literals are not supported"),
        ("...", "literals are not supported"),
        ("yield 1", "yield is not allowed"),
        ("await x", "await is not allowed"),
        ("inputs.n << 100000", "operator '<<' is not supported"),
        ("inputs.n | 1", "operator '|' is not supported"),
        ("~inputs.n", "operator '~' is not supported"),
        ("inputs.n is 5", "'is' compares only with null, true or false"),
        ("inputs.l[0, 1]", "x[a, b] is not allowed"),
        ("nope(1)", "unknown function 'nope'. Functions: abs, all, any,"),
        ("inputs.s.upper()", "method calls such as .upper() are not allowed"),
        ("(1)(2)", "only a function can be called"),
        ("inputs.l[0](1)", "only a function can be called"),
        ("len(inputs.l)(1)", "only a function can be called"),
        ("sum[0]", "'sum' is a function"),
        ("a) or (b", "unmatched ')'"),
        ("a]", "unmatched ']'"),
        ("", "empty expression"),
        ("a\x00b", "null bytes"),
    ],
)
def test_escapes_are_refused(text: str, message: str) -> None:
    assert message in refused(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("9**9**9", "exponent 387420489 is too large (at most 1000)"),
        ("inputs.n ** 9**9", "exponent 387420489 is too large"),
        ("10 ** 1001", "exponent 1001 is too large"),
        ("(2 ** 1000) ** 20", "result too large (over 10,000 bits)"),
        (
            "3 ** 1000 * 3 ** 1000 * 3 ** 1000 * 3 ** 1000 * 3 ** 1000 * 3 ** 1000 * 3 ** 1000",
            "result too large (over 10,000 bits)",
        ),
        ("2.0 ** 1000 ** 1.5", "result of '**' too large"),
        ("(-8) ** 0.5", "(-8) ** 0.5 is not a real number"),
        ("'a' * 10**9", "result too large (1,000,000,000 characters or items"),
        ("[1] * 10**9", "result too large (1,000,000,000 characters or items"),
        ("10**9 * 'ab'", "result too large"),
        ("[[1] * 1000] * 1000 * 1000", "result too large"),
        ("['a' * 500000] * 3", "result too large"),
        ("range(10**12)", "range(): result too large"),
        ("range(1000001)", "range(): result too large"),
        ("str(range(900000)) + str(range(900000))", "result too large"),
        ("join([join(['x'] * 1000)] * 1000)", "result too large"),
        ("replace('a' * 1000, 'a', 'b' * 1001)", "replace(): result too large"),
        ("('a' * 600000) + ('a' * 600000)", "result too large"),
        ("json([inputs.s] * 900000)", "result too large"),
        ("round(1, -10**9)", "takes at most 1000 digits"),
        ("int('1' * 5000)", "int(): Exceeds the limit"),
        ("int('9' * 4000)", "int(): result too large (over 10,000 bits)"),
        ("1" * 5000, "Exceeds the limit (4300 digits)"),
    ],
)
def test_huge_results_are_refused(text: str, message: str) -> None:
    assert message in refused(text)


def test_the_size_limit_is_shared_by_the_operations_that_build() -> None:
    # One operation may build 1,000,000; two share it. Each node runs at most once per
    # evaluation, so no expression builds more than about MAX_SIZE in all.
    assert len(parse_expression("'a' * 999999").evaluate(DictScope())) == 999_999
    assert "at most 500,000" in refused("['a' * 600000, 'b' * 1]")
    assert len(parse_expression("range(1000000)").evaluate(DictScope())) == 1_000_000


@pytest.mark.parametrize(
    "text",
    [
        "(" * 10_000 + ")" * 10_000,
        "[" * 10_000 + "]" * 10_000,
        "(" * 5_000 + "1" + ")" * 4_999,
        "(" * 4_999 + "1" + ")" * 4_999,
        "[" * 4_999 + "]" * 4_999,
        "{" * 4_999 + "}" * 4_999,
        "-" * 9_999 + "1",
        "not " * 2_499 + "x",
        "a" + ".b" * 4_999,
        "x" + "[0]" * 3_000,
        "1" + "+1" * 4_999,
        "f(" * 3_000 + ")" * 3_000,
        "1 if 2 else " * 800 + "3",
        "-(" * 200 + "1" + ")" * 200,
        "[" * 101 + "]" * 101,
        "x" * 10_001,
    ],
)
def test_deep_nesting_and_long_text_are_refused_cleanly(text: str) -> None:
    message = refused(text)
    assert any(
        reason in message
        for reason in (
            "nested",
            "longer than 10,000 characters",
            "too many nested parentheses",
            "never closed",
            "more than 5,000 parts",
        )
    ), message


def test_a_hundred_levels_of_nesting_are_fine() -> None:
    assert parse_expression("[" * 99 + "]" * 99).evaluate(DictScope()) is not None


def test_a_long_message_shows_the_two_ends_of_the_text() -> None:
    message = refused("1 + " * 2000 + "'x'")
    assert len(message) < 500


# -- fuzzing ------------------------------------------------------------------------

ALPHABET = st.sampled_from(
    [
        *"abcxyz_-.[](){}'\"0123456789+-*/%<>=!,:; \n\\$#@&|^~",
        *("inputs", "step-a", ".n", "**", "__", "len(", "default(", " if ", " else "),
        *(" and ", " or ", " not ", " in ", "lambda", "True", "null", "import", ".from"),
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(ALPHABET, max_size=40).map("".join))
def test_random_token_soup_raises_only_expression_error(text: str) -> None:
    try:
        expr = parse_expression(text, STEP_IDS)
    except ExpressionError:
        return
    with contextlib.suppress(ExpressionError):
        expr.evaluate(DictScope(**DATA))
    list(expr.names())


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_random_text_raises_only_expression_error(text: str) -> None:
    with contextlib.suppress(ExpressionError):
        parse_expression(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_random_templates_raise_only_expression_error(text: str) -> None:
    with contextlib.suppress(ExpressionError):
        compile_template("${" + text + "}", STEP_IDS)


_ATOMS = st.sampled_from(
    [
        "0",
        "1",
        "-1",
        "2.5",
        "1000",
        "10**6",
        "999999",
        "'ab'",
        "''",
        "true",
        "null",
        "[]",
        "{}",
        "[1, 'a']",
        "inputs.n",
        "inputs.l",
        "inputs.s",
        "inputs.d",
        "inputs.none",
        "inputs.f",
        "loop.index",
        "step-a.output",
        "inputs.words",
        "range(5)",
    ]
)
_FUNCTIONS = sorted(set(FUNCTION_NAMES) - {"default"})


def _expressions(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    binary = st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "//", "%", "**"]), inner)
    compare = st.tuples(inner, st.sampled_from(["==", "<", ">=", "in", "not in"]), inner)
    call = st.tuples(st.sampled_from([*_FUNCTIONS, "default"]), st.lists(inner, max_size=3))
    return st.one_of(
        binary.map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        compare.map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(inner, inner).map(lambda t: f"({t[0]} and {t[1]})"),
        st.tuples(inner, inner).map(lambda t: f"({t[0]} or {t[1]})"),
        inner.map(lambda e: f"(not {e})"),
        inner.map(lambda e: f"(-{e})"),
        st.tuples(inner, inner, inner).map(lambda t: f"({t[0]} if {t[1]} else {t[2]})"),
        call.map(lambda t: f"{t[0]}({', '.join(t[1])})"),
        st.tuples(inner, inner).map(lambda t: f"{t[0]}[{t[1]}]"),
        st.tuples(inner, inner).map(lambda t: f"{t[0]}[{t[1]}:]"),
        st.lists(inner, max_size=3).map(lambda items: f"[{', '.join(items)}]"),
        st.tuples(inner, inner).map(lambda t: f"{{{t[0]}: {t[1]}}}"),
    )


@settings(max_examples=500, deadline=None)
@given(st.recursive(_ATOMS, _expressions, max_leaves=12))
def test_random_valid_expressions_evaluate_or_raise_expression_error(text: str) -> None:
    started = time.perf_counter()
    with contextlib.suppress(ExpressionError):
        parse_expression(text, STEP_IDS).evaluate(DictScope(**DATA))
    assert time.perf_counter() - started < 2.0, text
