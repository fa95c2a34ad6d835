"""The one decision of every join: a member ended, so what does the join do now?

Four things join members under a wait strategy: a static group (engine/groups.py), a
dynamic group and a map (engine/bodies/), and ``WorkerPool.execute_with_strategy``
(engine/pools/). Each keeps its own mechanics (a window, child runs, futures, timers)
and asks a ``Join`` the rest, so the four decide alike (issue 12):

    member i ends ──▶ join.ended(i, status, continue_on_error, output, error)
                        │  one mapping: status + continueOnError ──▶ Outcome
                        │  the strategy: Outcome + Tally ──▶ WAIT | SUCCEED | FAIL
                        ▼
    caller: cancel join.losers(...) · end with join.output or join.error

A ``Join`` is pure: no event loop, no timers, no run. The winner is ``any``'s first
success and ``race``'s first member to end with a result, won or lost; ``all`` and
``allSettled`` have none. The output is the winner's, or else the successes in member
order: a list by index (a map, the worker pool) or a mapping by member id (a group).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from plait.compiler.plan import Node
from plait.definition.models import WaitStrategy
from plait.engine.state import ResultScope
from plait.engine.strategies import Decision, Outcome, Tally, strategy_for
from plait.errors import PlaitError, RunError, StepFailed, plain, type_name
from plait.expressions.scope import Scope
from plait.status import StepStatus

GROUP_FAILED = "GroupFailed"  # the error type of a join that failed as a whole


def outcome_of(status: StepStatus, continue_on_error: bool = False) -> Outcome:
    """The one mapping from a member's ending to what its strategy counts: a failure or
    a timeout that the member's ``continueOnError`` absorbs is neither a win nor a loss,
    and a member that never produced a result (skipped, cancelled) counts as neither."""
    if status is StepStatus.SUCCEEDED:
        return Outcome.SUCCEEDED
    if status in (StepStatus.FAILED, StepStatus.TIMED_OUT):
        return Outcome.SETTLED if continue_on_error else Outcome.FAILED
    return Outcome.NEUTRAL


class Join:
    """The tally, the decision, the winner, the output and the error of one join.

    ``ids`` names the members of a group (the output is then a mapping by id, and an
    error says ``member 'x'``); without it the members are numbered (the output is a
    list by index, and an error says ``branch 3`` or ``task 3``, after ``noun``).
    ``label`` (``group 'g'``, ``map 'm'``) begins the error's message; ``step`` is the
    node the error belongs to."""

    __slots__ = (
        "_ended",
        "_ids",
        "_outputs",
        "_won",
        "decision",
        "error",
        "label",
        "last",
        "noun",
        "step",
        "strategy",
        "tally",
        "winner",
    )

    def __init__(
        self,
        strategy: WaitStrategy | str,
        total: int,
        *,
        ids: Sequence[str] | None = None,
        label: str = "",
        noun: str = "member",
        step: str | None = None,
    ) -> None:
        if ids is not None and len(ids) != total:
            raise ValueError(f"a join of {total} members was given {len(ids)} ids")
        self.strategy = strategy_for(strategy)
        self.tally = Tally(total=total)
        self._ids = ids
        self.label = label
        self.noun = noun
        self.step = step
        self._outputs: list[Any] = [None] * total
        self._won = bytearray(total)  # 1: that member succeeded
        self._ended = bytearray(total)  # 1: that member's ending was counted
        self.decision = Decision.WAIT
        self.winner: int | None = None
        self.last: int | None = None  # the member whose ending decided
        self.error: RunError | None = None  # why the join failed, once it has

    @property
    def decided(self) -> bool:
        return self.decision is not Decision.WAIT

    @property
    def total(self) -> int:
        return self.tally.total

    def start(self) -> Decision:
        """The decision before any member ended: only a join of no members decides here
        (``all`` and ``allSettled`` succeed, ``any`` and ``race`` fail)."""
        if self.total == 0 and not self.decided:
            self._decide(self.strategy.on_all_ended(self.tally), None, Outcome.NEUTRAL, None)
        return self.decision

    def ended(
        self,
        index: int,
        status: StepStatus,
        *,
        continue_on_error: bool = False,
        output: Any = None,
        error: BaseException | None = None,
    ) -> Decision:
        """Count member ``index``'s ending. The answer is SUCCEED or FAIL when this ending
        decides the join, else WAIT (the join waits, or had decided already)."""
        if not 0 <= index < self.total:
            raise IndexError(f"member {index} of a join of {self.total} members")
        if self._ended[index]:
            raise ValueError(f"member {index} of {self.label or 'a join'} ended twice")
        self._ended[index] = 1
        outcome = outcome_of(status, continue_on_error)
        if outcome is Outcome.SUCCEEDED:
            self._won[index] = 1
            self._outputs[index] = output
        self.tally.count(outcome)
        if self.decided:
            return Decision.WAIT
        decision = self.strategy.on_end(outcome, self.tally)
        if decision is not Decision.WAIT:
            self._decide(decision, index, outcome, error)
        return decision

    def _decide(
        self,
        decision: Decision,
        last: int | None,
        outcome: Outcome,
        error: BaseException | None,
    ) -> None:
        self.decision = decision
        self.last = last
        name = self.strategy.name
        if name is WaitStrategy.ANY and decision is Decision.SUCCEED:
            self.winner = last
        elif name is WaitStrategy.RACE and outcome is not Outcome.NEUTRAL:
            self.winner = last  # won or lost; a race of skipped members has no winner
        if decision is Decision.FAIL:
            self.error = self._failure(last, outcome, error)

    def _failure(self, last: int | None, outcome: Outcome, error: BaseException | None) -> RunError:
        """``all`` and ``race``: the deciding member's error, in its type; ``any``, or a
        race that nobody ended with a result: the join's own ``GroupFailed``."""
        prefix = f"{self.label}: " if self.label else ""
        if self.strategy.name is WaitStrategy.ANY:
            message = f"{prefix}every {self.noun} failed"
        elif last is None or outcome is Outcome.NEUTRAL:
            message = f"{prefix}no {self.noun} ended with a result"
        elif error is None:
            message = f"{prefix}{self.describe(last)} failed"
        else:
            return StepFailed(
                f"{prefix}{self.describe(last)} failed: {plain(error)}",
                step=self.step,
                type=type_name(error),
            )
        return StepFailed(message, step=self.step, type=GROUP_FAILED)

    def describe(self, index: int) -> str:
        """How an error names a member: ``member 'x'``, ``branch 3``."""
        if self._ids is not None:
            return f"{self.noun} '{self._ids[index]}'"
        return f"{self.noun} {index}"

    @property
    def output(self) -> Any:
        """A join that succeeded: its winner's output, else its successes in member
        order (a mapping by id, or a list by index with ``None`` for the others)."""
        if self.winner is not None:
            return self._outputs[self.winner]
        if self._ids is None:
            return list(self._outputs)
        won = self._won
        return {self._ids[i]: self._outputs[i] for i in range(self.total) if won[i]}

    def losers(self, candidates: Iterable[int]) -> list[int]:
        """Of ``candidates`` (the members the caller still runs or holds), the ones a
        decision leaves behind, for the caller to cancel: every one that has not ended."""
        if not self.decided:
            return []
        ended = self._ended
        return [i for i in candidates if not ended[i]]

    @property
    def reason(self) -> str:
        """Why a loser was cancelled: ``group 'g' succeeded``."""
        verb = "succeeded" if self.decision is Decision.SUCCEED else "failed"
        return f"{self.label or 'the join'} {verb}"


def render_output(node: Node, scope: Scope, value: Any) -> Any:
    """A join's or a body's own ``output:`` (``${result}`` is ``value``; a handler's
    ``scope`` also has ``${error}``); ``value`` itself without one. A template that
    cannot be rendered raises ``StepFailed`` in its own words and type."""
    if node.output is None:
        return value
    try:
        return node.output.render(ResultScope(scope, value))
    except PlaitError as exc:
        raise StepFailed(f"output: {exc.plain}", step=node.id, type=exc.type_name) from None
