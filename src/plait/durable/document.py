"""A run's ``RunResult`` (and so its run document) rebuilt from its records, for
``plait runs show`` and ``plait.get_run``: the same result the run itself returned."""

from __future__ import annotations

from typing import Any

from plait.engine.result import GroupResult, RunResult, StepResult, from_iso
from plait.errors import ErrorInfo
from plait.status import RunStatus, StepStatus
from plait.store import Store
from plait.store.records import StepRecord, loads


def result_from_store(store: Store, run_id: str) -> RunResult:
    """Rebuild a run's ``RunResult`` (and so its run document) from its records."""
    record = store.get_run(run_id)
    steps = store.get_steps(record.id)
    shape = loads(record.outline) or {"nodes": [], "terminals": []}
    latest: dict[str, StepRecord] = {}
    errors: dict[str, list[ErrorInfo]] = {}
    for step in sorted(steps, key=lambda s: s.attempt):
        previous = latest.get(step.node_id)
        if previous is not None and previous.error is not None:
            errors.setdefault(step.node_id, []).append(ErrorInfo.from_dict(loads(previous.error)))
        latest[step.node_id] = step
    results: dict[str, StepResult] = {}
    for node in shape["nodes"]:
        results[node["id"]] = _step_result(
            node["id"], latest.get(node["id"]), errors.get(node["id"], [])
        )
    for node_id, step in latest.items():  # nodes of map branches and loop passes
        if node_id not in results:
            results[node_id] = _step_result(node_id, step, errors.get(node_id, []))
    # A dynamic group's members are not in the outline (its callable gave them as it
    # started): they are the nodes recorded with the group's step as their parent.
    children: dict[str, list[str]] = {}
    for node_id, step in latest.items():
        if step.parent_step_id is not None:
            children.setdefault(step.parent_step_id, []).append(node_id)
    groups = {
        node["group_id"]: _group_result(
            node, node["members"] or children.get(node["id"], []), results, latest.get(node["id"])
        )
        for node in shape["nodes"]
        if node["kind"] == "group"
    }
    return RunResult(
        run_id=record.id,
        workflow=record.workflow,
        status=RunStatus(record.status),
        outputs=loads(record.outputs),
        error=_error(record.error),
        started_at=from_iso(record.started_at),
        finished_at=from_iso(record.finished_at),
        steps=results,
        groups=groups,
        stats=loads(record.stats) or {},
    )


def _step_result(
    node_id: str, step: StepRecord | None, attempt_errors: list[ErrorInfo]
) -> StepResult:
    if step is None:
        return StepResult(node_id, StepStatus.PENDING, None, None, 0, None, None)
    return StepResult(
        id=node_id,
        status=StepStatus(step.status),
        output=loads(step.output),
        error=_error(step.error),
        attempts=step.attempt,
        started_at=from_iso(step.started_at),
        finished_at=from_iso(step.finished_at),
        reason=step.reason,
        attempt_errors=tuple(attempt_errors),
        logs=step.logs,
    )


def _group_result(
    node: dict[str, Any],
    member_ids: list[str],
    results: dict[str, StepResult],
    step: StepRecord | None,
) -> GroupResult:
    members = [results[m] for m in member_ids if m in results]
    own = results[node["id"]]
    detail = loads(step.detail) if step is not None else None
    return GroupResult.of_members(
        ((m.id, m.status, m.output, m.error) for m in members),
        group_id=node["group_id"],
        step_id=node["id"],
        strategy=node["strategy"],
        status=own.status,
        started_at=own.started_at,
        finished_at=own.finished_at,
        winner=(detail or {}).get("winner"),
    )


def _error(text: str | None) -> ErrorInfo | None:
    """A recorded error (rows written by an older plait hold fewer keys)."""
    data = loads(text)
    return None if data is None else ErrorInfo.from_dict(data)
