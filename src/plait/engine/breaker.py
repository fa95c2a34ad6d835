"""Circuit breakers (seed 001's pattern, as configuration): stop calling what keeps failing.

    closed ──failureThreshold failures in a row──▶ open ──resetTimeout──▶ half-open
      ▲                                              ▲                       │
      └──────────── a trial call succeeds ───────────┼── a trial call fails ─┘

While open, a call is refused at once with ``CircuitOpen`` (an error type ``retryOn``
can name). Half-open lets up to ``halfOpenMax`` trial calls through; the first trial
to end decides. A call that was let in before the state last changed does not count
when it ends: a slow success from before the circuit opened does not close it.

Time comes from ``clock`` (the event loop's by default), so tests drive it by hand.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from plait.compiler.reliability import BreakerSpec
from plait.engine.deadlines import loop_time
from plait.engine.monitor import POOL_LOG
from plait.errors import CircuitOpen


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class Ticket:
    """A call the breaker let through: report its end with ``succeeded``/``failed``/``dropped``."""

    generation: int
    trial: bool


@dataclass(frozen=True, slots=True)
class BreakerStats:
    """``statistics()``: the breaker now, and its counters since it was made."""

    state: BreakerState
    failures: int  # consecutive failures counted towards the threshold
    opened: int  # times the circuit opened
    rejected: int  # calls refused while open (or half-open with no trial left)

    def to_dict(self) -> dict[str, str | int]:
        return {
            "state": self.state.value,
            "consecutiveFailures": self.failures,
            "timesOpened": self.opened,
            "rejected": self.rejected,
        }


class CircuitBreaker:
    """One breaker: a pool's (``circuitBreaker``) or a tool's (``circuitBreakers``)."""

    def __init__(
        self,
        spec: BreakerSpec | None = None,
        *,
        name: str = "",
        kind: str = "pool",
        clock: Callable[[], float] = loop_time,
    ) -> None:
        self.spec = spec or BreakerSpec()
        self.name = name
        self.kind = kind  # "pool" or "tool": what the log records and messages name
        self.clock = clock
        self.state = BreakerState.CLOSED
        self._generation = 0  # bumped on every change of state
        self._failures = 0
        self._opened_at = 0.0
        self._trials = 0  # trial calls let through in this half-open period
        self._opened = 0
        self._rejected = 0

    # -- calls -------------------------------------------------------------------------

    def admit(self, step: str | None = None) -> Ticket:
        """Let a call through, or raise ``CircuitOpen``."""
        if self.state is BreakerState.OPEN:
            if self.clock() - self._opened_at < self.spec.reset_timeout:
                raise self._refuse(step)
            self._change(BreakerState.HALF_OPEN)
        if self.state is BreakerState.HALF_OPEN:
            if self._trials >= self.spec.half_open_max:
                raise self._refuse(step)
            self._trials += 1
            return Ticket(self._generation, trial=True)
        return Ticket(self._generation, trial=False)

    def rejects(self) -> bool:
        """Whether a call now would be refused (without letting one through)."""
        if self.state is BreakerState.OPEN:
            return self.clock() - self._opened_at < self.spec.reset_timeout
        return self.state is BreakerState.HALF_OPEN and self._trials >= self.spec.half_open_max

    def succeeded(self, ticket: Ticket) -> None:
        if ticket.generation != self._generation:
            return
        if ticket.trial:
            self._change(BreakerState.CLOSED)
        self._failures = 0

    def failed(self, ticket: Ticket) -> None:
        if ticket.generation != self._generation:
            return
        if ticket.trial:
            self._open()
            return
        self._failures += 1
        if self._failures >= self.spec.failure_threshold:
            self._open()

    def dropped(self, ticket: Ticket) -> None:
        """The call ended without an outcome (cancelled): a trial's place is free again."""
        if ticket.generation == self._generation and ticket.trial:
            self._trials -= 1

    # -- state -------------------------------------------------------------------------

    def statistics(self) -> BreakerStats:
        return BreakerStats(self.state, self._failures, self._opened, self._rejected)

    def _open(self) -> None:
        self._opened_at = self.clock()
        self._opened += 1
        self._change(BreakerState.OPEN)

    def _change(self, state: BreakerState) -> None:
        previous, self.state = self.state, state
        self._generation += 1
        self._trials = 0
        if state is BreakerState.CLOSED:
            self._failures = 0
        if POOL_LOG.isEnabledFor(logging.INFO):
            level = logging.WARNING if state is BreakerState.OPEN else logging.INFO
            POOL_LOG.log(
                level,
                "%s '%s': circuit %s (was %s)",
                self.kind,
                self.name,
                state.value.replace("_", "-"),
                previous.value.replace("_", "-"),
                extra={
                    "event": f"breaker_{state.value}",
                    self.kind: self.name,
                    "state": state.value,
                    "previous": previous.value,
                    "failures": self._failures,
                },
            )

    def _refuse(self, step: str | None) -> CircuitOpen:
        self._rejected += 1
        wait = max(0.0, self._opened_at + self.spec.reset_timeout - self.clock())
        when = (
            f"it half-opens in {wait:.3g}s"
            if self.state is BreakerState.OPEN
            else (f"its {self.spec.half_open_max} trial call(s) are under way")
        )
        return CircuitOpen(
            f"{self.kind} '{self.name}': the circuit is {self.state.value.replace('_', '-')} "
            f"after {self.spec.failure_threshold} failures in a row; {when}",
            step=step,
        )
