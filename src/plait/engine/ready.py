"""The ready queue: which nodes may start, as dependencies end (graphlib's protocol).

Pure bookkeeping, no asyncio: ``resolve`` is called once per edge, so a completion costs
O(out-degree), with no rescans and no layers. Dead-path elimination lives here:

    edge LIVE     the source succeeded (or failed under continueOnError)
    edge DEAD     the source was skipped by routing or cancelled as a group's loser
    edge BLOCKED  the source failed: whoever needs it cannot run

A node with a BLOCKED edge is skipped; a node whose every edge is DEAD is skipped; a
node with at least one LIVE edge and no BLOCKED one runs once all its edges resolved.
"""

from __future__ import annotations

from enum import IntEnum

from plait.compiler.plan import Plan


class Edge(IntEnum):
    LIVE = 0
    DEAD = 1
    BLOCKED = 2


class Verdict(IntEnum):
    WAIT = 0
    READY = 1
    SKIP = 2


class ReadyQueue:
    __slots__ = ("_cause", "_cause_edge", "_live", "_remaining")

    def __init__(self, plan: Plan) -> None:
        self._remaining = [node.in_degree for node in plan.nodes]
        self._live = [0] * len(plan.nodes)
        self._cause: list[int | None] = [None] * len(plan.nodes)
        self._cause_edge = [Edge.LIVE] * len(plan.nodes)

    def initial(self) -> list[int]:
        """Nodes with nothing to wait for: they start at once."""
        return [i for i, n in enumerate(self._remaining) if n == 0]

    def resolve(self, target: int, edge: Edge, source: int) -> Verdict:
        """One edge into ``target`` resolved; say whether ``target`` can now start."""
        remaining = self._remaining[target] - 1
        self._remaining[target] = remaining
        if edge is Edge.LIVE:
            self._live[target] += 1
        elif edge is Edge.BLOCKED:
            if self._cause_edge[target] is not Edge.BLOCKED:
                self._cause[target] = source
                self._cause_edge[target] = Edge.BLOCKED
        elif self._cause[target] is None:
            self._cause[target] = source
            self._cause_edge[target] = Edge.DEAD
        if remaining > 0:
            return Verdict.WAIT
        if self._cause_edge[target] is Edge.BLOCKED or self._live[target] == 0:
            return Verdict.SKIP
        return Verdict.READY

    def skip_cause(self, target: int) -> tuple[int | None, Edge]:
        """Why a node was skipped: the edge that decided it, and its kind."""
        return self._cause[target], self._cause_edge[target]
