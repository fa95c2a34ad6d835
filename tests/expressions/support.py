"""Helpers for the expression tests: a dict scope and one-call evaluation."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from plait.expressions import parse_expression


class DictScope:
    """Names from a dict; records every name looked up (for short-circuit tests)."""

    def __init__(self, **names: Any) -> None:
        self.names = names
        self.looked_up: list[str] = []

    def lookup(self, name: str) -> Any:
        self.looked_up.append(name)
        return self.names[name]


DATA: dict[str, Any] = {
    "inputs": {
        "n": 5,
        "f": 2.5,
        "s": "Hello",
        "l": [10, 20, 30],
        "d": {"a": 1, "b": 2, "key with space": "v", "items": "the key"},
        "none": None,
        "empty": [],
        "flag": True,
        "words": ["b", "a", "c"],
    },
    "loop": {"index": 1, "item": "x"},
    "step-a": {"output": {"result": 7, "items": ["x", "y"]}},
}
STEP_IDS = frozenset({"step-a", "fetch_users", "import", "len"})


def ev(text: str, step_ids: Collection[str] = STEP_IDS, **names: Any) -> Any:
    """Parse ``text`` and evaluate it against ``DATA`` (plus ``names``)."""
    return parse_expression(text, step_ids).evaluate(DictScope(**{**DATA, **names}))
