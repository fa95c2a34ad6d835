"""``${...}`` inside data: parsed once per workflow, rendered once per step execution.

A value from the definition (``input``, ``outputs``, ``output``) compiles into a tree
of templates. Parts with no ``${...}`` stay constants and render to themselves at no
cost; a string that is one whole ``${...}`` renders to the value with its type; any
other string with ``${...}`` renders to text.

The expression inside ``${...}`` is an ``Expr`` (see ``expressions.parser``). Pass the
workflow's step ids so that ``${step-a.output}`` names the step ``step-a``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from collections.abc import Set as AbstractSet
from typing import Any, Protocol

from plait.errors import ExpressionError
from plait.expressions.parser import parse_expression
from plait.expressions.scope import Expr, Scope
from plait.expressions.values import to_text


class Template(Protocol):
    def render(self, scope: Scope) -> Any: ...

    def expressions(self) -> Iterator[Expr]: ...


class Const:
    """A value with no ``${...}``: rendering returns it as is, without copying."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def render(self, scope: Scope) -> Any:
        return self.value

    def expressions(self) -> Iterator[Expr]:
        return iter(())


class Whole:
    """A string that is exactly one ``${...}``: renders to the value, keeping its type."""

    __slots__ = ("expr",)

    def __init__(self, expr: Expr) -> None:
        self.expr = expr

    def render(self, scope: Scope) -> Any:
        return self.expr.evaluate(scope)

    def expressions(self) -> Iterator[Expr]:
        yield self.expr


class Interpolation:
    """Text with ``${...}`` inside: renders to a string."""

    __slots__ = ("parts",)

    def __init__(self, parts: tuple[str | Expr, ...]) -> None:
        self.parts = parts

    def render(self, scope: Scope) -> str:
        return "".join(
            part if isinstance(part, str) else to_text(part.evaluate(scope)) for part in self.parts
        )

    def expressions(self) -> Iterator[Expr]:
        for part in self.parts:
            if not isinstance(part, str):
                yield part


class DictTemplate:
    __slots__ = ("items",)

    def __init__(self, items: tuple[tuple[Any, Template], ...]) -> None:
        self.items = items

    def render(self, scope: Scope) -> dict[Any, Any]:
        return {key: value.render(scope) for key, value in self.items}

    def expressions(self) -> Iterator[Expr]:
        for _, value in self.items:
            yield from value.expressions()


class ListTemplate:
    __slots__ = ("items",)

    def __init__(self, items: tuple[Template, ...]) -> None:
        self.items = items

    def render(self, scope: Scope) -> list[Any]:
        return [item.render(scope) for item in self.items]

    def expressions(self) -> Iterator[Expr]:
        for item in self.items:
            yield from item.expressions()


def compile_template(value: Any, step_ids: Collection[str] = ()) -> Template:
    """Compile a definition value into a template. Raises ``ExpressionError`` on bad syntax.

    ``step_ids``: the workflow's step ids (a set or a dict), so that a hyphenated one
    in an expression is that step and not a subtraction.
    """
    if not isinstance(step_ids, AbstractSet | Mapping):
        step_ids = frozenset(step_ids)
    try:
        return _compile_value(value, step_ids)
    except RecursionError:  # caught here, where the stack is shallow again
        raise ExpressionError(
            "a value nested too deeply (hundreds of levels of lists or mappings)"
        ) from None


def _compile_value(value: Any, step_ids: AbstractSet[str] | Mapping[str, Any]) -> Template:
    if isinstance(value, str):
        return _compile_string(value, step_ids)
    if isinstance(value, Mapping):
        items = tuple((key, _compile_value(item, step_ids)) for key, item in value.items())
        if all(isinstance(t, Const) for _, t in items):
            return Const(value)
        return DictTemplate(items)
    if isinstance(value, list | tuple):
        templates = tuple(_compile_value(item, step_ids) for item in value)
        if all(isinstance(t, Const) for t in templates):
            return Const(value)
        return ListTemplate(templates)
    return Const(value)


def _compile_string(text: str, step_ids: Collection[str]) -> Template:
    if "${" not in text:
        return Const(text)
    parts = list(_split(text, step_ids))
    if len(parts) == 1 and not isinstance(parts[0], str):
        return Whole(parts[0])
    return Interpolation(tuple(parts))


def _split(text: str, step_ids: Collection[str]) -> Iterator[str | Expr]:
    """Split text into literal runs and parsed expressions. ``$${`` is a literal ``${``."""
    i = 0
    literal: list[str] = []
    while i < len(text):
        if text.startswith("$${", i):
            literal.append("${")
            i += 3
            continue
        if text.startswith("${", i):
            end = _closing_brace(text, i + 2)
            if literal:
                yield "".join(literal)
                literal = []
            yield parse_expression(text[i + 2 : end], step_ids)
            i = end + 1
            continue
        literal.append(text[i])
        i += 1
    if literal:
        yield "".join(literal)


def _closing_brace(text: str, start: int) -> int:
    depth = 0
    quote: str | None = None
    escaped = False
    for j in range(start, len(text)):
        ch = text[j]
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch in "{[(":
            depth += 1
        elif ch in "}])":
            if depth == 0 and ch == "}":
                return j
            depth -= 1
    raise ExpressionError(f"unclosed '${{' in {text!r}")
