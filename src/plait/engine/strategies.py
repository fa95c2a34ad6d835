"""Wait strategies as tiny policy objects (SPEC §1, "Groups").

At each member's end a strategy answers with a ``Decision``: keep waiting, succeed, or
fail. It is asked only through a ``Join`` (engine/joins.py), which maps a member's
ending to an ``Outcome``, names the winner and shapes the output; the caller of the
join does the cancelling. The strategy only decides.

    member ends ──▶ join.ended() ──▶ strategy.on_end(outcome, tally) ──▶ WAIT | SUCCEED | FAIL
                                                         the join's caller cancels the losers ◀─┘
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from plait.definition.models import WaitStrategy


class Decision(Enum):
    """A strategy's answer after a member ended (not ``ready.Verdict``: a node's readiness)."""

    WAIT = "wait"
    SUCCEED = "succeed"
    FAIL = "fail"


class Outcome(Enum):
    """How one member ended, as a strategy sees it."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"  # failed or timed out, and not absorbed by the member's continueOnError
    SETTLED = "settled"  # failed but absorbed by continueOnError: neither a win nor a loss
    NEUTRAL = "neutral"  # skipped or cancelled: it never produced a result


@dataclass(slots=True)
class Tally:
    total: int
    ended: int = 0
    succeeded: int = 0
    failed: int = 0

    def count(self, outcome: Outcome) -> None:
        self.ended += 1
        if outcome is Outcome.SUCCEEDED:
            self.succeeded += 1
        elif outcome is Outcome.FAILED:
            self.failed += 1

    @property
    def all_ended(self) -> bool:
        return self.ended >= self.total


class Strategy:
    """Base policy: decide only when every member has ended."""

    name: WaitStrategy

    def on_end(self, outcome: Outcome, tally: Tally) -> Decision:
        """Called after ``tally`` has counted ``outcome``."""
        return self.on_all_ended(tally) if tally.all_ended else Decision.WAIT

    def on_all_ended(self, tally: Tally) -> Decision:
        return Decision.SUCCEED


class All(Strategy):
    """Succeed when every member succeeded; fail at the first failure."""

    name = WaitStrategy.ALL

    def on_end(self, outcome: Outcome, tally: Tally) -> Decision:
        if outcome is Outcome.FAILED:
            return Decision.FAIL
        return super().on_end(outcome, tally)


class AnyOf(Strategy):
    """Succeed at the first success; fail when every member ended without one."""

    name = WaitStrategy.ANY

    def on_end(self, outcome: Outcome, tally: Tally) -> Decision:
        if outcome is Outcome.SUCCEEDED:
            return Decision.SUCCEED
        return super().on_end(outcome, tally)

    def on_all_ended(self, tally: Tally) -> Decision:
        return Decision.SUCCEED if tally.succeeded else Decision.FAIL


class AllSettled(Strategy):
    """Wait for every member; never fail."""

    name = WaitStrategy.ALL_SETTLED


class Race(Strategy):
    """The first member to end decides: its success or its failure is the group's."""

    name = WaitStrategy.RACE

    def on_end(self, outcome: Outcome, tally: Tally) -> Decision:
        if outcome is Outcome.SUCCEEDED:
            return Decision.SUCCEED
        if outcome in (Outcome.FAILED, Outcome.SETTLED):
            return Decision.FAIL
        return super().on_end(outcome, tally)

    def on_all_ended(self, tally: Tally) -> Decision:
        return Decision.FAIL  # nobody ended with a result


STRATEGIES: dict[WaitStrategy, Strategy] = {
    s.name: s for s in (All(), AnyOf(), AllSettled(), Race())
}


def strategy_for(name: WaitStrategy | str) -> Strategy:
    try:
        return STRATEGIES[WaitStrategy(name)]
    except ValueError:
        known = ", ".join(s.value for s in WaitStrategy)
        raise ValueError(f"unknown wait strategy {name!r}; expected one of {known}") from None
