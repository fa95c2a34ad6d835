"""Parse the text inside ``${...}``.

Today the language is a reference path: ``name``, then any of ``.key``, ``[3]``,
``["key"]``. Names may contain ``-`` (seed 002 writes ``${step-a.output.result}``), so a
name before the first ``.`` is always a name, never a subtraction. The full expression
language (operators, functions) extends this parser; ``Path`` stays its leaf.
"""

from __future__ import annotations

import re

from plait.errors import ExpressionError
from plait.expressions.ast import Expr, Path

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_KEY = re.compile(r"[A-Za-z0-9_-]+")
_INDEX = re.compile(r"\[\s*(-?\d+)\s*\]")
_QUOTED = re.compile(r"""\[\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')\s*\]""")
MAX_EXPRESSION_LENGTH = 10_000


def parse_expression(text: str) -> Expr:
    """Parse one expression; raise ``ExpressionError`` naming the text and what is wrong."""
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_EXPRESSION_LENGTH} characters")
    source = text.strip()
    match = _NAME.match(source)
    if match is None:
        raise ExpressionError(f"${{{text}}}: expected a name such as inputs.x or step_id.output")
    root = match.group()
    keys: list[str | int] = []
    pos = match.end()
    while pos < len(source):
        if source[pos] == ".":
            key = _KEY.match(source, pos + 1)
            if key is None:
                raise ExpressionError(f"${{{text}}}: expected a key after '.' at column {pos + 2}")
            keys.append(key.group())
            pos = key.end()
            continue
        index = _INDEX.match(source, pos)
        if index is not None:
            keys.append(int(index.group(1)))
            pos = index.end()
            continue
        quoted = _QUOTED.match(source, pos)
        if quoted is not None:
            raw = quoted.group(1) if quoted.group(1) is not None else quoted.group(2)
            keys.append(re.sub(r"\\(.)", r"\1", raw))
            pos = quoted.end()
            continue
        raise ExpressionError(
            f"${{{text}}}: unexpected {source[pos:]!r}; operators and functions are not "
            "supported yet, only references such as step_id.output.key[0]"
        )
    return Path(root, tuple(keys), source)
