"""The nodes of a compiled expression: small objects that evaluate against a scope.

The parser turns the text into a tree of these once; a run only calls ``evaluate``.
``Path`` (in ``expressions.scope``) is the leaf that reads names; everything here combines
values. Each node keeps the whole expression's text for its messages, so an error deep
inside says which ``${...}`` it came from::

    ${inputs.n > 3}          Compare(">", Path("inputs", ("n",)), Literal(3))
    ${len(a.output) or 1}    Or(Call(len, Path("a", ("output",))), Literal(1))

Operators take plain data (numbers, strings, lists, mappings, null) and refuse anything
else with an ``ExpressionError`` naming the operation and the types: a value from a
tool is never asked for its own ``__add__``. Operations that build text or lists check
the size of what they would build before building it (``values.check_size``).

Cost, measured on CPython 3.11 with a dict scope: ``inputs.n`` (a ``Path``) 0.6 µs,
``inputs.n > 3`` 0.8 µs, ``1 < inputs.n <= 5`` 1.1 µs, ``len(inputs.l) > 2 and
inputs.s == 'x'`` 3.4 µs.
"""

from __future__ import annotations

import operator
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from typing import Any

from plait.errors import ExpressionError
from plait.expressions.functions import Function
from plait.expressions.scope import Expr, Scope, get_key
from plait.expressions.values import (
    MAX_EXPONENT,
    MAX_INT_BITS,
    Refused,
    check_size,
    expression_error,
    kind,
    size_of,
)

Names = Iterator[tuple[str, tuple[str | int, ...]]]


class ExprNode(ABC):
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    @abstractmethod
    def evaluate(self, scope: Scope) -> Any:
        """The expression's value in ``scope``; ``ExpressionError`` if it has none."""

    def names(self) -> Names:
        return iter(())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.text!r})"


class Literal(ExprNode):
    __slots__ = ("value",)

    def __init__(self, value: Any, text: str) -> None:
        super().__init__(text)
        self.value = value

    def evaluate(self, scope: Scope) -> Any:
        return self.value


class ListExpr(ExprNode):
    """``[a, b]``: a new list at every evaluation."""

    __slots__ = ("items",)

    def __init__(self, items: tuple[Expr, ...], text: str) -> None:
        super().__init__(text)
        self.items = items

    def evaluate(self, scope: Scope) -> list[Any]:
        return [item.evaluate(scope) for item in self.items]

    def names(self) -> Names:
        for item in self.items:
            yield from item.names()


_KEY_TYPES = (str, int, float, bool, type(None))


class DictExpr(ExprNode):
    """``{"k": v}``: a new mapping at every evaluation; keys are strings, numbers or null."""

    __slots__ = ("pairs",)

    def __init__(self, pairs: tuple[tuple[Expr, Expr], ...], text: str) -> None:
        super().__init__(text)
        self.pairs = pairs

    def evaluate(self, scope: Scope) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        for key_expr, value_expr in self.pairs:
            key = key_expr.evaluate(scope)
            if not isinstance(key, _KEY_TYPES):
                raise expression_error(self.text, f"a mapping key cannot be a {kind(key)}")
            result[key] = value_expr.evaluate(scope)
        return result

    def names(self) -> Names:
        for key, value in self.pairs:
            yield from key.names()
            yield from value.names()


class Keys(ExprNode):
    """``(expr).key[0]``: constant keys looked up in a computed value (as ``Path`` does)."""

    __slots__ = ("base", "keys")

    def __init__(self, base: Expr, keys: tuple[str | int, ...], text: str) -> None:
        super().__init__(text)
        self.base = base
        self.keys = keys

    def evaluate(self, scope: Scope) -> Any:
        value = self.base.evaluate(scope)
        for key in self.keys:
            value = get_key(value, key, self.text)
        return value

    def names(self) -> Names:
        return self.base.names()


class Index(ExprNode):
    """``value[key]`` where the key is computed: ``inputs.l[loop.index]``."""

    __slots__ = ("base", "key")

    def __init__(self, base: Expr, key: Expr, text: str) -> None:
        super().__init__(text)
        self.base = base
        self.key = key

    def evaluate(self, scope: Scope) -> Any:
        value = self.base.evaluate(scope)
        key = self.key.evaluate(scope)
        if isinstance(key, bool) or not isinstance(key, str | int):
            raise expression_error(
                self.text, f"a key or index must be a string or a whole number, not {kind(key)}"
            )
        return get_key(value, key, self.text)

    def names(self) -> Names:
        yield from self.base.names()
        yield from self.key.names()


class Slice(ExprNode):
    """``value[lower:upper:step]`` on a list or a string; on null, null."""

    __slots__ = ("base", "bounds")

    def __init__(
        self, base: Expr, bounds: tuple[Expr | None, Expr | None, Expr | None], text: str
    ) -> None:
        super().__init__(text)
        self.base = base
        self.bounds = bounds

    def evaluate(self, scope: Scope) -> Any:
        value = self.base.evaluate(scope)
        bounds = [None if b is None else b.evaluate(scope) for b in self.bounds]
        for bound in bounds:
            if bound is not None and (isinstance(bound, bool) or not isinstance(bound, int)):
                raise expression_error(
                    self.text, f"slice bounds must be whole numbers or null, not {kind(bound)}"
                )
        if value is None:
            return None
        if not isinstance(value, list | tuple | str):
            raise expression_error(self.text, f"cannot slice a {kind(value)}")
        if bounds[2] == 0:
            raise expression_error(self.text, "a slice step cannot be zero")
        result = value[slice(*bounds)]
        return list(result) if isinstance(result, tuple) else result

    def names(self) -> Names:
        yield from self.base.names()
        for bound in self.bounds:
            if bound is not None:
                yield from bound.names()


# -- operators ---------------------------------------------------------------------------

Operation = Callable[[Any, Any, int], Any]


def _numbers(a: Any, b: Any) -> bool:
    return isinstance(a, int | float) and isinstance(b, int | float)


def _add(a: Any, b: Any, limit: int) -> Any:
    if _numbers(a, b):
        return a + b
    if isinstance(a, str) and isinstance(b, str):
        check_size(len(a) + len(b), limit)
        return a + b
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        check_size(size_of(a, limit) + size_of(b, limit), limit)
        return [*a, *b]
    raise TypeError


def _mul(a: Any, b: Any, limit: int) -> Any:
    if _numbers(a, b):
        if isinstance(a, int) and isinstance(b, int):
            _check_bits(a.bit_length() + b.bit_length())
        return a * b
    if isinstance(a, int) and not isinstance(b, int | float):
        a, b = b, a
    if isinstance(a, str | list | tuple) and isinstance(b, int):
        if not a:
            return a[:0] if isinstance(a, str) else []
        check_size((len(a) if isinstance(a, str) else size_of(a, limit)) * max(b, 0), limit)
        return a * b if isinstance(a, str) else list(a) * b
    raise TypeError


def _check_bits(bits: int) -> None:
    if bits > MAX_INT_BITS:
        raise Refused(f"result too large (over {MAX_INT_BITS:,} bits)")


def _pow(a: Any, b: Any, limit: int) -> Any:
    if not _numbers(a, b):
        raise TypeError
    if isinstance(b, int):
        if abs(b) > MAX_EXPONENT:
            raise Refused(f"exponent {b} is too large (at most {MAX_EXPONENT})")
        if isinstance(a, int) and b > 0:
            _check_bits(abs(a).bit_length() * b)
    result = a**b
    if isinstance(result, complex):
        raise Refused(f"({a}) ** {b} is not a real number")
    return result


def _arithmetic(op: Callable[[Any, Any], Any]) -> Operation:
    def apply(a: Any, b: Any, limit: int) -> Any:
        if _numbers(a, b):
            return op(a, b)
        raise TypeError

    return apply


BINARY: dict[str, Operation] = {
    "+": _add,
    "-": _arithmetic(operator.sub),
    "*": _mul,
    "/": _arithmetic(operator.truediv),
    "//": _arithmetic(operator.floordiv),
    "%": _arithmetic(operator.mod),  # numbers only: never "%s" % x formatting
    "**": _pow,
}


class Binary(ExprNode):
    """``a + b`` and the other arithmetic operators."""

    __slots__ = ("left", "limit", "op", "right", "symbol")

    def __init__(self, symbol: str, left: Expr, right: Expr, limit: int, text: str) -> None:
        super().__init__(text)
        self.symbol = symbol
        self.op = BINARY[symbol]
        self.left = left
        self.right = right
        self.limit = limit

    def evaluate(self, scope: Scope) -> Any:
        a = self.left.evaluate(scope)
        b = self.right.evaluate(scope)
        try:
            return self.op(a, b, self.limit)
        except TypeError:
            message = f"cannot apply '{self.symbol}' to {kind(a)} and {kind(b)}"
        except ZeroDivisionError:
            message = f"division by zero in '{self.symbol}'"
        except OverflowError:
            message = f"result of '{self.symbol}' too large"
        except Refused as exc:
            message = f"'{self.symbol}': {exc}"
        raise expression_error(self.text, message)

    def names(self) -> Names:
        yield from self.left.names()
        yield from self.right.names()


def _negate(value: Any) -> Any:
    if isinstance(value, int | float):
        return -value
    raise TypeError


def _plus(value: Any) -> Any:
    if isinstance(value, int | float):
        return +value
    raise TypeError


UNARY: dict[str, Callable[[Any], Any]] = {"-": _negate, "+": _plus}


class Unary(ExprNode):
    """``-x`` and ``+x`` on numbers."""

    __slots__ = ("op", "operand", "symbol")

    def __init__(self, symbol: str, operand: Expr, text: str) -> None:
        super().__init__(text)
        self.symbol = symbol
        self.op = UNARY[symbol]
        self.operand = operand

    def evaluate(self, scope: Scope) -> Any:
        value = self.operand.evaluate(scope)
        try:
            return self.op(value)
        except TypeError:
            raise expression_error(
                self.text, f"cannot apply '{self.symbol}' to {kind(value)}"
            ) from None

    def names(self) -> Names:
        return self.operand.names()


class Not(ExprNode):
    __slots__ = ("operand",)

    def __init__(self, operand: Expr, text: str) -> None:
        super().__init__(text)
        self.operand = operand

    def evaluate(self, scope: Scope) -> bool:
        return not self.operand.evaluate(scope)

    def names(self) -> Names:
        return self.operand.names()


# -- comparisons and logic ---------------------------------------------------------------

COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "in": lambda a, b: a in b,
    "not in": lambda a, b: a not in b,
    "is": operator.is_,  # the parser allows it only against null, true and false
    "is not": operator.is_not,
}
# RecursionError: `==` between two deeply nested values from tools.
_COMPARE_ERRORS = (TypeError, RecursionError)


class Compare(ExprNode):
    """``a < b``: one comparison (the common case, kept to two calls)."""

    __slots__ = ("left", "op", "right", "symbol")

    def __init__(self, symbol: str, left: Expr, right: Expr, text: str) -> None:
        super().__init__(text)
        self.symbol = symbol
        self.op = COMPARE[symbol]
        self.left = left
        self.right = right

    def evaluate(self, scope: Scope) -> bool:
        a = self.left.evaluate(scope)
        b = self.right.evaluate(scope)
        try:
            return self.op(a, b)
        except _COMPARE_ERRORS:
            raise _compare_error(self.text, self.symbol, a, b) from None

    def names(self) -> Names:
        yield from self.left.names()
        yield from self.right.names()


def _compare_error(text: str, symbol: str, a: Any, b: Any) -> ExpressionError:
    return expression_error(text, f"cannot apply '{symbol}' to {kind(a)} and {kind(b)}")


class Chain(ExprNode):
    """``1 < x <= 3``: each operand evaluated once, stopping at the first false link."""

    __slots__ = ("first", "links")

    def __init__(self, first: Expr, links: tuple[tuple[str, Expr], ...], text: str) -> None:
        super().__init__(text)
        self.first = first
        self.links = tuple((symbol, COMPARE[symbol], right) for symbol, right in links)

    def evaluate(self, scope: Scope) -> bool:
        a = self.first.evaluate(scope)
        for symbol, op, right in self.links:
            b = right.evaluate(scope)
            try:
                if not op(a, b):
                    return False
            except _COMPARE_ERRORS:
                raise _compare_error(self.text, symbol, a, b) from None
            a = b
        return True

    def names(self) -> Names:
        yield from self.first.names()
        for _, _, right in self.links:
            yield from right.names()


class And(ExprNode):
    """``a and b``: the first false operand, or the last one (as in Python)."""

    __slots__ = ("operands",)

    def __init__(self, operands: tuple[Expr, ...], text: str) -> None:
        super().__init__(text)
        self.operands = operands

    def evaluate(self, scope: Scope) -> Any:
        value = None
        for operand in self.operands:
            value = operand.evaluate(scope)
            if not value:
                return value
        return value

    def names(self) -> Names:
        for operand in self.operands:
            yield from operand.names()


class Or(And):
    """``a or b``: the first true operand, or the last one (as in Python)."""

    __slots__ = ()

    def evaluate(self, scope: Scope) -> Any:
        value = None
        for operand in self.operands:
            value = operand.evaluate(scope)
            if value:
                return value
        return value


class IfElse(ExprNode):
    """``a if condition else b``."""

    __slots__ = ("body", "orelse", "test")

    def __init__(self, test: Expr, body: Expr, orelse: Expr, text: str) -> None:
        super().__init__(text)
        self.test = test
        self.body = body
        self.orelse = orelse

    def evaluate(self, scope: Scope) -> Any:
        if self.test.evaluate(scope):
            return self.body.evaluate(scope)
        return self.orelse.evaluate(scope)

    def names(self) -> Names:
        yield from self.test.names()
        yield from self.body.names()
        yield from self.orelse.names()


# -- calls -------------------------------------------------------------------------------

# What a function of the table may raise on bad data (int("x"), min([1, "a"]), json of a
# deeply nested value): it becomes an ExpressionError naming the function.
_CALL_ERRORS = (TypeError, ValueError, OverflowError, ZeroDivisionError, RecursionError)


class Call(ExprNode):
    """``len(x)``: a call to a function of ``functions.FUNCTIONS``, chosen at parse time."""

    __slots__ = ("args", "function", "limit")

    def __init__(self, function: Function, args: tuple[Expr, ...], limit: int, text: str) -> None:
        super().__init__(text)
        self.function = function
        self.args = args
        self.limit = limit

    def evaluate(self, scope: Scope) -> Any:
        values = [arg.evaluate(scope) for arg in self.args]
        function = self.function
        try:
            if function.builds:
                return function.fn(self.limit, *values)
            return function.fn(*values)
        except Refused as exc:
            message = str(exc)
        except _CALL_ERRORS as exc:
            message = str(exc) or type(exc).__name__
        raise expression_error(self.text, f"{function.name}(): {message}")

    def names(self) -> Names:
        for arg in self.args:
            yield from arg.names()


class Default(ExprNode):
    """``default(value, fallback)``: the fallback when the value is null or cannot be read.

    The value is evaluated first; if it is ``null`` or its evaluation raises an
    ``ExpressionError`` (a missing key, an index out of range, a type error), the
    fallback is evaluated and returned. ``names()`` gives the value's names with their
    first key only: ``default(inputs.opts.retries, 3)`` reads ``inputs.opts``, and
    ``retries`` may be absent on purpose.
    """

    __slots__ = ("fallback", "value")

    def __init__(self, value: Expr, fallback: Expr, text: str) -> None:
        super().__init__(text)
        self.value = value
        self.fallback = fallback

    def evaluate(self, scope: Scope) -> Any:
        try:
            value = self.value.evaluate(scope)
        except ExpressionError:
            return self.fallback.evaluate(scope)
        if value is None:
            return self.fallback.evaluate(scope)
        return value

    def names(self) -> Names:
        for root, keys in self.value.names():
            yield root, keys[:1]
        yield from self.fallback.names()
