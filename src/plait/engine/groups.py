"""A running group: its members' window, its timer, and a ``Join`` that decides it.

The runner holds no worker slot while it waits: only its members' tasks do. Its window
(``maxConcurrent``) slides: a member starts the moment another ends, as in seed 001's
timeline::

    t0: start A, B        (window 2)
    t1: A ends → start C
    t2: B ends → start D

What a member's end means (the decision, the winner, the output, the error) is the
``Join``'s (engine/joins.py), shared with dynamic groups, maps and the worker pool.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from plait.compiler.plan import Node
from plait.engine.deadlines import Deadline
from plait.engine.joins import Join, render_output
from plait.engine.state import StepState, Stop
from plait.engine.strategies import Decision
from plait.errors import StepFailed, StepTimedOut
from plait.status import StepStatus

if TYPE_CHECKING:
    from plait.engine.protocols import Host


class GroupRunner:
    """A static group's mechanics: the window (``admit``/``leave``), the timer (set by
    the run), cancelling the losers and ending the group as its ``join`` decides."""

    __slots__ = (
        "decided",
        "in_flight",
        "join",
        "node",
        "position",
        "queued",
        "run",
        "state",
        "timer",
    )

    def __init__(self, run: Host, state: StepState) -> None:
        self.run = run
        self.state = state
        self.node: Node = state.node
        members = self.node.members
        ids = [run.states[i].node.id for i in members]
        self.join = Join(
            self.node.strategy,
            len(members),
            ids=ids,
            label=f"group '{self.node.group_id}'",
            step=self.node.id,
        )
        self.position = {index: k for k, index in enumerate(members)}  # node → member
        self.in_flight = 0
        self.queued: deque[StepState] = deque()
        self.decided = False  # no more decisions: decided, timed out, or closed
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

    # -- the decision -----------------------------------------------------------------

    def member_ended(self, member: StepState) -> None:
        if self.decided:
            return
        decision = self.join.ended(
            self.position[member.node.index],
            member.status,
            continue_on_error=member.node.continue_on_error,
            output=member.output,
            error=member.error,
        )
        if decision is not Decision.WAIT:
            self.decide()

    def close(self) -> None:
        """Decide nothing more: the run is ending the group's members itself."""
        self.decided = True
        if self.timer is not None:
            self.timer.cancel()

    def timed_out(self) -> None:
        """Its ``timeout`` passed undecided: running members time out, the rest are
        cancelled, and the group ends ``timed_out``."""
        if self.decided or self.state.done:
            return
        node = self.node
        message = f"group '{node.group_id}' timed out after {node.timeout:g}s"
        self.decided = True
        stop = Stop(StepStatus.TIMED_OUT, StepStatus.CANCELLED, message)
        for member in node.members:
            self.run.cancel_node(self.run.states[member], stop)
        self.run.end(self.state, StepStatus.TIMED_OUT, error=StepTimedOut(message, step=node.id))

    def check_empty(self) -> None:
        if not self.decided and self.join.start() is not Decision.WAIT:
            self.decide()

    def decide(self) -> None:
        """End the group as its join decided: cancel the losers, then record the outcome."""
        self.close()
        join, node, states = self.join, self.node, self.run.states
        stop = Stop(StepStatus.CANCELLED, StepStatus.CANCELLED, join.reason)
        for k in join.losers(range(join.total)):
            self.run.cancel_node(states[node.members[k]], stop)
        if join.winner is not None:
            self.state.winner = states[node.members[join.winner]].node.id
        if join.error is not None:
            self.run.end(self.state, StepStatus.FAILED, error=join.error)
            return
        try:
            output = render_output(node, self.run.scope_for(self.state), join.output)
        except StepFailed as exc:
            self.run.end(self.state, StepStatus.FAILED, error=exc)
            return
        self.run.end(self.state, StepStatus.SUCCEEDED, output=output)
