"""Where a running run is, for a person: ``Run.progress()``'s snapshot.

One pass over the run's nodes (the workflow's, the live body graphs', and the ended
ones' records, ``Records.ended_states``)
and over its live body runners: O(nodes), called by a progress view a few times a
second, never on the engine's hot path. Nothing here changes the run.

A map, loop, group or sub-workflow step is one *body*, counted across all its
instances: a map inside branch 3 of another map counts, with the same map inside every
other branch, on one line (``outer / inner``), so the lines are bounded by the
workflow's definition, not by its data. A map counts branches, a loop passes, a group
and a sub-workflow their steps; a branch or pass has ended when all its steps have,
and failed when one of them failed or timed out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from plait.compiler.plan import NodeKind
from plait.engine.finished import EndedState
from plait.engine.state import StepState
from plait.status import StepStatus

_FAILED = (StepStatus.FAILED, StepStatus.TIMED_OUT)


@dataclass
class BodyProgress:
    """One line of progress: the workflow (``path == ()``) or one map, loop, group or
    sub-workflow step (``path``: the step ids from the workflow down to it)."""

    path: tuple[str, ...]
    kind: str  # "workflow", "map", "loop", "group", "subworkflow"
    unit: str  # what is counted: "steps", "branches", "passes"
    total: int = 0  # known so far: a map's branches once its items are evaluated
    ended: int = 0
    succeeded: int = 0
    failed: int = 0  # failed or timed out
    running: int = 0

    @property
    def name(self) -> str:
        return self.path[-1] if self.path else ""

    @property
    def depth(self) -> int:
        return len(self.path)

    @property
    def active(self) -> bool:
        """Started and not all ended."""
        return self.ended < self.total or self.running > 0


@dataclass(frozen=True)
class Failure:
    """A step that failed or timed out: its node id (``resize<3>``) and error, masked."""

    step: str
    status: StepStatus
    error: str
    finished_at: float


@dataclass
class RunProgress:
    """``Run.progress()``: the workflow's line first (every node of the run, map
    branches' steps included), then each body's, in tree order (a body after its
    parent); and every failure so far, in the order they happened."""

    bodies: list[BodyProgress]
    failures: list[Failure] = field(default_factory=list)

    @property
    def workflow(self) -> BodyProgress:
        return self.bodies[0]


def snapshot(
    top: list[StepState],
    nested: Sequence[StepState | EndedState],
    runners: Iterable[Any],
    mask: Callable[[str], str],
) -> RunProgress:
    """The progress of a run whose workflow's nodes are ``top``, whose bodies' nodes are
    ``nested``, and whose live body runners are ``runners`` (for what has not started:
    a windowed map's branches not yet created)."""
    # the nodes a body node or a group member may name as its parent: not the tasks
    by_id: dict[str, StepState | EndedState] = {
        st.node_id: st for states in (top, nested) for st in states if st.node.kind in _KINDS
    }
    paths: dict[str, tuple[str, ...]] = {}

    def path_of(st: StepState | EndedState) -> tuple[str, ...]:
        """The static path of a body node: the step ids from the workflow down to it."""
        found = paths.get(st.node_id)
        if found is None:
            frame = st.frame
            parent = None if frame is None else by_id.get(frame.parent_id)
            found = (path_of(parent) if parent is not None else ()) + (st.node.id,)
            paths[st.node_id] = found
        return found

    root = BodyProgress((), "workflow", "steps")
    bodies: dict[tuple[str, ...], BodyProgress] = {}
    # a branch or pass (a frame), by id: its body's path, and [ended, failed, running, all]
    frames: dict[int, tuple[tuple[str, ...], list[int]]] = {}
    frames_of_steps: dict[int, BodyProgress] = {}  # a sub-workflow's frame: its line
    parent_lines: dict[str, BodyProgress] = {}  # a map's or loop's node id: its line
    failures: list[Failure] = []
    top_nodes = [st.node for st in top]  # a top node's ``group`` indexes these

    def body(st: StepState | EndedState) -> BodyProgress:
        path = path_of(st)
        line = bodies.get(path)
        if line is None:
            kind, unit = _KINDS.get(st.node.kind, ("group", "steps"))
            if st.node.kind is NodeKind.GROUP and st.node.dynamic is not None:
                unit = "branches"
            line = bodies[path] = BodyProgress(path, kind, unit)
        return line

    def count(line: BodyProgress, st: StepState | EndedState) -> None:
        line.total += 1
        status = st.status
        if status is StepStatus.RUNNING:
            line.running += 1
        elif st.done:
            line.ended += 1
            if status is StepStatus.SUCCEEDED:
                line.succeeded += 1
            elif status in _FAILED:
                line.failed += 1

    statuses = dict.fromkeys(StepStatus, 0)
    frame_tallies: dict[int, list[int] | None] = {}  # None: a sub-workflow's frame
    for states in (top, nested):
        for st in states:
            node = st.node
            status = st.status
            statuses[status] += 1
            if node.kind in _KINDS:
                body(st)  # a body's line exists from its node on, in the tree's order
            if status in _FAILED and st.done:
                error = st.error
                text = f"{error.type}: {error.message}" if error is not None else status.value
                failures.append(Failure(st.node_id, status, mask(text), st.finished_at or 0))
            frame = st.frame
            if node.group is not None:  # a static group's member: a step of the group
                if frame is None:
                    group = by_id.get(top_nodes[node.group].id)
                elif frame.plan is not None:
                    group = by_id.get(frame.node_id(frame.plan.nodes[node.group].id))
                else:  # (a dynamic group's member has no group of its own)
                    group = None
                if group is not None:
                    count(body(group), st)
            if frame is None:
                continue
            key = id(frame)
            if key in frame_tallies:  # (the common case: the frame's line is known)
                tally = frame_tallies[key]
            else:
                line = parent_lines.get(frame.parent_id)
                if line is None:
                    parent = by_id.get(frame.parent_id)
                    if parent is None:
                        frame_tallies[key] = tally = None
                        continue
                    line = parent_lines[frame.parent_id] = body(parent)
                if line.unit == "steps":
                    frame_tallies[key] = tally = None
                    frames_of_steps[key] = line
                else:
                    frame_tallies[key] = tally = [0, 0, 0, 0]
                    frames[key] = (line.path, tally)
            if tally is None:
                line_of_steps = frames_of_steps.get(key)
                if line_of_steps is not None:  # a sub-workflow: its steps
                    count(line_of_steps, st)
                continue
            tally[3] += 1
            if st.done:
                tally[0] += 1
                if status in _FAILED:
                    tally[1] += 1
            elif status is StepStatus.RUNNING:
                tally[2] += 1

    root.total = sum(statuses.values())
    root.running = statuses[StepStatus.RUNNING]
    root.succeeded = statuses[StepStatus.SUCCEEDED]
    root.failed = sum(statuses[s] for s in _FAILED)
    root.ended = sum(n for s, n in statuses.items() if s.terminal)

    for path, (ended, failed, running, size) in frames.values():
        line = bodies[path]
        line.total += 1
        if ended == size:
            line.ended += 1
            if failed:
                line.failed += 1
            else:
                line.succeeded += 1
        elif running or ended:
            line.running += 1

    for runner in runners:  # what a live body has not created yet
        unstarted = _unstarted(runner)
        if unstarted:
            st = runner.state
            line = body(st)
            line.total += unstarted
            plan = getattr(st.node, "body", None)
            root.total += unstarted * (len(plan.nodes) if plan is not None else 0)

    failures.sort(key=lambda f: f.finished_at)
    ordered = [root, *_tree_order(list(bodies.values()))]
    return RunProgress(ordered, failures)


_KINDS = {
    NodeKind.MAP: ("map", "branches"),
    NodeKind.LOOP: ("loop", "passes"),
    NodeKind.GROUP: ("group", "steps"),
    NodeKind.WORKFLOW: ("subworkflow", "steps"),
}


def _unstarted(runner: Any) -> int:
    """Branches or passes a live map or counted loop has not created yet."""
    if runner.decided or not getattr(runner, "_begun", False):
        return 0
    kind = runner.node.kind
    if kind is NodeKind.MAP:
        return max(0, int(getattr(runner, "total", 0)) - int(getattr(runner, "next", 0)))
    if kind is NodeKind.LOOP:
        count = getattr(runner, "count", None)
        if count is None:
            return 0  # a while loop: how many passes is not known
        return max(0, int(count) - int(getattr(runner, "index", 0)) - len(runner.live))
    return 0


def _tree_order(lines: list[BodyProgress]) -> list[BodyProgress]:
    """Each body after its parent, siblings in the order they were first seen."""
    children: dict[tuple[str, ...], list[BodyProgress]] = {}
    for line in lines:
        children.setdefault(line.path[:-1], []).append(line)
    ordered: list[BodyProgress] = []

    def walk(path: tuple[str, ...]) -> None:
        for line in children.get(path, []):
            ordered.append(line)
            walk(line.path)

    walk(())
    return ordered


def live_runners(graph: Any) -> list[Any]:
    """Every body runner of ``graph`` and of its live child graphs, depth first."""
    found: list[Any] = []
    stack = [graph]
    while stack:
        g = stack.pop()
        for runner in g.bodies.values():
            found.append(runner)
            stack.extend(runner.live.values())
    return found
