"""A running group: its members' window, its strategy's tally, its timer.

The scope holds no worker slot while it waits: only its members' tasks do. Its window
(``maxConcurrent``) slides: a member starts the moment another ends, as in seed 001's
timeline::

    t0: start A, B        (window 2)
    t1: A ends → start C
    t2: B ends → start D
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from plait.compiler.plan import Node
from plait.definition.models import WaitStrategy
from plait.engine.deadlines import Deadline
from plait.engine.state import ResultScope, StepState, Stop
from plait.engine.strategies import Outcome, Tally, Verdict, strategy_for
from plait.errors import PlaitError, RunError, StepFailed
from plait.status import StepStatus

if TYPE_CHECKING:
    from plait.engine.protocols import Host


class GroupScope:
    __slots__ = (
        "decided",
        "in_flight",
        "node",
        "queued",
        "run",
        "state",
        "strategy",
        "tally",
        "timer",
    )

    def __init__(self, run: Host, state: StepState) -> None:
        self.run = run
        self.state = state
        self.node: Node = state.node
        self.strategy = strategy_for(self.node.strategy)
        self.tally = Tally(total=len(self.node.members))
        self.in_flight = 0
        self.queued: deque[StepState] = deque()
        self.decided = False
        self.timer: Deadline | None = None

    # -- the window ---------------------------------------------------------------

    def admit(self, member: StepState) -> bool:
        """Let a ready member in now, or queue it behind the window."""
        limit = self.node.max_concurrent
        if limit is None or self.in_flight < limit:
            self.in_flight += 1
            member.in_window = True
            return True
        member.status = StepStatus.QUEUED
        self.queued.append(member)
        return False

    def leave(self, member: StepState) -> None:
        """A member that held a window place ended: let the next queued one in."""
        member.in_window = False
        self.in_flight -= 1
        while self.queued and not self.decided:
            nxt = self.queued.popleft()
            if nxt.done:
                continue
            self.in_flight += 1
            nxt.in_window = True
            self.run.launch(nxt)
            return

    # -- the strategy ---------------------------------------------------------------

    def member_ended(self, member: StepState) -> None:
        outcome = _outcome(member)
        self.tally.count(outcome)
        if self.decided:
            return
        verdict = self.strategy.on_end(outcome, self.tally)
        if verdict is not Verdict.WAIT:
            self.decide(verdict, member)

    def close(self) -> None:
        """Decide nothing more: the run is ending the group's members itself."""
        self.decided = True
        if self.timer is not None:
            self.timer.cancel()

    def check_empty(self) -> None:
        if not self.node.members and not self.decided:
            self.decide(self.strategy.on_all_ended(self.tally), None)

    def decide(self, verdict: Verdict, last: StepState | None) -> None:
        """End the group: cancel the members it no longer needs, then record its outcome."""
        self.decided = True
        if self.timer is not None:
            self.timer.cancel()
        node = self.node
        reason = (
            f"group '{node.group_id}' {'succeeded' if verdict is Verdict.SUCCEED else 'failed'}"
        )
        stop = Stop(StepStatus.CANCELLED, StepStatus.CANCELLED, reason)
        for member_index in node.members:
            member = self.run.states[member_index]
            if not member.done:
                self.run.cancel_node(member, stop)
        # The winner: any's first success; race's first to end, whether it won or lost.
        winner = None
        if node.strategy is WaitStrategy.RACE or (
            node.strategy is WaitStrategy.ANY and verdict is Verdict.SUCCEED
        ):
            winner = last
        if winner is not None:
            self.state.winner = winner.node.id
        if verdict is not Verdict.SUCCEED:
            self.run.end(self.state, StepStatus.FAILED, error=self._error(last))
            return
        output = self._output(winner)
        if node.output is not None:
            try:
                output = node.output.render(ResultScope(self.run.scope, output))
            except PlaitError as exc:
                error = StepFailed(f"output: {exc}", step=node.id, type=type(exc).__name__)
                self.run.end(self.state, StepStatus.FAILED, error=error)
                return
        self.run.end(self.state, StepStatus.SUCCEEDED, output=output)

    def _output(self, winner: StepState | None) -> Any:
        if winner is not None:
            return winner.output
        states = self.run.states
        return {
            states[i].node.id: states[i].output
            for i in self.node.members
            if states[i].status is StepStatus.SUCCEEDED
        }

    def _error(self, last: StepState | None) -> RunError:
        group = self.node.group_id
        if self.node.strategy is WaitStrategy.ANY:
            return StepFailed(
                f"group '{group}': every member failed", step=self.node.id, type="GroupFailed"
            )
        if last is not None and last.error is not None:
            cause = last.error
            return StepFailed(
                f"group '{group}': member '{last.node.id}' failed: {cause.message}",
                step=self.node.id,
                type=cause.type,
            )
        return StepFailed(f"group '{group}' failed", step=self.node.id, type="GroupFailed")


def _outcome(member: StepState) -> Outcome:
    status = member.status
    if status is StepStatus.SUCCEEDED:
        return Outcome.SUCCEEDED
    if status in (StepStatus.FAILED, StepStatus.TIMED_OUT):
        return Outcome.SETTLED if member.node.continue_on_error else Outcome.FAILED
    return Outcome.NEUTRAL
