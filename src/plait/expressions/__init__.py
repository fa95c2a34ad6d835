"""``${...}`` expressions: parsed once, evaluated safely against a scope of names."""

from plait.expressions.ast import Expr, Path, Scope
from plait.expressions.parser import parse_expression
from plait.expressions.template import Const, Template, compile_template

__all__ = ["Const", "Expr", "Path", "Scope", "Template", "compile_template", "parse_expression"]
