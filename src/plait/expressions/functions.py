"""The functions an expression may call: this table, and nothing else, is callable.

A function is named in call position (``len(x)``); it is never a value, never a method
(``x.lower()`` is refused: write ``lower(x)``), and never looked up at run time. Each
takes plain data and returns plain data, and refuses bad arguments with ``Refused``
(the call node adds the function's name and the expression). A function that builds
text or lists that can grow (``range``, ``join``, ``str``...) is marked ``builds`` and
gets the size it may build as its first argument.

``default(value, fallback)`` is not here: it evaluates its first argument lazily, so
the parser builds it as its own node (``evaluator.Default``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from plait.expressions.values import (
    MAX_INT_BITS,
    MAX_RANGE,
    MAX_ROUND_DIGITS,
    Refused,
    check_size,
    kind,
    size_of,
    to_text,
)


@dataclass(frozen=True, slots=True)
class Function:
    name: str
    fn: Callable[..., Any]
    min_args: int
    max_args: int
    usage: str
    builds: bool = False


def _need(value: Any, types: type | tuple[type, ...], what: str) -> None:
    if not isinstance(value, types):
        raise Refused(f"needs {what}, not {kind(value)}")


_SEQUENCE = (list, tuple, str)
_NUMBER = (int, float)


def _len(value: Any) -> int:
    _need(value, (list, tuple, str, dict), "a string, list or mapping")
    return len(value)


def _extreme(pick: Callable[..., Any]) -> Callable[..., Any]:
    def extreme(*args: Any) -> Any:
        values = args
        if len(args) == 1:
            _need(args[0], _SEQUENCE, "a list, or two values or more")
            values = args[0]
            if not values:
                raise Refused(f"the {kind(args[0])} is empty")
        return pick(values)

    return extreme


def _sum(values: Any) -> Any:
    _need(values, (list, tuple), "a list of numbers")
    for value in values:
        _need(value, _NUMBER, "a list of numbers")
    return sum(values)


def _abs(value: Any) -> Any:
    _need(value, _NUMBER, "a number")
    return abs(value)


def _round(value: Any, digits: Any = None) -> Any:
    _need(value, _NUMBER, "a number")
    if digits is None:
        return round(value)
    _need(digits, int, "a whole number of digits")
    if abs(digits) > MAX_ROUND_DIGITS:
        raise Refused(f"takes at most {MAX_ROUND_DIGITS} digits, not {digits}")
    return round(value, digits)


def _int(value: Any) -> int:
    _need(value, (int, float, str), "a number or a string")
    number = int(value.strip() if isinstance(value, str) else value)
    if number.bit_length() > MAX_INT_BITS:
        raise Refused(f"result too large (over {MAX_INT_BITS:,} bits)")
    return number


def _float(value: Any) -> float:
    _need(value, (int, float, str), "a number or a string")
    return float(value)


def _str(limit: int, value: Any) -> str:
    check_size(size_of(value, limit), limit)
    text = to_text(value)
    check_size(len(text), limit)
    return text


def _json(limit: int, value: Any) -> str:
    check_size(size_of(value, limit), limit)
    text = json.dumps(value, ensure_ascii=False)
    check_size(len(text), limit)
    return text


def _text_function(method: Callable[[str], Any]) -> Callable[[Any], Any]:
    def apply(value: Any) -> Any:
        _need(value, str, "a string")
        return method(value)

    return apply


def _mapping_function(method: Callable[[dict[Any, Any]], Any]) -> Callable[..., Any]:
    def apply(value: Any) -> Any:
        _need(value, dict, "a mapping")
        return method(value)

    return apply


def _range(limit: int, *args: Any) -> list[int]:
    for arg in args:
        _need(arg, int, "whole numbers")
    numbers = range(*args)
    check_size(len(numbers), min(limit, MAX_RANGE))
    return list(numbers)


def _sorted(values: Any) -> list[Any]:
    _need(values, (*_SEQUENCE, dict), "a list")
    return sorted(values)


def _join(limit: int, values: Any, separator: Any = "") -> str:
    _need(values, (list, tuple), "a list as its first argument")
    _need(separator, str, "a string separator")
    check_size(size_of(values, limit) + len(separator) * len(values), limit)
    text: str = separator.join(to_text(value) for value in values)
    check_size(len(text), limit)
    return text


def _split(text: Any, separator: Any = None) -> list[str]:
    _need(text, str, "a string as its first argument")
    if separator is not None:
        _need(separator, str, "a string separator")
        if not separator:
            raise Refused("needs a separator that is not empty")
    parts: list[str] = text.split(separator)
    return parts


def _contains(container: Any, item: Any) -> bool:
    _need(container, (*_SEQUENCE, dict), "a string, list or mapping")
    if isinstance(container, str):
        _need(item, str, "a string to look for in a string")
    return item in container


def _replace(limit: int, text: Any, old: Any, new: Any) -> str:
    for value in (text, old, new):
        _need(value, str, "strings")
    count = text.count(old) if old else len(text) + 1
    check_size(len(text) + count * (len(new) - len(old)), limit)
    result: str = text.replace(old, new)
    return result


def _affix(name: str) -> Callable[[Any, Any], bool]:
    def test(text: Any, affix: Any) -> bool:
        _need(text, str, "a string as its first argument")
        _need(affix, str, "a string as its second argument")
        return bool(getattr(str, name)(text, affix))

    return test


def _truth(test: Callable[[Any], bool]) -> Callable[[Any], bool]:
    def apply(values: Any) -> bool:
        _need(values, (list, tuple), "a list")
        return test(values)

    return apply


def _table(*functions: Function) -> dict[str, Function]:
    return {f.name: f for f in functions}


FUNCTIONS: dict[str, Function] = _table(
    Function("len", _len, 1, 1, "len(value)"),
    Function("length", _len, 1, 1, "length(value)"),
    Function("min", _extreme(min), 1, 100, "min(list) or min(a, b, ...)"),
    Function("max", _extreme(max), 1, 100, "max(list) or max(a, b, ...)"),
    Function("sum", _sum, 1, 1, "sum(list)"),
    Function("abs", _abs, 1, 1, "abs(number)"),
    Function("round", _round, 1, 2, "round(number) or round(number, digits)"),
    Function("int", _int, 1, 1, "int(value)"),
    Function("float", _float, 1, 1, "float(value)"),
    Function("str", _str, 1, 1, "str(value)", builds=True),
    Function("json", _json, 1, 1, "json(value)", builds=True),
    Function("bool", bool, 1, 1, "bool(value)"),
    Function("lower", _text_function(str.lower), 1, 1, "lower(text)"),
    Function("upper", _text_function(str.upper), 1, 1, "upper(text)"),
    Function("strip", _text_function(str.strip), 1, 1, "strip(text)"),
    Function("keys", _mapping_function(lambda m: list(m.keys())), 1, 1, "keys(mapping)"),
    Function("values", _mapping_function(lambda m: list(m.values())), 1, 1, "values(mapping)"),
    Function(
        "items",
        _mapping_function(lambda m: [[k, v] for k, v in m.items()]),
        1,
        1,
        "items(mapping)",
    ),
    Function("range", _range, 1, 3, "range(stop) or range(start, stop, step)", builds=True),
    Function("sorted", _sorted, 1, 1, "sorted(list)"),
    Function("join", _join, 1, 2, "join(list, separator)", builds=True),
    Function("split", _split, 1, 2, "split(text, separator)"),
    Function("contains", _contains, 2, 2, "contains(container, item)"),
    Function("replace", _replace, 3, 3, "replace(text, old, new)", builds=True),
    Function("startswith", _affix("startswith"), 2, 2, "startswith(text, prefix)"),
    Function("endswith", _affix("endswith"), 2, 2, "endswith(text, suffix)"),
    Function("any", _truth(any), 1, 1, "any(list)"),
    Function("all", _truth(all), 1, 1, "all(list)"),
)

# Built as a node of its own (lazy first argument), listed with the others in messages.
DEFAULT = "default"
FUNCTION_NAMES: tuple[str, ...] = tuple(sorted([*FUNCTIONS, DEFAULT]))
