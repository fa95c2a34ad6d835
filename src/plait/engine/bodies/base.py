"""What every body runner shares: the node, its timer, its live children, a trampoline.

A body's branch or pass is a ``Host`` made by ``Host.child``: it shares the run's pools,
executor, recorder and task set, so limits, recording and "nothing leaks" hold inside
bodies exactly as outside. No runner holds a worker slot.

    node starts ─▶ runner.start() ─▶ begin() once ─▶ step(): spawn children
    child ends ─▶ runner.ended(key, child) ─▶ step() again ─▶ … ─▶ succeed() / fail()
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from plait.engine.deadlines import Deadline
from plait.engine.finished import Place
from plait.engine.joins import Join, render_output
from plait.engine.state import Frame, StepState
from plait.errors import PlaitError, RunError, StepFailed, StepTimedOut
from plait.status import RunStatus, StepStatus

if TYPE_CHECKING:
    from plait.engine.protocols import Host


class BodyRunner(ABC):
    """Runs a map, a loop, a sub-workflow or a dynamic group as child runs, and ends its
    node. A subclass says how the body begins, what starts next, and what a child's end
    means. A child that ended is kept only as records (``engine/finished.py``)."""

    mark = ""  # a child node's id ends with its key so: "<>" (a branch), "[]" (a pass)

    def __init__(self, run: Host, state: StepState) -> None:
        self.run = run
        self.state = state
        self.node = state.node
        self.live: dict[int, Host] = {}
        self.decided = False
        self.timer: Deadline | None = None
        self._busy = False  # a trampoline: children that end at once never recurse
        self._again = False
        self._begun = False
        frame = state.frame
        self.suffix = frame.suffix if frame is not None else ""  # `<3>` inside branch 3
        self.prefix = frame.prefix if frame is not None else ""  # `sub/` inside `sub`
        self.place: Place | None = None  # how its children's records are named

    def start(self) -> None:
        node = self.node
        if node.timeout is not None:
            self.timer = self.run.session.deadlines.after(node.timeout, self._timed_out)
        self.advance()

    @abstractmethod
    def begin(self) -> None:
        """Evaluate what drives the body (items, count) in the enclosing scope."""

    @abstractmethod
    def step(self) -> None:
        """Start what may start now, or end the node when nothing more will."""

    @abstractmethod
    def ended(self, key: int, child: Host) -> None:
        """A live child (branch or pass ``key``) ended, the node still undecided."""

    def advance(self) -> None:
        """Host ``step`` until it has nothing more to do; a child that ends inside it only
        asks for another round, so a body that ends at once never recurses."""
        if self._busy:
            self._again = True
            return
        self._busy = True
        try:
            again = True
            while again and not self.decided:
                self._again = False
                try:
                    if not self._begun:
                        self._begun = True
                        self.begin()
                    self.step()
                except PlaitError as exc:
                    self.fail(StepFailed(exc.plain, step=self.state.node_id, type=exc.type_name))
                except Exception as exc:  # a bug must end the node, never hang the run
                    message = f"{type(exc).__name__}: {exc}"
                    self.fail(StepFailed(message, step=self.state.node_id, type="InternalError"))
                again = self._again
        finally:
            self._busy = False
        if self.decided:
            self.release()

    def release(self) -> None:  # noqa: B027 - a hook: most runners hold nothing to drop
        """The node is decided: drop what only starting children needed."""

    def stop(self, child_status: StepStatus, reason: str, losers: list[int] | None = None) -> None:
        """End the live children, or just ``losers`` (the node was cancelled, timed out or
        decided). Nothing starts or decides after: an aborted child's end is ignored."""
        self.decided = True
        if self.timer is not None:
            self.timer.cancel()
        status = (
            RunStatus.TIMED_OUT if child_status is StepStatus.TIMED_OUT else RunStatus.CANCELLED
        )
        for key in list(self.live) if losers is None else losers:
            self.live[key].abort(status, reason)
        self.live.clear()

    def _timed_out(self) -> None:
        if self.decided or self.state.done:
            return
        message = f"{self.node.kind.value} '{self.node.id}' timed out after {self.node.timeout:g}s"
        self.stop(StepStatus.TIMED_OUT, message)
        self.run.end(
            self.state, StepStatus.TIMED_OUT, error=StepTimedOut(message, step=self.node.id)
        )

    def fail(self, error: RunError) -> None:
        if self.decided:
            return
        self.stop(StepStatus.CANCELLED, f"{self.node.kind.value} '{self.node.id}' failed")
        self.run.end(self.state, StepStatus.FAILED, error=error)

    def succeed(self, output: Any) -> None:
        """End the node with ``output``, shaped by its own ``output:`` if it has one."""
        if self.decided:
            return
        self.stop(StepStatus.CANCELLED, f"{self.node.kind.value} '{self.node.id}' succeeded")
        self.finish(output)

    def settle(self, join: Join, winner: str | None) -> None:
        """The node's ``join`` decided (a map's, a dynamic group's): stop the children it
        names as losers, record ``winner`` (the winning child's id), end the node."""
        self.stop(StepStatus.CANCELLED, join.reason, join.losers(self.live))
        self.state.winner = winner
        if join.error is not None:
            self.run.end(self.state, StepStatus.FAILED, error=join.error)
        else:
            self.finish(join.output)

    def finish(self, output: Any) -> None:
        """Record the node's success (its children stopped): ``output`` through ``output:``."""
        try:
            output = render_output(self.node, self.run.scope_for(self.state), output)
        except StepFailed as exc:
            self.run.end(self.state, StepStatus.FAILED, error=exc)
            return
        self.run.end(self.state, StepStatus.SUCCEEDED, output=output)

    def new_place(self) -> Place:
        """Where the children are: ``prefix + step id + suffix`` then the key's mark."""
        records = self.run.session.records
        return records.place(
            self.prefix, self.suffix, self.mark, self.state.node_id, self.node.body
        )

    def spawn(self, key: int, frame: Frame, names: dict[str, Any]) -> Host:
        outer = self.run.scope_for(self.state)
        records = self.run.session.records
        place = self.place
        if place is None:
            place = self.place = self.new_place()

        def child_ended(child: Host) -> None:
            if self.live.pop(key, None) is not None and not self.decided:
                self.ended(key, child)
                self.advance()
            # Only records are kept of the child: its graph, states and scope go.
            records.add(place, key, child.states)

        child = self.run.child(frame.plan, frame, names, outer, child_ended)
        self.live[key] = child
        child.start()
        return child


def branch_output(child: Host) -> Any:
    """A branch's or pass's output: the body's ``output:``, else its last step's."""
    plan = child.plan
    if plan.outputs is not None:
        return plan.outputs.render(child.scope)
    return child.states[-1].output if child.states else None


def items_of(runner: BodyRunner, value: Any) -> list[Any]:
    """What ``items`` gave, as a list (a map's branches, a forEach loop's passes)."""
    if not isinstance(value, list | tuple):
        what = f"{runner.node.kind.value} '{runner.node.id}'"
        raise _bad(f"{what}: 'items' must give a list, not {type(value).__name__}")
    return list(value)


def count_of(runner: BodyRunner, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        what = f"{runner.node.kind.value} '{runner.node.id}'"
        raise _bad(f"{what}: 'count' must be a whole number ≥ 0: {value!r}")
    return value


def _bad(message: str) -> StepFailed:
    return StepFailed(message, type="InvalidItems")
