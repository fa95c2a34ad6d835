"""Plain data values as expressions see them: limits, kind names, text form, bounded size.

Every bound of the expression language is here, so the parser, the operators and the
functions agree on them::

    MAX_EXPRESSION_LENGTH  characters of text inside one ``${...}``
    MAX_DEPTH, MAX_NODES   nesting and size of the parsed tree (checked before it is built)
    MAX_SIZE               characters or items that one evaluation may build, shared
                           between the operations that build text or lists
    MAX_INT_BITS           bits of an integer made by ``*`` or ``**``
    MAX_EXPONENT           ``|exponent|`` of ``**``
    MAX_RANGE              items of ``range()``

``json_size`` weighs a value as its JSON text would (a run's ``limits.maxOutputSize``
and ``maxRunSize``) without writing that text, and stops as soon as it is over.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Collection
from operator import countOf
from typing import Any

from plait.errors import ExpressionError

MAX_EXPRESSION_LENGTH = 10_000
MAX_DEPTH = 100
MAX_NODES = 5_000
MAX_SIZE = 1_000_000
MAX_INT_BITS = 10_000
MAX_EXPONENT = 1_000
MAX_RANGE = 1_000_000
MAX_ROUND_DIGITS = 1_000


class Refused(Exception):
    """An operation refused its operands; the node that ran it adds the expression text.

    Not an ``ExpressionError``: ``default()`` must not see half-made messages, and the
    message gains its ``${...}`` only once, at the node that knows the text.
    """


def expression_error(text: str, message: str) -> ExpressionError:
    """``${text}: message``, with a very long text shortened to its two ends."""
    if len(text) > 200:
        text = f"{text[:120]} ... {text[-60:]}"
    return ExpressionError(f"${{{text}}}: {message}")


_KINDS = {
    type(None): "null",
    bool: "bool",
    int: "int",
    float: "float",
    str: "string",
    list: "list",
    tuple: "list",
    dict: "mapping",
}


def kind(value: Any) -> str:
    """The name of a value's type in messages: ``null``, ``string``, ``list``, ``mapping``..."""
    return _KINDS.get(type(value)) or type(value).__name__


def is_number(value: Any) -> bool:
    return isinstance(value, int | float)


def to_text(value: Any) -> str:
    """The text of a value inside a string: strings as they are, anything else as JSON."""
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, bool | int | float):
        return json.dumps(value)
    try:
        return json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


def size_of(value: Any, limit: int) -> int:
    """Characters and leaf items in ``value``, counted until the count passes ``limit``.

    A list repeated by reference (``[big] * 1000``) is counted once per reference: that
    is what its text form or a copy would cost. The walk stops as soon as the count
    passes ``limit``, so it costs at most ``limit`` steps whatever the value's size.
    """
    total = 0
    steps = 0
    stack = [value]
    while stack:
        steps += 1
        if steps > limit:  # a structure that holds itself (a tool's `r = [1, r]`) is endless
            return max(total, limit + 1)
        item = stack.pop()
        if isinstance(item, str):
            total += len(item) or 1
        elif isinstance(item, bool | float) or item is None:
            total += 1
        elif isinstance(item, int):
            total += 1 + item.bit_length() // 32  # ~10 digits of text per unit
        elif isinstance(item, list | tuple | dict):
            if not item:
                total += 1
                continue
            # Each item costs at least 1: refuse a huge container before walking it.
            items = len(item) * 2 if isinstance(item, dict) else len(item)
            if total + items > limit:
                return total + items
            if isinstance(item, dict):
                stack.extend(item.keys())
                stack.extend(item.values())
            else:
                stack.extend(item)
        else:
            total += 1
        if total > limit:
            return total
    return total


def check_size(size: int, limit: int) -> None:
    if size > limit:
        raise Refused(
            f"result too large ({size:,} characters or items; one operation in this "
            f"expression may build at most {limit:,})"
        )


# -- the size of a value as JSON, without encoding it ------------------------------------

_NONE = type(None)


def json_size(value: Any, limit: int) -> int:
    """About ``len(json.dumps(value))``, never more, counted until it passes ``limit``.

    Exact for ASCII text without escapes, lists, mappings with text keys, ``null`` and
    booleans; a lower bound for the rest (an escape or a non-ASCII character is counted
    once, a number by its fewest digits). An object JSON cannot hold counts as its
    ``sys.getsizeof``. A list repeated by reference (``[big] * 1000``, or a list that
    holds itself) is counted once per reference, as its text would repeat it; the walk
    stops as soon as the count passes ``limit``, so it costs at most about ``limit``
    steps whatever the value (a structure built by doubling a list 40 times is refused
    after ``limit`` steps, not after 2**40). No recursion: any depth is fine.
    """
    cls = type(value)
    if cls is str:
        return len(value) + 2
    if value is None or value is True:
        return 4
    if value is False:
        return 5
    if cls is int:
        return _int_size(value)
    total = 0
    stack = [value]
    pop, push = stack.pop, stack.extend
    while stack:
        item = pop()
        cls = type(item)
        if cls is str:
            total += len(item) + 2
        elif cls is dict:
            n = len(item)
            if not n:
                total += 2
                continue
            total += 4 * n  # braces, ", " between items, ": " after each key
            if total + 2 * n > limit:  # each key and value costs at least 1 more
                return total + 2 * n
            if n >= _BULK and (keys := _bulk_keys(item.keys(), n)) is not None:
                total += keys
            else:
                push(item.keys())
            values = item.values()
            if n >= _BULK and (size := _bulk(values, n)) is not None:
                total += size
            else:
                push(values)
        elif cls is list or cls is tuple:
            n = len(item)
            if not n:
                total += 2
                continue
            total += 2 * n  # brackets and ", " between items
            if total + n > limit:  # each item costs at least 1 more
                return total + n
            if n >= _BULK and (size := _bulk(item, n)) is not None:
                total += size
            else:
                push(item)
        else:
            total += _leaf_size(item, cls, push)
        if total > limit:
            return total
    return total


_BULK = 16  # from this many items, a container of one scalar type is weighed in bulk


def _bulk_keys(keys: Collection[Any], n: int) -> int | None:
    """Text keys, at C speed (a key JSON cannot hold, such as a tuple, makes ``dumps``
    fail anyway: what it counts matters little); None if some key has no length."""
    try:
        return sum(map(len, keys)) + 2 * n
    except TypeError:  # numbers as keys
        return _bulk(keys, n)


def _bulk(items: Collection[Any], n: int) -> int | None:
    """The size of ``n`` items all of one scalar type, at C speed; None for the rest."""
    if next(iter(items)) is None and countOf(items, None) == n:
        return 4 * n  # (the outputs of a group of steps that output nothing)
    kinds = set(map(type, items))
    if len(kinds) != 1:
        return None
    kind = kinds.pop()
    if kind is str:
        return sum(map(len, items)) + 2 * n
    if kind is _NONE:
        return 4 * n
    if kind is bool:  # true, false
        return 5 * n - int(sum(items))
    if kind is int:  # digits >= 0.3 * bits - 0.2 each: a lower bound of the sum
        return max(n, (3 * sum(map(int.bit_length, items)) - 2 * n) // 10)
    if kind is float:
        return 3 * n
    return None


def _int_size(value: int) -> int:
    """The fewest digits an int of this many bits has (its sign not counted)."""
    return max(1, (3 * value.bit_length() - 2) // 10)


def _leaf_size(item: Any, cls: type, push: Any) -> int:
    """Anything but an exact str, dict, list or tuple: numbers, null, subclasses, sets,
    objects. A container of another class is pushed for the walk and counts its
    brackets here."""
    if item is None or item is True:
        return 4
    if item is False:
        return 5
    if cls is int:
        return _int_size(item)
    if cls is float:
        return 3
    if isinstance(item, str):
        return len(item) + 2
    if isinstance(item, int):  # IntEnum, bool-like subclasses
        return _int_size(int(item))
    if isinstance(item, float):
        return 3
    if isinstance(item, dict):
        push(item.keys())
        push(item.values())
        return 4 * len(item) or 2
    if isinstance(item, list | tuple | set | frozenset):
        push(item)
        return 2 * len(item) or 2
    try:
        return max(1, sys.getsizeof(item))
    except Exception:  # a broken __sizeof__ of a tool's object
        return 1
