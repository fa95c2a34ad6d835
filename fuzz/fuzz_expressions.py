"""atheris harness: bytes as ``${...}`` text, parsed, evaluated against awkward data,
and compiled as a template and rendered. Only ``ExpressionError`` may come out. See
fuzz/README.md."""

from __future__ import annotations

import contextlib
import math
import sys
from typing import Any

import atheris

with atheris.instrument_imports():
    from plait.errors import ExpressionError
    from plait.expressions import compile_template, parse_expression

STEP_IDS = frozenset({"step-a", "fetch_users", "len"})


class Scope:
    def __init__(self, names: dict[str, Any]) -> None:
        self.names = names

    def lookup(self, name: str) -> Any:
        return self.names[name]


def names() -> dict[str, Any]:
    loop: list[Any] = [1]
    loop.append(loop)
    return {
        "inputs": {"n": 5, "s": "Hello", "l": [10, 20, 30], "d": {"a": 1}, "none": None},
        "step-a": {"output": {"result": 7, "items": ["x", "y"]}},
        "loop": {"index": 1, "item": "x", "results": loop},
        "parallel": {"index": 0, "item": math.nan, "items": [math.inf, -math.inf, 10**4000]},
    }


def test_one_input(data: bytes) -> None:
    text = atheris.FuzzedDataProvider(data).ConsumeUnicodeNoSurrogates(len(data))
    scope = Scope(names())
    with contextlib.suppress(ExpressionError):
        parse_expression(text, STEP_IDS).evaluate(scope)
    with contextlib.suppress(ExpressionError):
        compile_template({"k": [f"a ${{{text}}} b", text]}, STEP_IDS).render(scope)


def main() -> None:
    if not any(arg.startswith("-timeout") for arg in sys.argv):
        sys.argv.append("-timeout=10")
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
