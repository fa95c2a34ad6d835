"""How each kind of node starts, once its dependencies are done (``STARTS``).

    task      ─▶ its pool (``tasks.submit``): a slot now, or the pool's queue
    switch    ─▶ chooses its route and ends at once (it holds no slot)
    wait      ─▶ its signal's value if the run was given it, else it waits (and may pause)
    group     ─▶ a ``GroupJoin``: its members are released through its window
    map, loop, workflow, dynamic group ─▶ a body runner (``bodies``) of child graphs

Plus what may stop a node from starting at all: a ``when`` guard, and a resume's
record that it already succeeded (``restore``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from plait.compiler.plan import NodeKind
from plait.engine import monitor, tasks
from plait.engine.groups import GroupRunner
from plait.engine.protocols import Host
from plait.engine.ready import Edge
from plait.engine.state import ResultScope, StepState, Stop
from plait.errors import PlaitError, StepFailed, StepTimedOut
from plait.expressions.template import Template
from plait.status import StepStatus


def begin(g: Host, st: StepState, value: Any = None) -> None:
    """A node starts running: counted as an attempt and recorded."""
    st.started_at = time.time()
    st.attempts += 1
    st.status = StepStatus.RUNNING
    recorder = g.session.recorder
    if recorder is not None:
        recorder.step_started(st, value)
    observer = g.session.observer
    if observer is not None:
        observer.step_started(st)


def expression_failed(g: Host, st: StepState, key: str, exc: PlaitError) -> None:
    """A node's ``key`` expression could not be evaluated: the node fails, saying so."""
    error = StepFailed(f"{key}: {exc.plain}", step=st.node.id, type="ExpressionError")
    g.end(st, StepStatus.FAILED, error=error)


def guard(g: Host, st: StepState, when: Template) -> bool:
    """Evaluate ``when``: false skips the node (a dead edge for its dependents)."""
    try:
        passed = bool(when.render(g.scope_for(st)))
    except PlaitError as exc:
        expression_failed(g, st, "when", exc)
        return False
    if not passed:
        skip(g, st, "its 'when' condition is false", Edge.DEAD)
    return passed


def skip(g: Host, st: StepState, reason: str, edge: Edge) -> None:
    """Skip a node (and a group's members with it): its dependents see ``edge``."""
    if st.node.kind is NodeKind.GROUP:
        why = f"its group '{st.node.id}' was skipped"
        stop = Stop(StepStatus.SKIPPED, StepStatus.SKIPPED, why, edge)
        for member in st.node.members:
            g.cancel_node(g.states[member], stop)
    g.end(st, StepStatus.SKIPPED, reason=reason, edge=edge)


def start_switch(g: Host, st: StepState) -> None:
    """Choose the first case whose condition holds (or the default); its targets' edges
    are live, the others' dead. A switch holds no slot: it ends as it starts."""
    begin(g, st)
    scope = g.scope_for(st)
    chosen: tuple[int, ...] = ()
    for i, (when, targets) in enumerate(st.node.cases):
        try:
            hit = when is None or bool(when.render(scope))
        except PlaitError as exc:
            expression_failed(g, st, f"switch case {i + 1}", exc)
            return
        if hit:
            chosen = targets
            break
    st.chosen = frozenset(chosen)
    ids = [g.states[i].node.id for i in chosen]
    g.end(st, StepStatus.SUCCEEDED, output=ids[0] if len(ids) == 1 else (ids or None))


def start_wait(g: Host, st: StepState) -> None:
    """A ``wait`` node: ends at once with its signal's value if the run was given it
    (a resume); otherwise it waits, and when nothing else can run the run pauses."""
    node = st.node
    session = g.session
    if node.signal in session.signals:
        begin(g, st)
        _signalled(g, st, session.signals[node.signal])
        return
    st.started_at = time.time()
    st.attempts += 1
    st.status = StepStatus.RUNNING
    if session.recorder is not None:
        session.recorder.step_waiting(st, node.signal)
    deadline = None
    if node.timeout is not None:
        deadline = session.deadlines.after(node.timeout, _wait_timed_out, g, st)
    session.waiting[st] = deadline
    session.check_pause()


def _signalled(g: Host, st: StepState, value: Any) -> None:
    node = st.node
    if node.output is not None:
        try:
            value = node.output.render(ResultScope(g.scope_for(st), value))
        except PlaitError as exc:
            expression_failed(g, st, "output", exc)
            return
    g.end(st, StepStatus.SUCCEEDED, output=value)


def _wait_timed_out(g: Host, st: StepState) -> None:
    if st.done or st not in g.session.waiting:
        return
    del g.session.waiting[st]
    node = st.node
    message = f"wait '{node.id}' for signal '{node.signal}' timed out after {node.timeout:g}s"
    g.end(st, StepStatus.TIMED_OUT, error=StepTimedOut(message, step=st.node_id))


def start_group(g: Host, st: StepState) -> None:
    """A static group: its join decides it; its members start through its window."""
    node = st.node
    if node.dynamic is not None:  # its members come from its callable, now
        start_body(g, st)
        return
    join = GroupRunner(g, st)
    g.groups[node.index] = join
    begin(g, st)
    if monitor.PARALLEL_LOG.isEnabledFor(monitor.INFO):
        monitor.parallel_started(st, len(node.members))
    if node.timeout is not None:
        join.timer = g.session.deadlines.after(node.timeout, join.timed_out)
    g.release(node, node.members, Edge.LIVE)
    join.check_empty()


def start_body(g: Host, st: StepState) -> None:
    """A map, a loop, a sub-workflow or a dynamic group: its runner runs the body as
    child graphs, and ends the node."""
    from plait.engine.bodies import runner_for_node

    begin(g, st)
    runner = runner_for_node(g, st)
    if st.node.kind is NodeKind.MAP and monitor.PARALLEL_LOG.isEnabledFor(monitor.INFO):
        monitor.parallel_started(st, None)
    g.bodies[st.node.index] = runner
    runner.start()


def restore(g: Host, st: StepState) -> None:
    """End a step that succeeded before a crash, with its recorded output. A restored
    group's members all ended back then: the ones it had not cancelled are restored
    too, the rest stay cancelled."""
    node = st.node
    restored = g.session.restored
    if node.kind is NodeKind.GROUP:
        for member_index in node.members:
            member = g.states[member_index]
            if member.done:
                continue
            if member.node_id in restored:
                restore(g, member)
            else:
                why = f"its group '{node.group_id}' had already ended"
                g.cancel_node(member, Stop(StepStatus.CANCELLED, StepStatus.CANCELLED, why))
    record = restored.pop(st.node_id)
    if node.kind is NodeKind.SWITCH:  # the route it chose back then
        chosen = record.output if isinstance(record.output, list) else [record.output]
        st.chosen = frozenset(g.plan.index[i] for i in chosen if i in g.plan.index)
    st.started_at = record.started_at
    st.attempts = max(st.attempts, record.attempts)
    st.winner = record.winner
    g.end(st, StepStatus.SUCCEEDED, output=record.output, restored=True)
    st.finished_at = record.finished_at


STARTS: dict[NodeKind, Callable[[Host, StepState], None]] = {
    NodeKind.TASK: tasks.submit,
    NodeKind.SWITCH: start_switch,
    NodeKind.WAIT: start_wait,
    NodeKind.GROUP: start_group,
    NodeKind.MAP: start_body,
    NodeKind.LOOP: start_body,
    NodeKind.WORKFLOW: start_body,
}
