"""The ready queue: which nodes may start, as dependencies end (graphlib's protocol).

Pure bookkeeping, no asyncio: ``resolve`` is called once per edge, so a completion costs
O(out-degree), with no rescans and no layers. Dead-path elimination lives here:

    edge LIVE     the source succeeded (or failed under continueOnError)
    edge DEAD     the source was skipped by routing or cancelled as a group's loser
    edge BLOCKED  the source failed: whoever needs it cannot run

Once every edge into a node has resolved:

- a BLOCKED edge skips it;
- a node reached by control edges (a ``switch`` case's ``next``, an ``onError``
  handler) runs only if at least one of them fired (is LIVE), whatever data edges it
  also has: a route that was not taken does not run because it reads upstream data;
- otherwise it runs if at least one edge is LIVE, and is skipped if every one is DEAD.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import IntEnum

from plait.compiler.plan import Node, Plan
from plait.status import StepStatus


class Edge(IntEnum):
    LIVE = 0
    DEAD = 1
    BLOCKED = 2


def edge_after(node: Node, status: StepStatus) -> Edge:
    """The edge a node's ending gives its dependents (a route's are ``route_edges``)."""
    if status is StepStatus.SUCCEEDED:
        return Edge.LIVE
    if status is StepStatus.FAILED or status is StepStatus.TIMED_OUT:
        absorbed = node.continue_on_error or bool(node.on_error)
        return Edge.LIVE if absorbed else Edge.BLOCKED
    return Edge.DEAD


def route_edges(node: Node, failed: bool, chosen: frozenset[int]) -> Iterator[tuple[int, Edge]]:
    """The out-edges of a node that routes and ended with a live edge. A switch's
    targets and an ``onError`` handler are control edges: live only for the route taken
    (the chosen cases; the handlers of a failure); every other route is dead. After a
    failure routed by ``onError``, the data edges are dead too: the failure went to its
    handler."""
    for target in node.out:
        if target in node.on_error:
            yield target, Edge.LIVE if failed else Edge.DEAD
        elif failed:
            yield target, Edge.DEAD
        elif target in node.routed:
            yield target, Edge.LIVE if target in chosen else Edge.DEAD
        else:
            yield target, Edge.LIVE


class Readiness(IntEnum):
    """What one resolved edge means for its target."""

    WAIT = 0
    READY = 1
    SKIP = 2


class ReadyQueue:
    __slots__ = ("_cause", "_cause_edge", "_control", "_fired", "_live", "_remaining", "_routes")

    def __init__(self, plan: Plan) -> None:
        nodes = plan.nodes
        self._remaining = [node.in_degree for node in nodes]
        self._live = [0] * len(nodes)
        self._cause: list[int | None] = [None] * len(nodes)
        self._cause_edge = [Edge.LIVE] * len(nodes)
        # control edges: how many reach each node, how many of those fired
        self._routes = [node.routed for node in nodes]
        self._control = [0] * len(nodes)
        for node in nodes:
            for target in node.routed:
                self._control[target] += 1
        self._fired = [0] * len(nodes)

    def initial(self) -> list[int]:
        """Nodes with nothing to wait for: they start at once."""
        return [i for i, n in enumerate(self._remaining) if n == 0]

    def resolve(self, target: int, edge: Edge, source: int) -> Readiness:
        """One edge into ``target`` resolved; say whether ``target`` can now start."""
        remaining = self._remaining[target] - 1
        if remaining < 0:
            raise ValueError(f"node {target}: an edge from {source} resolved after all had")
        self._remaining[target] = remaining
        control = self._control[target] > 0 and target in self._routes[source]
        if edge is Edge.LIVE:
            self._live[target] += 1
            if control:
                self._fired[target] += 1
        elif edge is Edge.BLOCKED:
            if self._cause_edge[target] is not Edge.BLOCKED:
                self._cause[target] = source
                self._cause_edge[target] = Edge.BLOCKED
        elif self._cause[target] is None or (control and self._cause_edge[target] is Edge.DEAD):
            self._cause[target] = source  # a route not taken says why better than data
            self._cause_edge[target] = Edge.DEAD
        if remaining > 0:
            return Readiness.WAIT
        if self._cause_edge[target] is Edge.BLOCKED or self._live[target] == 0:
            return Readiness.SKIP
        if self._control[target] and not self._fired[target]:
            return Readiness.SKIP
        return Readiness.READY

    def skip_cause(self, target: int) -> tuple[int | None, Edge]:
        """Why a node was skipped: the edge that decided it, and its kind."""
        cause = self._cause[target]
        return cause, self._cause_edge[target] if cause is not None else Edge.DEAD
