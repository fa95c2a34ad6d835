"""A token bucket: a pool's ``rate`` (calls started per second) and ``burst``.

The bucket holds at most ``burst`` tokens and gains ``rate`` tokens a second; each call
a pool starts takes one. Over any window of T seconds at most ``burst + rate × T``
calls start. It is separate from concurrency: a pool grants a slot only when it has
both a free slot and a token (engine/pools/slots.py), and a step waiting for a token waits
in the pool's queue like one waiting for a slot, holding neither.

No timer runs here: the bucket refills lazily from ``clock`` when asked, and says how
long until the next token (``delay``) so the pool can set one timer for its queue.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from plait.engine.deadlines import loop_time

# A token that is 1e-9 short is there: floating error in ``delay`` must not make a
# timer fire a hair early and find nothing.
_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class BucketStats:
    rate: float
    burst: int
    tokens: float
    waited: int  # calls that found no token and waited for one

    def to_dict(self) -> dict[str, float | int]:
        return {
            "rate": self.rate,
            "burst": self.burst,
            "tokens": round(self.tokens, 3),
            "rateLimited": self.waited,
        }


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` kept; starts full."""

    __slots__ = ("_stamp", "_tokens", "burst", "clock", "rate", "waited")

    def __init__(
        self, rate: float, burst: int = 1, *, clock: Callable[[], float] = loop_time
    ) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be more than 0 calls a second, not {rate}")
        if burst < 1:
            raise ValueError(f"burst must be at least 1, not {burst}")
        self.rate = float(rate)
        self.burst = burst
        self.clock = clock
        self._tokens = float(burst)
        self._stamp = clock()
        self.waited = 0

    def _refill(self) -> float:
        now = self.clock()
        if now > self._stamp:
            self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        return self._tokens

    def ready(self) -> bool:
        """Whether a token is there now (without taking it)."""
        return self._refill() >= 1.0 - _EPSILON

    def take(self) -> None:
        """Take the token ``ready`` found (it may go a hair below zero: never more)."""
        self._tokens -= 1.0

    def try_take(self) -> bool:
        if self.ready():
            self._tokens -= 1.0
            return True
        return False

    def delay(self) -> float:
        """Seconds until a token is there (0 if one is)."""
        missing = 1.0 - self._refill()
        return max(0.0, missing / self.rate) if missing > _EPSILON else 0.0

    @property
    def tokens(self) -> float:
        return max(0.0, self._refill())

    def statistics(self) -> BucketStats:
        return BucketStats(self.rate, self.burst, self.tokens, self.waited)
