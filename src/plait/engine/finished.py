"""What a run keeps of its body graphs once they have ended: compact records.

A map branch, a loop pass, a sub-workflow or a dynamic group's member runs as a child
graph (``Graph.child``): a ``StepState`` per node, its id, a frame, a scope, a ready
queue, tasks. Once the child has ended, only what ``RunResult.steps`` reads is kept —
per node its status, output, attempts and times, plus its error, reason and earlier
attempts' errors when it has them — in the columns below, about 50 bytes a node (a
``StepState`` with its id and frame is about 500). The child graph is then dropped.

A node's id is not kept either: ``double<3>`` is made again, when asked for, from the
``Place`` its body runner shares between all its children (``head``, ``tail``, ``mark``)
and the child's key (its branch or pass)::

    body runner ── place = records.place(head, tail, mark)
    child ends  ─▶ records.add(place, key, child.states) ─▶ the child is dropped
    RunResult.steps["double<3>"] ─▶ records.result("double<3>") ─▶ StepResult
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterator, Sequence
from typing import Any

from plait.compiler.plan import Node, Plan
from plait.engine.result import StepResult, step_result
from plait.engine.state import StepState
from plait.errors import ErrorInfo, RunError
from plait.status import StepStatus

_STATUSES = tuple(StepStatus)
_CODES = {status: code for code, status in enumerate(_STATUSES)}
_NONE = math.nan  # a time not known (a node skipped before it started)


class Place:
    """Where one body runner's children are: a child node's id is ``head + step id +
    tail``, then ``<key>`` (a map branch), ``[key]`` (a loop pass) or nothing."""

    __slots__ = ("head", "mark", "parent_id", "plan", "seq", "tail")

    def __init__(
        self,
        head: str,
        tail: str,
        mark: str,
        seq: int,
        parent_id: str = "",
        plan: Plan | None = None,
    ) -> None:
        self.head = head
        self.tail = tail
        self.mark = mark  # "<>", "[]" or ""
        self.seq = seq  # the order the runners began in: the order of the result
        self.parent_id = parent_id  # the node id of the map, loop... that runs them
        self.plan = plan  # the body they run (None: a dynamic group's, one per member)

    def node_id(self, step_id: str, key: int) -> str:
        mark = self.mark
        if not mark:
            return f"{self.head}{step_id}{self.tail}"
        return f"{self.head}{step_id}{self.tail}{mark[0]}{key}{mark[1]}"


class Records:
    """The finished nodes of every body graph of one run, as columns: row ``r`` is one
    node of one child. Filled on the run's event loop; read after the run by
    ``RunResult.steps`` (through ``result``, ``ids`` and ``len``)."""

    def __init__(self) -> None:
        self._places = 0
        self.place_of: list[Place] = []
        self.nodes: list[Node] = []
        self.keys = array("q")
        self.status = bytearray()
        self.attempts = array("I")
        self.times = array("d")  # started, finished: two per row
        self.outputs: list[Any] = []
        # error, reason, earlier attempts' errors: only for the rows that have one
        self.extras: dict[int, tuple[RunError | None, str | None, list[RunError] | None]] = {}
        # the nodes of child graphs still running when the result was made (a paused run)
        self.live: list[StepState] = []
        self._index: dict[str, int] | None = None  # node id -> row, made when asked
        self._order: list[int] | range | None = None

    def place(
        self, head: str, tail: str, mark: str, parent_id: str = "", plan: Plan | None = None
    ) -> Place:
        self._places += 1
        return Place(head, tail, mark, self._places, parent_id, plan)

    def add(self, place: Place, key: int, states: Sequence[StepState]) -> None:
        """Keep what the result needs of a child graph's nodes (all of them ended)."""
        place_of, nodes, keys = self.place_of, self.nodes, self.keys
        status, attempts, times, outputs = self.status, self.attempts, self.times, self.outputs
        for st in states:
            row = len(nodes)
            place_of.append(place)
            nodes.append(st.node)
            keys.append(key)
            status.append(_CODES[st.status])
            attempts.append(st.attempts)
            started, finished = st.started_at, st.finished_at
            times.append(_NONE if started is None else started)
            times.append(_NONE if finished is None else finished)
            outputs.append(st.output)
            if st.error is not None or st.reason is not None or st.attempt_errors:
                self.extras[row] = (st.error, st.reason, st.attempt_errors)
        self._index = self._order = None

    def ended_states(self) -> list[EndedState]:
        """The rows as read-only stand-ins for the ``StepState``s they were (for
        ``Run.progress()``, a few times a second: O(rows))."""
        frames: dict[tuple[int, int], EndedFrame] = {}
        found = []
        for row, node in enumerate(self.nodes):
            place, key = self.place_of[row], self.keys[row]
            frame = frames.get((place.seq, key))
            if frame is None:
                frame = frames[place.seq, key] = EndedFrame(place, key)
            extras = self.extras.get(row)
            finished = self.times[2 * row + 1]
            found.append(
                EndedState(
                    node,
                    place.node_id(node.id, key),
                    _STATUSES[self.status[row]],
                    None if extras is None else extras[0],
                    None if math.isnan(finished) else finished,
                    frame,
                )
            )
        return found

    def __len__(self) -> int:
        return len(self.nodes) + len(self.live)

    def __bool__(self) -> bool:
        return bool(self.nodes) or bool(self.live)

    def node_id(self, row: int) -> str:
        return self.place_of[row].node_id(self.nodes[row].id, self.keys[row])

    def ids(self) -> Iterator[str]:
        """Every node id: the rows by runner, then by branch or pass, then the nodes
        still running."""
        for row in self._rows():
            yield self.node_id(row)
        for st in self.live:
            yield st.node_id

    def result(self, node_id: str) -> StepResult | None:
        index = self._index
        if index is None:  # (one dict of every id: made only if a body's node is asked for)
            index = self._index = {}
            for position in range(len(self.nodes)):
                index[self.node_id(position)] = position
            for position, st in enumerate(self.live):
                index[st.node_id] = -1 - position
        row = index.get(node_id)
        if row is None:
            return None
        if row < 0:
            return step_result(self.live[-1 - row])
        return self._result(row, node_id)

    def rows(self) -> Iterator[tuple[str, Node, StepStatus]]:
        """(node id, node, status) of each finished node, in the order of ``ids``."""
        for row in self._rows():
            yield self.node_id(row), self.nodes[row], _STATUSES[self.status[row]]

    def items(self) -> Iterator[tuple[str, StepResult]]:
        for row in self._rows():
            node_id = self.node_id(row)
            yield node_id, self._result(row, node_id)
        for st in self.live:
            yield st.node_id, step_result(st)

    def _result(self, row: int, node_id: str) -> StepResult:
        error, reason, earlier = self.extras.get(row, (None, None, None))
        started, finished = self.times[2 * row], self.times[2 * row + 1]
        return StepResult(
            id=node_id,
            status=_STATUSES[self.status[row]],
            output=self.outputs[row],
            error=ErrorInfo.of(error) if error is not None else None,
            attempts=self.attempts[row],
            started_at=None if math.isnan(started) else started,
            finished_at=None if math.isnan(finished) else finished,
            reason=reason,
            attempt_errors=tuple(map(ErrorInfo.of, earlier)) if earlier else (),
        )

    def _rows(self) -> list[int] | range:
        """Rows by runner and key (a map's branches end in any order), a child's nodes
        in their plan's order (a stable sort)."""
        if self._order is None:
            place_of, keys = self.place_of, self.keys
            rows = range(len(self.nodes))
            ordered = all(
                (place_of[r - 1].seq, keys[r - 1]) <= (place_of[r].seq, keys[r])
                for r in range(1, len(rows))
            )
            self._order = (
                rows if ordered else sorted(rows, key=lambda r: (place_of[r].seq << 40) | keys[r])
            )
        return self._order


class EndedFrame:
    """Where an ended node ran, as ``Frame`` says it of a live one (``parent_id``,
    ``plan``, ``node_id``): one per branch or pass."""

    __slots__ = ("_key", "_place", "parent_id", "plan")

    def __init__(self, place: Place, key: int) -> None:
        self._place = place
        self._key = key
        self.parent_id = place.parent_id
        self.plan = place.plan

    def node_id(self, step_id: str) -> str:
        return self._place.node_id(step_id, self._key)


class EndedState:
    """A node of a body graph that ended, read like its ``StepState`` (done)."""

    __slots__ = ("error", "finished_at", "frame", "node", "node_id", "status")
    done = True

    def __init__(
        self,
        node: Node,
        node_id: str,
        status: StepStatus,
        error: RunError | None,
        finished_at: float | None,
        frame: EndedFrame,
    ) -> None:
        self.node = node
        self.node_id = node_id
        self.status = status
        self.error = error
        self.finished_at = finished_at
        self.frame = frame
