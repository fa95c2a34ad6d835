"""The ``RunResult`` of a run that ended, read from its session and its graphs.

It only reads: the run's status is what its graph says, except that a run whose
``outputs:`` cannot be rendered has failed (and says why).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from plait.compiler.plan import NodeKind
from plait.engine.graph import Graph
from plait.engine.protocols import Host
from plait.engine.result import GroupResult, RunResult, StepResults
from plait.engine.session import Session
from plait.engine.state import StepState
from plait.errors import ErrorInfo, PlaitError, RunError
from plait.status import RunStatus


def build_result(session: Session, root: Graph, finished_at: float) -> RunResult:
    """The result of the run whose top graph is ``root``."""
    plan = root.plan
    records = session.records  # the nodes of map branches, loop passes...
    records.live = [st for graph in _live(root) for st in graph.states]  # (a paused run)
    steps = StepResults(root.states, plan.index, records if records else None)
    groups = {}
    for st in root.states:
        node = st.node
        if node.kind is NodeKind.GROUP:
            groups[node.group_id] = _group_result(st, _members(root, st))
    status, error = root.status, root.error
    if session.oversize is not None and status is RunStatus.SUCCEEDED:
        status, error = RunStatus.FAILED, session.oversize  # (nothing absorbs it)
    outputs = None
    if status is RunStatus.SUCCEEDED:
        try:
            outputs = _outputs(root)
        except PlaitError as exc:
            status = RunStatus.FAILED
            error = RunError(f"outputs: {exc.plain}", type="ExpressionError")
    return RunResult(
        run_id=session.run_id,
        workflow=plan.name,
        status=status,
        outputs=outputs,
        error=ErrorInfo.of(error) if error is not None else None,
        started_at=root.started_at,
        finished_at=finished_at,
        steps=steps,
        groups=groups,
        stats=_stats(session),
        secrets=session.secrets,
    )


def _live(root: Graph) -> Iterator[Host]:
    """The body graphs still running (a paused run's, waiting for a signal)."""
    graphs: list[Host] = [child for body in root.bodies.values() for child in body.live.values()]
    while graphs:
        graph = graphs.pop()
        yield graph
        for body in graph.bodies.values():
            graphs.extend(body.live.values())


def _group_result(st: StepState, members: list[StepState]) -> GroupResult:
    node = st.node
    return GroupResult.of_members(
        (
            (m.node.id, m.status, m.output, None if m.error is None else ErrorInfo.of(m.error))
            for m in members
        ),
        group_id=node.group_id,
        step_id=node.id,
        strategy=node.strategy.value,
        status=st.status,
        started_at=st.started_at,
        finished_at=st.finished_at,
        winner=st.winner,
    )


def _members(root: Graph, st: StepState) -> list[StepState]:
    """A group's member states: its listed members, or what a dynamic group started."""
    node = st.node
    if node.dynamic is None:
        return [root.states[i] for i in node.members]
    body = root.bodies.get(node.index)
    return list(getattr(body, "members", ()))


def _outputs(root: Graph) -> Any:
    """The run's outputs: its ``outputs:``, else its terminal steps' by id."""
    plan = root.plan
    if plan.outputs is None:
        return {root.states[i].node.id: root.states[i].output for i in plan.terminals}
    return plan.outputs.render(root.scope)


def _stats(session: Session) -> dict[str, Any]:
    pools = {name: pool.get_stats() for name, pool in session.pools.items()}
    total: dict[str, Any] = {
        "tasksCompleted": 0,
        "tasksFailed": 0,
        "tasksTimedOut": 0,
        "totalWaitTime": 0.0,
        "averageWaitTime": 0.0,
        "activeWorkers": 0,
        "queueLength": 0,
    }
    for stats in pools.values():
        for key, value in stats.to_dict().items():
            if key in total and key != "averageWaitTime":
                total[key] += value
    started = total["tasksCompleted"] + total["tasksFailed"] + total["tasksTimedOut"]
    total["averageWaitTime"] = round(total["totalWaitTime"] / started, 3) if started else 0.0
    total["totalWaitTime"] = round(total["totalWaitTime"], 3)
    total["pools"] = {name: s.to_dict() for name, s in pools.items()}
    if session.breakers:  # circuitBreakers, by tool
        total["circuitBreakers"] = {
            name: b.statistics().to_dict() for name, b in session.breakers.items()
        }
    return total
