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
"""

from __future__ import annotations

import json
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
