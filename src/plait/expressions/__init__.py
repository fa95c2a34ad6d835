"""``${...}`` expressions: parsed once, evaluated safely against a scope of names."""

from plait.expressions.functions import FUNCTION_NAMES
from plait.expressions.parser import parse_expression
from plait.expressions.scope import Expr, Namespace, Path, Scope
from plait.expressions.template import Const, Template, compile_template

__all__ = [
    "FUNCTION_NAMES",
    "Const",
    "Expr",
    "Namespace",
    "Path",
    "Scope",
    "Template",
    "compile_template",
    "parse_expression",
]
