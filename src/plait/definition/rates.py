"""Rates as users write them: ``10/s``, ``600/m``, ``1000/h``, or a number per second."""

from __future__ import annotations

import math
import re

_PER = {"s": 1.0, "m": 60.0, "h": 3600.0}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|m|h)\s*$")
# More than any pool could start; rejects typos such as 10**20/s.
_MAX_PER_SECOND = 1_000_000.0


def parse_rate(value: object) -> float:
    """Return the rate in calls per second: ``"10/s"`` → 10.0, ``"30/m"`` → 0.5,
    ``2.5`` → 2.5 (a number is already per second)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"a rate is a number per second or a string like '10/s', not {value!r}")
    if isinstance(value, str):
        match = _PATTERN.match(value)
        if match is None:
            raise ValueError(
                f"bad rate {value!r}: write calls per unit of time (10/s, 600/m, 1000/h) or a "
                "number per second"
            )
        per_second = float(match.group(1)) / _PER[match.group(2)]
    else:
        per_second = float(value)
    if not math.isfinite(per_second) or per_second <= 0:
        raise ValueError(f"a rate must be more than zero, not {value!r}")
    if per_second > _MAX_PER_SECOND:
        raise ValueError(f"rate {value!r} is more than {_MAX_PER_SECOND:,.0f} per second")
    return per_second
