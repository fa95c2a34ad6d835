"""Resource limits of a run (``limits:``, ``--max-output-size``, ``max_output_size=``),
and sizes as users write them: a number of bytes, or a number with a unit.

    maxOutputSize  one step's output, as the JSON the store keeps   (default 16 MiB)
    maxRunSize     all the step outputs of one run, added up         (default 1 GiB)

A step whose output is over ``maxOutputSize`` fails (``OutputTooLarge``); a run whose
outputs add up past ``maxRunSize`` fails as a whole (``RunTooLarge``). Both stop a
workflow that builds ever larger values (each step doubling the last) long before the
machine runs out of memory.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB
TIB = 1024 * GIB

_UNITS = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": KIB,
    "mib": MIB,
    "gib": GIB,
    "tib": TIB,
}
_PATTERN = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?)\s*([a-z]*)\s*$", re.IGNORECASE)
# More than any machine holds in memory: rejects typos such as 16000000MiB.
MAX_LIMIT = TIB


def parse_size(value: object) -> int:
    """A size in bytes: ``1048576`` → 1048576, ``"16MiB"`` → 16777216, ``"2 GB"`` →
    2000000000. At least one byte and at most 1 TiB."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"a size is a number of bytes or a string like '16MiB', not {value!r}")
    if isinstance(value, str):
        match = _PATTERN.match(value)
        unit = (match.group(2).lower() or "b") if match is not None else ""
        if match is None or unit not in _UNITS:
            raise ValueError(
                f"bad size {value!r}: write a number of bytes or a number with a unit "
                "(B, KB, MB, GB, KiB, MiB, GiB; for example 16MiB)"
            )
        digits = match.group(1)
        if len(digits) > 20:  # (int() of thousands of digits is slow, then refused)
            raise ValueError(f"size {value[:40]!r}... is more than 1 TiB")
        number: int | float = (float(digits) if "." in digits else int(digits)) * _UNITS[unit]
    else:
        number = value
    if isinstance(number, float):
        if not math.isfinite(number) or number != int(number):
            raise ValueError(f"a size is a whole number of bytes, not {value!r}")
        number = int(number)
    return _checked(number, value)


def _checked(number: int, value: object) -> int:
    if number < 1:
        raise ValueError(f"a size limit must be at least 1 byte, not {value!r}")
    if number > MAX_LIMIT:
        raise ValueError(f"size {value!r} is more than 1 TiB")
    return number


def format_size(size: int) -> str:
    """``16777216`` → ``16 MiB``; ``1500`` → ``1,500 B`` (exact, for messages)."""
    for unit, factor in (("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if size >= factor and size % factor == 0:
            return f"{size // factor:,} {unit}"
    return f"{size:,} B"


@dataclass(frozen=True, slots=True)
class Limits:
    """The resource limits of one run, in bytes."""

    max_output_size: int = 16 * MIB
    max_run_size: int = GIB

    def replace(self, max_output_size: object = None, max_run_size: object = None) -> Limits:
        """These limits with the ones given changed (a number of bytes or a size such as
        ``"64MiB"``); raises ``ValueError`` for a bad size."""
        return Limits(
            self.max_output_size if max_output_size is None else parse_size(max_output_size),
            self.max_run_size if max_run_size is None else parse_size(max_run_size),
        )


DEFAULT_LIMITS = Limits()
