"""The mutable state of one run: a ``StepState`` per node, and the names ``${...}`` sees."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from plait.compiler.plan import Node, NodeKind, Plan
from plait.engine.ready import Edge
from plait.errors import RunError
from plait.expressions.scope import Namespace, Scope
from plait.status import StepStatus


class StepState(Namespace):
    """What is known of one node in one run. Mutated only by the run's event loop."""

    __slots__ = (
        "attempt_errors",
        "attempts",
        "caught",
        "chosen",
        "done",
        "edge",
        "error",
        "finished_at",
        "frame",
        "in_window",
        "logs",
        "node",
        "node_id",
        "output",
        "queued_at",
        "reason",
        "started_at",
        "status",
        "task",
        "winner",
    )

    def __init__(self, node: Node, node_id: str | None = None, frame: Frame | None = None) -> None:
        self.node = node
        # `double<3>` for step `double` in branch 3 of a map: unique in the run
        self.node_id = node.id if node_id is None else node_id
        self.frame = frame
        self.status = StepStatus.PENDING
        self.done = False
        self.output: Any = None
        self.error: RunError | None = None
        self.attempts = 0
        self.attempt_errors: list[RunError] | None = None
        self.queued_at: float | None = None
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.reason: str | None = None
        self.task: asyncio.Task[None] | None = None
        self.edge = Edge.LIVE
        self.in_window = False
        self.winner: str | None = None
        # what the step's code logs: a steplogs.StepLog while it runs, then its text
        self.logs: Any = None
        # routing: the error an onError route brought here; the targets a switch chose
        self.caught: dict[str, Any] | None = None
        self.chosen: frozenset[int] = frozenset()

    def get_key(self, key: str) -> Any:
        """``${step.output}``, ``${step.status}``, ``${step.error}``, ``${step.attempts}``."""
        if key == "output":
            return self.output
        if key == "status":
            return self.status.value
        if key == "error":
            return None if self.error is None else self.error.to_dict()
        if key == "attempts":
            return self.attempts
        raise KeyError(key)

    def __repr__(self) -> str:
        return f"<StepState {self.node.id} {self.status.value}>"


@dataclass(frozen=True, slots=True)
class Stop:
    """How to end a node that has not ended (and what it started): ``if_started`` if it
    was running, else ``if_waiting``; its dependents see ``edge`` (None: as its status
    says)."""

    if_started: StepStatus
    if_waiting: StepStatus
    reason: str
    edge: Edge | None = None
    error: RunError | None = None


@dataclass(frozen=True, slots=True)
class Frame:
    """Where a body's nodes run: which map branch, loop pass or sub-workflow of which
    step. A node's id is ``prefix + step id + suffix``: ``double<3>``, ``inc<3>[2]``,
    ``sub/fetch`` (step ``fetch`` of the sub-workflow run by step ``sub``)."""

    plan: Plan
    suffix: str  # appended to each node's step id: `<3>`, `<3>[2]`
    parent_id: str  # the node id of the map, loop or workflow step
    branch: int | None = None
    iteration: int | None = None
    join: str | None = None  # the map's wait strategy
    prefix: str = ""  # `sub/` inside the sub-workflow of step `sub`

    def node_id(self, step_id: str) -> str:
        return self.prefix + step_id + self.suffix


class FrameScope:
    """A body's names: ``parallel``/``loop``, its own steps, then the enclosing scope's
    (inner scopes shadow outer ones)."""

    __slots__ = ("_index", "_names", "_outer", "_states")

    def __init__(
        self, plan: Plan, states: list[StepState], names: dict[str, Any], outer: Scope
    ) -> None:
        self._index = plan.index
        self._states = states
        self._names = names
        self._outer = outer

    def lookup(self, name: str) -> Any:
        found = self._names.get(name)
        if found is not None:
            return found
        index = self._index.get(name)
        if index is not None:
            return self._states[index]
        return self._outer.lookup(name)


class RunScope:
    """The names visible to the workflow's expressions: steps, inputs, env, run, workflow."""

    __slots__ = ("_fixed", "_index", "_states")

    def __init__(
        self,
        plan: Plan,
        states: list[StepState],
        inputs: dict[str, Any],
        run_id: str,
        env: dict[str, str | None] | None = None,
    ) -> None:
        self._index = plan.index
        self._states = states
        self._fixed: dict[str, Any] = {
            "inputs": inputs,
            "env": env or {},
            "run": {"id": run_id},
            "workflow": {"name": plan.name},
        }

    def lookup(self, name: str) -> Any:
        fixed = self._fixed.get(name)
        if fixed is not None:
            return fixed
        return self._states[self._index[name]]


class ErrorScope:
    """An ``onError`` handler sees the failure it handles as ``${error}``."""

    __slots__ = ("_error", "_outer")

    def __init__(self, outer: Scope, error: dict[str, Any]) -> None:
        self._outer = outer
        self._error = error

    def lookup(self, name: str) -> Any:
        if name == "error":
            return self._error
        return self._outer.lookup(name)


class ResultScope:
    """A step's ``output:`` template sees its tool's result as ``${result}``."""

    __slots__ = ("_outer", "_result")

    def __init__(self, outer: Scope, result: Any) -> None:
        self._outer = outer
        self._result = result

    def lookup(self, name: str) -> Any:
        if name == "result":
            return self._result
        return self._outer.lookup(name)


def skip_reason(cause: StepState | None, st: StepState) -> str:
    """Why ``st`` was skipped, from the node whose edge decided it."""
    if cause is None:
        return "no live dependency"
    node, target = cause.node, st.node.index
    if node.index == st.node.group:
        return f"its group '{node.id}' {cause.status.value}"
    if target in node.on_error:
        return f"'{node.id}' did not fail (this step is its onError route)"
    if cause.status in (StepStatus.FAILED, StepStatus.TIMED_OUT) and node.on_error:
        return f"'{node.id}' failed and its onError route was taken instead"
    if target in node.routed and node.kind is NodeKind.SWITCH:
        return f"switch '{node.id}' did not choose this route"
    return f"dependency '{node.id}' {cause.status.value}"
