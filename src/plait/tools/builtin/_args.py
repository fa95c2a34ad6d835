"""Reading a built-in tool's input mapping with errors that name the key."""

from __future__ import annotations

from typing import Any

from plait.definition.durations import parse_duration
from plait.errors import StepError


def mapping(value: Any, tool: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise StepError(
            f"{tool}: input must be a mapping, not {type(value).__name__}", type="InputError"
        )
    return value


def duration(args: dict[str, Any], key: str, tool: str) -> float:
    try:
        return parse_duration(args.get(key, 0))
    except ValueError as exc:
        raise StepError(f"{tool}: '{key}': {exc}", type="InputError") from None


def check_keys(args: dict[str, Any], known: frozenset[str], tool: str) -> None:
    """A misspelt key (``header:``) is an error, not a silently ignored setting."""
    unknown = sorted(str(k) for k in args if k not in known)
    if unknown:
        raise StepError(
            f"{tool}: unknown key {unknown[0]!r}; the keys are {', '.join(sorted(known))}",
            type="InputError",
        )


def either(args: dict[str, Any], camel: str, snake: str, tool: str, default: Any = None) -> Any:
    """The value of a key that has a camelCase and a snake_case spelling (not both)."""
    if camel in args and snake in args:
        raise StepError(f"{tool}: give '{camel}' or '{snake}', not both", type="InputError")
    if camel in args:
        return args[camel]
    return args.get(snake, default)


def text(args: dict[str, Any], key: str, tool: str, *, required: bool = False) -> str | None:
    value = args.get(key)
    if value is None:
        if required:
            raise StepError(f"{tool}: '{key}' is required", type="InputError")
        return None
    if not isinstance(value, str):
        raise StepError(
            f"{tool}: '{key}' must be a string, not {type(value).__name__}", type="InputError"
        )
    return value
