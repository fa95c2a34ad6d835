"""Parse the text inside ``${...}`` into a tree of evaluator nodes, once.

The language is a small, safe subset of Python expressions, read by Python's own parser
(``ast.parse(mode="eval")``) and then rebuilt node by node from an allow-list::

    literals      1  2.5  "text"  true false null (and True False None)  [a, b]  {"k": v}
    references    inputs.n  step-a.output.items[0]["a key"]  loop.item  (always data keys)
    operators     + - * / // % **   - + not   == != < <= > >= in  not in   and or
                  a if condition else b      x[i]  x[1:3]  x[-1]
    calls         len(x) ... default(value, fallback): only ``functions.FUNCTION_NAMES``

Nothing else is built: no attribute of a Python object is ever read (``x.name`` is the
key ``name`` of the data), nothing is called but the table's functions, and the text
is never given to ``eval`` or ``compile``. A name or key starting with ``__`` is
refused outright. Sizes are bounded before anything runs: the text's length, the
tree's depth and node count (so ``ast.parse``'s own ``RecursionError`` and a deep tree
never escape as anything but an ``ExpressionError``), and what one evaluation may build
(``values.MAX_SIZE``, shared between the operations that build text or lists).

A text that is just a reference parses to a plain ``Path``: the common case costs
one scope lookup and one dict lookup per key.
"""

from __future__ import annotations

import ast
import warnings
from collections.abc import Callable, Collection, Mapping
from collections.abc import Set as AbstractSet
from typing import Any

from plait.errors import ExpressionError
from plait.expressions.evaluator import (
    BINARY,
    And,
    Binary,
    Call,
    Chain,
    Compare,
    Default,
    DictExpr,
    IfElse,
    Index,
    Keys,
    ListExpr,
    Literal,
    Not,
    Or,
    Slice,
    Unary,
)
from plait.expressions.functions import DEFAULT, FUNCTION_NAMES, FUNCTIONS
from plait.expressions.mangle import Mangled, Unbalanced, dot_without_key, mangle
from plait.expressions.scope import Expr, Path
from plait.expressions.values import (
    MAX_DEPTH,
    MAX_EXPRESSION_LENGTH,
    MAX_NODES,
    MAX_SIZE,
    expression_error,
)

__all__ = ["MAX_EXPRESSION_LENGTH", "parse_expression"]


def parse_expression(text: str, step_ids: Collection[str] = ()) -> Expr:
    """Parse one expression; raise ``ExpressionError`` naming the text and what is wrong.

    ``step_ids`` are the workflow's step ids: a hyphenated one (``step-a``) in name
    position is that step, not a subtraction. Pass a set or a dict (``in`` is used
    once per name).
    """
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(
            f"${{{text[:40]}...}}: expression longer than {MAX_EXPRESSION_LENGTH:,} characters"
        )
    source = text.strip()
    if not source:
        raise expression_error(text, "empty expression; write a name such as inputs.x")
    if not isinstance(step_ids, AbstractSet | Mapping):
        step_ids = frozenset(step_ids)
    try:
        mangled = mangle(source, step_ids)
    except Unbalanced as exc:
        raise expression_error(source, str(exc)) from None
    tree = _parse(source, mangled)
    builds = _measure(tree, source)
    # Every node runs at most once per evaluation (no loops, no comprehensions), so
    # sharing MAX_SIZE between the nodes that build bounds what one evaluation builds.
    limit = max(MAX_SIZE // max(builds, 1), MAX_SIZE // MAX_NODES)
    return _Builder(source, mangled, step_ids, limit).build(tree.body)


def _parse(source: str, mangled: Mangled) -> ast.Expression:
    # Parentheses let an expression span lines (YAML block scalars); `mangle` has
    # checked that the text closes no bracket it did not open.
    try:
        with warnings.catch_warnings():
            # SyntaxWarning ("invalid escape sequence", "'is' with a literal") would
            # print to the run's stderr; the expression is checked by the builder.
            warnings.simplefilter("ignore")
            return ast.parse(f"(\n{mangled.text}\n)", mode="eval")
    except SyntaxError as exc:
        message = _syntax_message(exc, mangled)
    except (RecursionError, MemoryError):
        message = "nested too deeply"
    except ValueError as exc:  # null bytes; an integer literal of more than 4300 digits
        message = str(exc)
    raise expression_error(source, message)


def _syntax_message(exc: SyntaxError, mangled: Mangled) -> str:
    dot = dot_without_key(mangled.text)
    if dot is not None:
        return f"expected a key after '.' at column {dot + 1} (write x[0] for an index)"
    message = mangled.unmangle(exc.msg or "invalid syntax")
    lines = mangled.text.split("\n")
    line = (exc.lineno or 0) - 2  # line 1 is the opening parenthesis
    if 0 <= line < len(lines) and exc.offset:
        near = mangled.unmangle(lines[line][exc.offset - 1 : exc.offset + 19]).strip()
        message += f" at {near!r}" if near else " at the end"
    return message


def _measure(tree: ast.Expression, source: str) -> int:
    """Check depth and node count without recursion; return how many nodes may build."""
    stack: list[tuple[ast.AST, int]] = [(tree.body, 1)]
    nodes = builds = 0
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if depth > MAX_DEPTH:
            raise expression_error(source, f"nested more than {MAX_DEPTH} levels deep")
        if nodes > MAX_NODES:
            raise expression_error(source, f"more than {MAX_NODES:,} parts")
        if _builds(node):
            builds += 1
        stack.extend(
            (child, depth + 1)
            for child in ast.iter_child_nodes(node)
            if not isinstance(child, _MARKERS)
        )
    return builds


# Load contexts and operator singletons: part of their parent, not parts of their own.
_MARKERS = (ast.expr_context, ast.operator, ast.unaryop, ast.cmpop, ast.boolop)


def _builds(node: ast.AST) -> bool:
    if isinstance(node, ast.BinOp):
        return isinstance(node.op, ast.Add | ast.Mult)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        function = FUNCTIONS.get(node.func.id)
        return function is not None and function.builds
    return False


_BINARY_SYMBOLS: dict[type[ast.operator], str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
}
_REFUSED_OPERATORS: dict[type[ast.AST], str] = {
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.BitAnd: "&",
    ast.Invert: "~",
}
_COMPARE_SYMBOLS: dict[type[ast.cmpop], str] = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.In: "in",
    ast.NotIn: "not in",
    ast.Is: "is",
    ast.IsNot: "is not",
}
_LITERAL_NAMES = {"true": True, "false": False, "null": None}
_REFUSED: dict[type[ast.AST], str] = {
    ast.Lambda: "lambda is not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.JoinedStr: "f-strings are not allowed; join text with + or str()",
    ast.FormattedValue: "f-strings are not allowed",
    ast.NamedExpr: "':=' is not allowed",
    ast.Starred: "'*' unpacking is not allowed",
    ast.Set: "sets are not supported; write a list [a, b]",
    ast.Await: "await is not allowed",
    ast.Yield: "yield is not allowed",
    ast.YieldFrom: "yield is not allowed",
}


class _Builder:
    """Rebuilds an ``ast`` tree as evaluator nodes, refusing anything not allowed.

    Recursive, but ``_measure`` has bounded the depth before it runs.
    """

    def __init__(self, text: str, mangled: Mangled, step_ids: Collection[str], limit: int) -> None:
        self.text = text
        self.mangled = mangled
        self.step_ids = step_ids
        self.limit = limit

    def build(self, node: ast.expr) -> Expr:
        method = _BUILDERS.get(type(node))
        if method is None:
            message = _REFUSED.get(type(node), f"{type(node).__name__} is not allowed")
            raise self.error(message)
        return method(self, node)

    def error(self, message: str) -> ExpressionError:
        return expression_error(self.text, message)

    def check_name(self, name: str) -> None:
        if name.startswith("__"):
            raise self.error(f"'{name}': names and keys starting with '__' are not allowed")

    # -- leaves ---------------------------------------------------------------------

    def constant(self, node: ast.Constant) -> Expr:
        value = node.value
        if value is None or isinstance(value, bool | int | float | str):
            return Literal(value, self.text)
        raise self.error(f"{type(value).__name__} literals are not supported")

    def name(self, node: ast.Name) -> Expr:
        name = self.mangled.original(node.id)
        if name in self.step_ids:
            return Path(name, (), self.text)
        if name in _LITERAL_NAMES:
            return Literal(_LITERAL_NAMES[name], self.text)
        self.check_name(name)
        if name in FUNCTION_NAMES:
            raise self.error(
                f"'{name}' is a function: call it, as in {_usage(name)}. "
                f"Functions: {', '.join(FUNCTION_NAMES)}"
            )
        return Path(name, (), self.text)

    # -- lookups --------------------------------------------------------------------

    def attribute(self, node: ast.Attribute) -> Expr:
        key = self.mangled.original(node.attr)
        self.check_name(key)
        return self.with_key(self.build(node.value), key)

    def subscript(self, node: ast.Subscript) -> Expr:
        base = self.build(node.value)
        index = node.slice
        if isinstance(index, ast.Slice):
            bounds = (self.optional(index.lower), self.optional(index.upper))
            return Slice(base, (*bounds, self.optional(index.step)), self.text)
        if isinstance(index, ast.Tuple):
            raise self.error("x[a, b] is not allowed; look up one key at a time: x[a][b]")
        key = self.build(index)
        if isinstance(key, Literal) and type(key.value) in (str, int):
            if isinstance(key.value, str):
                self.check_name(key.value)
            return self.with_key(base, key.value)
        return Index(base, key, self.text)

    def with_key(self, base: Expr, key: str | int) -> Expr:
        if type(base) is Path:
            return Path(base.root, (*base.keys, key), self.text)
        if type(base) is Keys:
            return Keys(base.base, (*base.keys, key), self.text)
        return Keys(base, (key,), self.text)

    def optional(self, node: ast.expr | None) -> Expr | None:
        return None if node is None else self.build(node)

    # -- literals -------------------------------------------------------------------

    def sequence(self, node: ast.List | ast.Tuple) -> Expr:
        return ListExpr(tuple(self.build(item) for item in node.elts), self.text)

    def mapping(self, node: ast.Dict) -> Expr:
        pairs: list[tuple[Expr, Expr]] = []
        for key, value in zip(node.keys, node.values, strict=True):
            if key is None:
                raise self.error("'**' unpacking is not allowed")
            pairs.append((self.build(key), self.build(value)))
        return DictExpr(tuple(pairs), self.text)

    # -- operators ------------------------------------------------------------------

    def binary(self, node: ast.BinOp) -> Expr:
        symbol = _BINARY_SYMBOLS.get(type(node.op))
        if symbol is None:
            raise self.error(f"operator '{_REFUSED_OPERATORS[type(node.op)]}' is not supported")
        assert symbol in BINARY
        return Binary(symbol, self.build(node.left), self.build(node.right), self.limit, self.text)

    def unary(self, node: ast.UnaryOp) -> Expr:
        if isinstance(node.op, ast.Not):
            return Not(self.build(node.operand), self.text)
        if isinstance(node.op, ast.Invert):
            raise self.error("operator '~' is not supported")
        symbol = "-" if isinstance(node.op, ast.USub) else "+"
        operand = self.build(node.operand)
        if isinstance(operand, Literal) and type(operand.value) in (int, float):
            # Folded so that `x[-1]` is a constant key and `-1` costs nothing.
            return Literal(-operand.value if symbol == "-" else operand.value, self.text)
        return Unary(symbol, operand, self.text)

    def boolean(self, node: ast.BoolOp) -> Expr:
        operands = tuple(self.build(value) for value in node.values)
        return (And if isinstance(node.op, ast.And) else Or)(operands, self.text)

    def compare(self, node: ast.Compare) -> Expr:
        links: list[tuple[str, Expr]] = []
        for op, right in zip(node.ops, node.comparators, strict=True):
            symbol = _COMPARE_SYMBOLS[type(op)]
            operand = self.build(right)
            if symbol in ("is", "is not") and not (
                isinstance(operand, Literal)
                and any(operand.value is v for v in (None, True, False))
            ):
                raise self.error(f"'{symbol}' compares only with null, true or false; use ==")
            links.append((symbol, operand))
        first = self.build(node.left)
        if len(links) == 1:
            return Compare(links[0][0], first, links[0][1], self.text)
        return Chain(first, tuple(links), self.text)

    def conditional(self, node: ast.IfExp) -> Expr:
        test, body, orelse = (self.build(n) for n in (node.test, node.body, node.orelse))
        return IfElse(test, body, orelse, self.text)

    # -- calls ----------------------------------------------------------------------

    def call(self, node: ast.Call) -> Expr:
        name = self.function_name(node.func)
        if node.keywords:
            raise self.error(f"{name}() takes no keyword arguments; write {_usage(name)}")
        args = tuple(self.build(arg) for arg in node.args)
        if name == DEFAULT:
            if len(args) != 2:
                raise self.error(f"default() takes 2 arguments, not {len(args)}")
            return Default(args[0], args[1], self.text)
        function = FUNCTIONS[name]
        if not function.min_args <= len(args) <= function.max_args:
            raise self.error(f"wrong number of arguments to {name}(); write {function.usage}")
        return Call(function, args, self.limit, self.text)

    def function_name(self, func: ast.expr) -> str:
        allowed = ", ".join(FUNCTION_NAMES)
        if isinstance(func, ast.Attribute):
            raise self.error(
                f"method calls such as .{self.mangled.original(func.attr)}() are not "
                f"allowed; call a function such as lower(x). Functions: {allowed}"
            )
        if not isinstance(func, ast.Name):
            raise self.error(f"only a function can be called. Functions: {allowed}")
        name = self.mangled.original(func.id)
        self.check_name(name)
        if name not in FUNCTION_NAMES:
            raise self.error(f"unknown function '{name}'. Functions: {allowed}")
        return name


def _usage(name: str) -> str:
    return FUNCTIONS[name].usage if name in FUNCTIONS else "default(value, fallback)"


_BUILDERS: dict[type[ast.AST], Callable[[_Builder, Any], Expr]] = {
    ast.Constant: _Builder.constant,
    ast.Name: _Builder.name,
    ast.Attribute: _Builder.attribute,
    ast.Subscript: _Builder.subscript,
    ast.List: _Builder.sequence,
    ast.Tuple: _Builder.sequence,
    ast.Dict: _Builder.mapping,
    ast.BinOp: _Builder.binary,
    ast.UnaryOp: _Builder.unary,
    ast.BoolOp: _Builder.boolean,
    ast.Compare: _Builder.compare,
    ast.IfExp: _Builder.conditional,
    ast.Call: _Builder.call,
}
