"""One graph's execution: start what is ready, record what ends, release what follows.

A graph is the workflow, or one map branch, loop pass or sub-workflow of it; all the
graphs of a run share its ``Session``. There is no polling loop. Every ending goes
through ``end``; ``propagate`` drains a work-list of endings, each costing
O(out-degree), and launches whatever became ready::

    node ends ─▶ end() ─▶ propagate(): its group's join · its out-edges ─▶ launch()
                                                      └─ route() / skip()

A work-list, so a chain of 100,000 skips cannot overflow the stack. How each kind of
node starts is in ``starts``; a task's life in ``tasks``; groups in ``groups``; maps,
loops and sub-workflows in ``bodies``."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from plait.compiler.plan import Node, NodeKind, Plan
from plait.engine import monitor, starts
from plait.engine.protocols import Body, Host, Window
from plait.engine.ready import Edge, Readiness, ReadyQueue, edge_after, route_edges
from plait.engine.session import Session
from plait.engine.state import ErrorScope, Frame, FrameScope, StepState, Stop, skip_reason
from plait.errors import RunCancelled, RunError, RunTimedOut, StepTimedOut
from plait.expressions.scope import Scope
from plait.status import RunStatus, StepStatus

_FAILED = (StepStatus.FAILED, StepStatus.TIMED_OUT)


class Graph:
    """Executes one plan inside a run. ``start()`` it; it ends when every node has."""

    def __init__(
        self,
        session: Session,
        plan: Plan,
        states: list[StepState],
        scope: Scope,
        frame: Frame | None = None,
        on_done: Callable[[Host], None] | None = None,
    ) -> None:
        self.session = session
        self.plan = plan
        self.states = states
        self.scope = scope
        self.frame = frame
        self._on_done = on_done
        self.status = RunStatus.PENDING
        self.error: RunError | None = None
        self.started_at: float | None = None
        self.groups: dict[int, Window] = {}
        self.bodies: dict[int, Body] = {}  # maps, loops, sub-workflows, dynamic groups
        self.done: asyncio.Future[None] | None = None
        self._queue = ReadyQueue(plan)
        self._ended: deque[StepState] = deque()
        self._propagating = False
        self._remaining = len(plan.nodes)
        self._abort_status: RunStatus | None = None

    def child(
        self,
        plan: Plan,
        frame: Frame,
        names: dict[str, Any],
        outer: Scope,
        on_done: Callable[[Host], None],
    ) -> Graph:
        """A map branch, a loop pass or a sub-workflow: ``plan`` run inside this run."""
        states = self.session.new_states(plan, frame)
        return Graph(
            self.session, plan, states, FrameScope(plan, states, names, outer), frame, on_done
        )

    def start(self) -> None:
        self.status = RunStatus.RUNNING
        self.started_at = time.time()
        if self.done is None:  # (the workflow's graph: made by Run before it begins)
            self.done = asyncio.get_running_loop().create_future()
        self._propagating = True
        try:
            for index in self._queue.initial():
                self.launch(self.states[index])
        finally:
            self._propagating = False
        self.propagate()

    def launch(self, st: StepState) -> None:
        """Start a node whose dependencies are done: through its ``when`` and its group's
        window, then as its kind starts (``starts.STARTS``)."""
        if st.done:
            return
        node, restored = st.node, self.session.restored
        if restored and st.node_id in restored:
            starts.restore(self, st)
            return
        if node.when is not None and not st.in_window and not starts.guard(self, st, node.when):
            return
        if node.group is not None and not st.in_window and not self.groups[node.group].admit(st):
            st.status = StepStatus.QUEUED
            return
        starts.STARTS[node.kind](self, st)

    def scope_for(self, st: StepState) -> Scope:
        """The names a node's expressions see: the graph's, and ``error`` in a handler."""
        return self.scope if st.caught is None else ErrorScope(self.scope, st.caught)

    # -- endings -----------------------------------------------------------------------

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
    ) -> None:
        """Record that a node ended, once; its consequences follow in ``propagate``. A
        success over the run's limits, or (with a store) not JSON, fails here; with a
        store, a success is released to the dependents only once it is on disk."""
        if st.done:
            return
        output_json = None
        recorder = self.session.recorder
        weigh = output is not None or recorder is not None  # (None, no store: nothing to do)
        if status is StepStatus.SUCCEEDED and not restored and weigh:
            output_json, refused = self.session.weigh(st.node_id, output, recorder is not None)
            if refused is not None:
                status, output, error = StepStatus.FAILED, None, refused
        st.done = True
        st.status = status
        st.output = output
        st.error = error
        st.reason = reason
        st.finished_at = time.time()
        node = st.node
        if node.kind is not NodeKind.TASK and monitor.PARALLEL_LOG.isEnabledFor(monitor.INFO):
            monitor.parallel_ended(st)
        if edge is None:
            edge = edge_after(node, status)
            if edge is Edge.BLOCKED and node.group is None and self.error is None:
                self.error = error  # a failure nothing absorbs fails the graph
        st.edge = edge
        observer = self.session.observer
        if observer is not None and not restored:
            observer.step_ended(st)
        if recorder is not None and not restored:
            # What dependents consume (a success, or a failure under continueOnError)
            # reaches them only once it is on disk.
            if st.edge is Edge.LIVE:
                self.session.unreleased += 1
                recorder.step_ended(st, output_json, lambda: self._released(st))
                return
            recorder.step_ended(st, None, None)
        self._ended.append(st)
        if not self._propagating:
            self.propagate()

    def _released(self, st: StepState) -> None:
        """A success is on disk: now its dependents may consume it."""
        self.session.unreleased -= 1
        self._ended.append(st)
        if not self._propagating:
            self.propagate()

    def propagate(self) -> None:
        """Drain the endings: tell each one's group, then resolve its out-edges."""
        self._propagating = True
        ended = self._ended
        try:
            while ended:
                st = ended.popleft()
                self._remaining -= 1
                node = st.node
                if node.group is not None:
                    window = self.groups.get(node.group)
                    if window is not None:
                        if st.in_window:
                            window.leave(st)
                        window.member_ended(st)
                if node.routed and st.edge is Edge.LIVE:
                    self._route(st)
                else:
                    self.release(node, node.out, st.edge)
        finally:
            self._propagating = False
        if self._remaining == 0 and self.done is not None and not self.done.done():
            self._finish()  # (a branch or pass ending: its map or loop may now go on)
        if self.session.waiting:
            self.session.check_pause()

    def release(self, source: Node, targets: Iterable[int], edge: Edge) -> None:
        """Resolve the edges ``source → targets``: launch or skip what they decide."""
        states = self.states
        resolve = self._queue.resolve
        for target in targets:
            st = states[target]
            if st.done:
                continue
            readiness = resolve(target, edge, source.index)
            if readiness is Readiness.READY:
                self.launch(st)
            elif readiness is Readiness.SKIP:
                self._skip(st)

    def _route(self, st: StepState) -> None:
        """Out-edges of a node that routes (``ready.route_edges``); a handler that a
        failure reaches sees it as ``${error}``."""
        node, failed = st.node, st.status in _FAILED
        caught = {**st.error.to_dict(), "step": node.id} if failed and st.error else None
        for target, edge in route_edges(node, failed, st.chosen):
            if caught is not None and edge is Edge.LIVE and self.states[target].caught is None:
                self.states[target].caught = caught
            self.release(node, (target,), edge)

    def _skip(self, st: StepState) -> None:
        cause, edge = self._queue.skip_cause(st.node.index)
        starts.skip(self, st, skip_reason(None if cause is None else self.states[cause], st), edge)

    def cancel_node(self, st: StepState, stop: Stop) -> None:
        """End a node that has not ended, and really stop whatever it started."""
        if st.done:
            return
        node, started = st.node, st.status is StepStatus.RUNNING
        if node.kind is NodeKind.GROUP:
            if (window := self.groups.get(node.index)) is not None:
                window.close()
            for member in node.members:
                self.cancel_node(self.states[member], stop)
        body = self.bodies.get(node.index)
        if body is not None:
            body.stop(stop.if_started, stop.reason)
        if node.kind is NodeKind.WAIT:
            self.session.unwait(st)
        status = stop.if_started if started else stop.if_waiting
        error = stop.error
        if status is StepStatus.TIMED_OUT and error is None:
            error = StepTimedOut(stop.reason, step=node.id)
        task = st.task
        self.end(st, status, reason=stop.reason, edge=stop.edge, error=error)
        # A task that has not begun sees `done` when it does, and returns its slot; only a
        # running one is cancelled (cancelling an unstarted task would skip its cleanup).
        if started and task is not None and not task.done():
            task.cancel()

    def abort(self, status: RunStatus, reason: str, error: RunError | None = None) -> None:
        """End the graph early: running steps stopped, waiting ones skipped."""
        if self._abort_status is not None or self.status.finished:
            return
        self._abort_status = status
        if self.frame is None:
            self.session.ending = True
        timed_out = status is RunStatus.TIMED_OUT
        running = StepStatus.TIMED_OUT if timed_out else StepStatus.CANCELLED
        self.error = error or (RunTimedOut(reason) if timed_out else RunCancelled(reason))
        # No group may decide from members the abort ends (an `all` group would "succeed").
        for window in self.groups.values():
            window.close()
        stop = Stop(running, StepStatus.SKIPPED, reason, Edge.BLOCKED)
        propagating, self._propagating = self._propagating, True
        try:
            for st in self.states:
                if not st.done:
                    self.cancel_node(st, stop)
        finally:
            self._propagating = propagating
        if not self._propagating:
            self.propagate()

    def _finish(self) -> None:
        ended = RunStatus.SUCCEEDED if self.error is None else RunStatus.FAILED
        self.status = ended if self._abort_status is None else self._abort_status
        assert self.done is not None
        self.done.set_result(None)
        if self._on_done is not None:
            self._on_done(self)
