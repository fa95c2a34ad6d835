"""What the parts of a graph may touch of it: ``Host``, and the joins and bodies it holds.

``graph.Graph`` implements ``Host``; what starts nodes (``starts``), runs tasks
(``tasks``), joins groups (``groups``) and runs bodies (``bodies``) is typed against
this protocol, not against ``Graph``, so ``graph`` imports them and none of them
imports ``graph``: the engine's layers have no cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from plait.compiler.plan import Node, Plan
from plait.engine.ready import Edge
from plait.engine.session import Session
from plait.engine.state import Frame, StepState, Stop
from plait.errors import RunError
from plait.expressions.scope import Scope
from plait.status import RunStatus, StepStatus


class Window(Protocol):
    """A running group as its graph sees it: a window that admits members, and a join
    told of each member's end."""

    def admit(self, member: StepState) -> bool: ...
    def leave(self, member: StepState) -> None: ...
    def member_ended(self, member: StepState) -> None: ...
    def close(self) -> None: ...


class Body(Protocol):
    """A running map, loop, sub-workflow or dynamic group, as its graph sees it."""

    live: dict[int, Any]  # the child graphs running now, by branch or pass

    def stop(self, child_status: StepStatus, reason: str) -> None: ...


class Host(Protocol):
    """One graph of a run: the workflow, a map branch, a loop pass or a sub-workflow."""

    session: Session
    plan: Plan
    states: list[StepState]
    scope: Scope
    frame: Frame | None
    status: RunStatus
    error: RunError | None
    groups: dict[int, Window]
    bodies: dict[int, Body]

    def launch(self, st: StepState) -> None: ...

    def end(
        self,
        st: StepState,
        status: StepStatus,
        *,
        output: Any = None,
        error: RunError | None = None,
        reason: str | None = None,
        edge: Edge | None = None,
        restored: bool = False,
    ) -> None: ...

    def release(self, source: Node, targets: Iterable[int], edge: Edge) -> None: ...

    def cancel_node(self, st: StepState, stop: Stop) -> None: ...

    def abort(self, status: RunStatus, reason: str, error: RunError | None = None) -> None: ...

    def scope_for(self, st: StepState) -> Scope: ...

    def child(
        self,
        plan: Plan,
        frame: Frame,
        names: dict[str, Any],
        outer: Scope,
        on_done: Callable[[Host], None],
    ) -> Host: ...

    def start(self) -> None: ...
