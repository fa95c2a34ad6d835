"""Adaptive concurrency (seed 001's "adaptive batch size", as TCP does it: AIMD).

A pool with ``maxConcurrent: auto`` moves its limit between ``min`` and ``max`` as its
calls end:

- additive increase: after ``limit`` calls in a row that succeeded within the latency
  it is used to, while the pool was busy up to its limit, the limit goes up by one;
- multiplicative decrease: a call that failed (or timed out), or took more than
  ``tolerance`` × the usual latency (and at least 1 ms more), halves the limit (never
  below ``min``). The calls
  already running when the limit dropped started under the old load, so it does not
  drop again until as many calls as the old limit have ended.

"The usual latency" is an exponentially weighted average of successful calls' latency
(weight 0.1), so a lasting change becomes the new usual in a few dozen calls, and the
limit grows again from there.

The controller is pure arithmetic on what it is told (``observe``); the pool measures
latency with its clock and applies the limit (engine/pools/slots.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from plait.compiler.reliability import AdaptiveSpec

_WEIGHT = 0.1  # of a new latency in the running average
_DECREASE = 0.5
# A call is slow only if it is also this much (seconds) slower than usual: the jitter
# of sub-millisecond calls (a GC pause) is not a slowdown.
_SLACK = 0.001


@dataclass(frozen=True, slots=True)
class AdaptiveStats:
    limit: int
    minimum: int
    maximum: int
    latency: float | None  # the usual latency, seconds
    raised: int
    lowered: int

    def to_dict(self) -> dict[str, float | int | None]:
        return {
            "limit": self.limit,
            "min": self.minimum,
            "max": self.maximum,
            "latency": None if self.latency is None else round(self.latency * 1000.0, 3),
            "raised": self.raised,
            "lowered": self.lowered,
        }


class AdaptiveLimit:
    """The AIMD controller of one pool's limit."""

    def __init__(self, spec: AdaptiveSpec | None = None) -> None:
        self.spec = spec = spec or AdaptiveSpec()
        self.limit = min(max(spec.initial, spec.minimum), spec.maximum)
        self.latency: float | None = None  # the usual latency
        self._credit = 0  # good, busy calls since the last increase
        self._hold = 0  # calls to let end before the limit may drop again
        self.raised = 0
        self.lowered = 0

    def observe(self, latency: float, failed: bool, busy: bool) -> str | None:
        """One call ended after ``latency`` seconds; ``busy``: the pool had used its whole
        limit (no point in raising a limit nobody reaches). Returns why the limit moved
        (``"error"``, ``"slow"``, ``"fast"``) or None."""
        usual = self.latency
        slow = (
            usual is not None and latency > self.spec.tolerance * usual and latency > usual + _SLACK
        )
        if not failed:
            self.latency = latency if usual is None else usual + _WEIGHT * (latency - usual)
        holding = self._hold > 0
        if holding:
            self._hold -= 1
        if failed or slow:
            self._credit = 0
            if holding or self.limit <= self.spec.minimum:
                return None
            previous = self.limit
            self.limit = max(self.spec.minimum, math.floor(previous * _DECREASE))
            self._hold = previous  # as many calls as may have been running
            self.lowered += 1
            return "error" if failed else "slow"
        if not busy or self.limit >= self.spec.maximum:
            return None
        self._credit += 1
        if self._credit < self.limit:
            return None
        self._credit = 0
        self.limit += 1
        self.raised += 1
        return "fast"

    def statistics(self) -> AdaptiveStats:
        spec = self.spec
        return AdaptiveStats(
            self.limit, spec.minimum, spec.maximum, self.latency, self.raised, self.lowered
        )
