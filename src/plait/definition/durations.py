"""Durations as users write them: a number is milliseconds; a string takes a unit."""

from __future__ import annotations

import functools
import math
import re

# Milliseconds divide rather than multiply by 0.001, so "250ms" and 250 are the same float.
_UNITS = {"ms": (1.0, 1000.0), "s": (1.0, 1.0), "m": (60.0, 1.0), "h": (3600.0, 1.0)}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$")
# Longer than any run could last; rejects typos such as 10**20 ms.
_MAX_SECONDS = 366 * 24 * 3600.0


def parse_duration(value: object) -> float:
    """Return the duration in seconds: ``250`` → 0.25, ``"30s"`` → 30.0, ``"5m"`` → 300.0."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(
            f"a duration is a number of milliseconds or a string like '30s', not {value!r}"
        )
    if isinstance(value, str):
        return _parse_text(value)
    try:
        milliseconds = float(value)
    except OverflowError:  # an integer past float's range: 10**400
        raise ValueError("a duration must be at most a year; this number is far larger") from None
    return _checked(milliseconds / 1000.0, value)


@functools.lru_cache(maxsize=1024)
def _parse_text(value: str) -> float:
    """Cached: a tool such as ``sleep`` reads the same few strings once per step."""
    match = _PATTERN.match(value)
    if match is None:
        raise ValueError(
            f"bad duration {value!r}: write a number of milliseconds or a number with a unit "
            "(250ms, 30s, 5m, 1h)"
        )
    multiplier, divisor = _UNITS[match.group(2)]
    return _checked(float(match.group(1)) * multiplier / divisor, value)


def _checked(seconds: float, value: object) -> float:
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"a duration must be a finite, non-negative amount, not {value!r}")
    if seconds > _MAX_SECONDS:
        raise ValueError(f"duration {value!r} is longer than a year")
    return seconds
