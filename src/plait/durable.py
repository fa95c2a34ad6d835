"""Runs that outlive their process: record a new run, resume one, cancel one from
elsewhere, and rebuild a run's result from what the store holds.

    A run row has a lease (owner, expiry) renewed by a heartbeat. Whoever holds it
    executes the run; a dead holder's lease expires (or, on the same machine, is taken
    over at once once its process is gone), and ``resume`` can then go on with the run.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plait.compiler import NO_ENV, EnvBinding, Plan, bind_env, bind_inputs, compile_loaded
from plait.definition.loader import parse_definition, parse_text, read_text_file
from plait.engine.recording import LEASE_TTL, Recorder, Restored, lease_owner, outline
from plait.engine.result import GroupResult, RunResult, StepResult, from_iso, iso
from plait.engine.run import Run
from plait.errors import ErrorInfo, LeaseHeld, Problem, RunCancelled, StoreError, WorkflowError
from plait.executors.select import Choice
from plait.status import RunStatus, StepStatus
from plait.store import Store, open_store
from plait.store.records import RunRecord, RunUpdate, StepRecord, dumps, loads

RESUMABLE = {RunStatus.RUNNING.value, RunStatus.PAUSED.value}
RESUMABLE_FROM_FAILURE = {
    RunStatus.FAILED.value,
    RunStatus.TIMED_OUT.value,
    RunStatus.CANCELLED.value,
}


def as_store(store: Store | str | Path | None) -> Store:
    if store is None or isinstance(store, str | Path):
        return open_store(None if store is None else str(store))
    return store


def definition_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Definition:
    """A workflow's text as recorded with a run, where it came from, its hash and the
    plan's outline: computed once per workflow, not once per run."""

    text: str
    file: str | None
    hash: str
    outline: str

    @classmethod
    def of(cls, text: str, file: str | None, plan: Plan) -> Definition:
        return cls(text, file, definition_hash(text), outline(plan))


def new_run(
    plan: Plan,
    inputs: dict[str, Any],
    definition: Definition,
    store: Store,
    *,
    run_id: str | None = None,
    executor: Choice = None,
    env: EnvBinding = NO_ENV,
) -> Run:
    """A run that records itself in ``store`` from its first step."""
    run = Run(plan, inputs, run_id=run_id, executor=executor, env=env)
    now = time.time()
    owner = lease_owner()
    record = RunRecord(
        id=run.run_id,
        workflow=plan.name,
        status=RunStatus.RUNNING.value,
        definition_hash=definition.hash,
        definition=definition.text,
        file=definition.file,
        outline=definition.outline,
        inputs=dumps(inputs, loose=True),
        lease_owner=owner,
        lease_expires_at=now + LEASE_TTL,
        created_at=iso(now),
        started_at=iso(now),
        updated_at=iso(now),
    )
    run.attach_recorder(Recorder(store, record=record, owner=owner))
    return run


def prepare_resume(
    run_id: str,
    store: Store,
    *,
    inputs: Mapping[str, Any] | None = None,
    text_inputs: Collection[str] = (),
    from_failure: bool = False,
    allow_changed: bool = False,
    plan: Plan | None = None,
    executor: Choice = None,
    allow_env: Collection[str] = (),
    signals: Mapping[str, Any] | None = None,
) -> Run:
    """Take over a run: check it may be resumed, take its lease, and return a ``Run``
    that reuses every step that succeeded. ``signals`` go to the ``wait`` steps of a
    paused run (``inputs`` named like a signal the workflow waits for are signals too);
    a signal the run is not waiting for is refused, so a signal is given once. The
    environment is read anew (values are never recorded): ``allow_env`` as on the first
    attempt. Raises ``WorkflowError`` (it may not be resumed), ``LeaseHeld`` (a live
    process runs it) or ``StoreError``."""
    record = store.get_run(run_id)
    if plan is None:
        plan = _recorded_plan(record, allow_changed)
    given_signals = dict(signals or {})
    inputs = dict(inputs or {})
    for name in [n for n in inputs if n in plan.signals and n not in plan.inputs]:
        value = inputs.pop(name)
        given_signals[name] = _signal_value(value) if name in text_inputs else value
    _check_signals(record, store, given_signals)
    _check_resumable(record, from_failure)
    given = dict(loads(record.inputs) or {})
    given.update(inputs)
    bound = bind_inputs(plan, given, text_keys=set(text_inputs))
    env = bind_env(plan, allow_env)
    owner = lease_owner()
    if not _take_lease(store, record, owner):
        raise LeaseHeld(
            f"run {record.id} is being executed by {record.lease_owner}; wait for it, or "
            "cancel it with plait cancel"
        )
    try:
        steps = store.get_steps(record.id)
        restored, attempts = _restorable(steps)
        seq = store.max_event_seq(record.id)
    except BaseException:
        store.release_lease(record.id, owner)
        raise
    run = Run(
        plan,
        bound,
        run_id=record.id,
        executor=executor,
        restored=restored,
        attempts_before=attempts,
        env=env,
        signals=given_signals,
    )
    run.attach_recorder(Recorder(store, seq=seq, owner=owner))
    return run


def _signal_value(text: Any) -> Any:
    """A signal given as text (``--input approved=true``): JSON if it parses, else text."""
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def waiting_for(steps: list[StepRecord]) -> dict[str, list[str]]:
    """Signal -> the node ids of ``wait`` steps whose latest row says they wait for it."""
    latest: dict[str, StepRecord] = {}
    for step in steps:
        if step.node_id not in latest or step.attempt >= latest[step.node_id].attempt:
            latest[step.node_id] = step
    found: dict[str, list[str]] = {}
    for step in latest.values():
        if step.status == StepStatus.RUNNING.value and step.detail:
            signal = (loads(step.detail) or {}).get("waiting_for")
            if signal is not None:
                found.setdefault(signal, []).append(step.node_id)
    return found


def _check_signals(record: RunRecord, store: Store, signals: dict[str, Any]) -> None:
    """A paused run needs a signal it waits for; a signal it does not wait for (already
    given, or never waited for) is refused."""
    if record.status != RunStatus.PAUSED.value:
        if signals:
            names = ", ".join(sorted(signals))
            raise WorkflowError(
                f"run {record.id} is {record.status}, not paused: signal {names} cannot be "
                "given (a signal is given once, to a run waiting for it)"
            )
        return
    waited = waiting_for(store.get_steps(record.id))
    known = ", ".join(sorted(waited)) or "none"
    for name in signals:
        if name not in waited:
            raise WorkflowError(
                f"run {record.id} is not waiting for signal '{name}' (it was already given, "
                f"or no step waits for it); waiting for: {known}"
            )
    if not signals:
        first = sorted(waited)[0] if waited else "NAME"
        raise WorkflowError(
            f"run {record.id} is paused, waiting for signal {known}; give it with "
            f"plait resume {record.id} --input {first}=VALUE"
        )


def _check_resumable(record: RunRecord, from_failure: bool) -> None:
    status = record.status
    if status in RESUMABLE:
        return
    if status in RESUMABLE_FROM_FAILURE:
        if from_failure:
            return
        raise WorkflowError(
            f"run {record.id} {status}; add --from-failure to run again what did not "
            "succeed (every step that succeeded is reused)"
        )
    raise WorkflowError(f"run {record.id} {status}; there is nothing to resume")


def _take_lease(store: Store, record: RunRecord, owner: str) -> bool:
    now = time.time()
    if store.acquire_lease(record.id, owner, LEASE_TTL, now):
        return True
    # Still leased: on this machine, a holder whose process is gone can be taken over
    # at once (the lease would expire anyway; there is no reason to wait for it).
    fresh = store.get_run(record.id)
    if fresh.lease_owner and _holder_is_dead(fresh.lease_owner):
        return store.acquire_lease(record.id, owner, LEASE_TTL, now, steal_from=fresh.lease_owner)
    return False


def _holder_is_dead(owner: str) -> bool:
    host, _, rest = owner.partition(":")
    pid_text = rest.split(":", 1)[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def _recorded_plan(record: RunRecord, allow_changed: bool) -> Plan:
    """The plan to resume with: the file as it is now if unchanged (or allowed), else
    the definition recorded with the run."""
    text = record.definition
    file = record.file
    if file is not None and Path(file).exists():
        current = read_text_file(file)
        if definition_hash(current) != record.definition_hash:
            if not allow_changed:
                raise WorkflowError(
                    Problem(
                        f"the workflow file changed since run {record.id} started; resume with "
                        "--allow-changed to use it as it is now",
                        file,
                    )
                )
            text = current
    if text is None:
        raise WorkflowError(f"run {record.id} has no recorded definition to resume with")
    json_only = file is None or file.endswith(".json")
    data = parse_text(text, file, json_only=json_only)
    return compile_loaded(parse_definition(data, file=file, source=text))


def _restorable(steps: list[StepRecord]) -> tuple[dict[str, Restored], dict[str, int]]:
    """Succeeded steps to reuse, and the highest attempt recorded for every step."""
    restored: dict[str, Restored] = {}
    attempts: dict[str, int] = {}
    for step in steps:
        attempts[step.node_id] = max(attempts.get(step.node_id, 0), step.attempt)
        if step.status == StepStatus.SUCCEEDED.value:
            detail = loads(step.detail) or {}
            restored[step.node_id] = Restored(
                output=loads(step.output),
                attempts=step.attempt,
                started_at=from_iso(step.started_at),
                finished_at=from_iso(step.finished_at),
                winner=detail.get("winner"),
            )
    return restored, attempts


def request_cancel(run_id: str, store: Store) -> str:
    """Cancel a run from anywhere. A live run sees the request within a second and
    ends ``cancelled``; a run whose process is gone (or a paused one) is marked
    ``cancelled`` at once. Returns what happened, in words."""
    record = store.get_run(run_id)
    if record.status not in RESUMABLE:
        raise WorkflowError(f"run {record.id} already {record.status}; nothing to cancel")
    owner = lease_owner()
    if _take_lease(store, record, owner):  # nobody is executing it
        fresh = store.get_run(record.id)
        if fresh.status not in RESUMABLE:  # it finished as we took the lease it gave back
            store.release_lease(record.id, owner)
            raise WorkflowError(f"run {record.id} already {fresh.status}; nothing to cancel")
        now = iso(time.time())
        # Steps its dead process left running end with the run, as a live run's would.
        steps = store.get_steps(record.id)
        unfinished = [
            step._replace(
                status=StepStatus.CANCELLED.value,
                reason="cancelled by plait cancel (no process was executing the run)",
                finished_at=now,
            )
            for step in steps
            if not StepStatus(step.status).terminal
        ]
        # Steps that never started are skipped, as a live run would record them.
        recorded = {step.node_id for step in steps}
        shape = loads(record.outline) or {"nodes": []}
        unfinished += [
            StepRecord(
                record.id,
                node["id"],
                0,
                node["id"],
                StepStatus.SKIPPED.value,
                reason="the run was cancelled before this step started",
                finished_at=now,
            )
            for node in shape["nodes"]
            if node["id"] not in recorded
        ]
        store.write(
            [
                *unfinished,
                RunUpdate(
                    record.id,
                    {
                        "status": RunStatus.CANCELLED.value,
                        "finished_at": now,
                        "error": dumps(RunCancelled("cancelled by plait cancel").to_dict()),
                        "lease_owner": None,
                        "lease_expires_at": None,
                    },
                ),
            ],
            fence=(record.id, owner),
        )
        return f"run {record.id} was not executing; marked cancelled"
    store.request_cancel(record.id)
    return f"asked run {record.id} to cancel; it stops within a few seconds"


# -- results from records -------------------------------------------------------------


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
    groups = {
        node["group_id"]: _group_result(node, results, latest.get(node["id"]))
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
    )


def _group_result(
    node: dict[str, Any], results: dict[str, StepResult], step: StepRecord | None
) -> GroupResult:
    members = [results[m] for m in node["members"] if m in results]
    own = results[node["id"]]
    detail = loads(step.detail) if step is not None else None
    return GroupResult(
        group_id=node["group_id"],
        step_id=node["id"],
        strategy=node["strategy"],
        completed_steps=[m.id for m in members if m.status is StepStatus.SUCCEEDED],
        failed_steps=[
            m.id for m in members if m.status in (StepStatus.FAILED, StepStatus.TIMED_OUT)
        ],
        skipped_steps=[
            m.id for m in members if m.status in (StepStatus.SKIPPED, StepStatus.CANCELLED)
        ],
        duration=own.duration_ms,
        success=own.status is StepStatus.SUCCEEDED,
        results={m.id: m.output for m in members if m.status is StepStatus.SUCCEEDED},
        errors={m.id: m.error for m in members if m.error is not None},
        winner=(detail or {}).get("winner"),
        status=own.status,
    )


def _error(text: str | None) -> ErrorInfo | None:
    """A recorded error (rows written by an older plait hold fewer keys)."""
    data = loads(text)
    return None if data is None else ErrorInfo.from_dict(data)


__all__ = [
    "Definition",
    "LeaseHeld",
    "StoreError",
    "as_store",
    "new_run",
    "prepare_resume",
    "request_cancel",
    "result_from_store",
]
