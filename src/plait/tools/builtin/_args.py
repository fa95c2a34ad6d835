"""Reading a built-in tool's input mapping with errors that name the key."""

from __future__ import annotations

from typing import Any

from plait.definition.durations import parse_duration
from plait.errors import ToolError


def mapping(value: Any, tool: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ToolError(
            f"{tool}: input must be a mapping, not {type(value).__name__}", type="InputError"
        )
    return value


def duration(args: dict[str, Any], key: str, tool: str) -> float:
    try:
        return parse_duration(args.get(key, 0))
    except ValueError as exc:
        raise ToolError(f"{tool}: '{key}': {exc}", type="InputError") from None
