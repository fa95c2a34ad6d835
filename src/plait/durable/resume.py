"""Resuming a run: check it may be resumed, give the signals it waits for, pick the
plan (the file as it is now, or the definition recorded with the run), take its lease,
and hand back a ``Run`` that reuses every step that succeeded."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from plait.compiler import EnvBinding, Plan, bind_env, bind_inputs, compile_loaded
from plait.definition.loader import parse_definition, parse_text, read_text_file
from plait.definition.policy import DEFAULT_POLICY, Policy
from plait.durable.lease import take_lease
from plait.durable.start import definition_hash
from plait.engine.lease import configured_lease_ttl, lease_owner
from plait.engine.recording import Recorder, Restored
from plait.engine.result import from_iso
from plait.engine.run import Run
from plait.errors import InputError, LeaseHeld, Problem, WorkflowError
from plait.executors.select import Choice
from plait.secrets import SecretUnavailable, unmask
from plait.status import RunStatus, StepStatus
from plait.store import Store
from plait.store.records import RunRecord, StepRecord, loads

RESUMABLE = {RunStatus.RUNNING.value, RunStatus.PAUSED.value}
RESUMABLE_FROM_FAILURE = {
    RunStatus.FAILED.value,
    RunStatus.TIMED_OUT.value,
    RunStatus.CANCELLED.value,
}


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
    policy: Policy = DEFAULT_POLICY,
) -> Run:
    """Take over a run: check it may be resumed, take its lease, and return a ``Run``
    that reuses every step that succeeded. ``signals`` go to the ``wait`` steps of a
    paused run (``inputs`` named like a signal the workflow waits for are signals too);
    a signal the run is not waiting for is refused, so a signal is given once. The
    environment is read anew (values are never recorded): ``allow_env`` as on the first
    attempt; ``policy`` (``--allow-python``, ``--allow-workflow-dir``) too, for the
    definition compiled again. Raises ``WorkflowError`` (it may not be resumed),
    ``LeaseHeld`` (a live process runs it) or ``StoreError``."""
    record = store.get_run(run_id)
    if plan is None:
        plan = _recorded_plan(record, allow_changed, policy)
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
    ttl = configured_lease_ttl()
    if not take_lease(store, record, owner, ttl):
        raise LeaseHeld(
            f"run {record.id} is being executed by {record.lease_owner}; wait for it, or "
            "cancel it with plait cancel"
        )
    try:
        _check_unchanged(record, store.get_run(record.id))
        steps = store.get_steps(record.id)
        restored, attempts = _restorable(steps, env, plan)
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
    run.attach_recorder(Recorder(store, seq=seq, owner=owner, lease_ttl=ttl))
    return run


def _check_unchanged(checked: RunRecord, held: RunRecord) -> None:
    """The run whose lease was taken is the run that was checked: no other process ran
    it in between. (Two resumes read a crashed run; one runs it to ``failed`` and gives
    the lease back; the other, taking the lease then, would run the failed step again
    on the strength of its stale "still running".)"""
    before = (checked.status, checked.updated_at, checked.finished_at)
    if (held.status, held.updated_at, held.finished_at) != before:
        raise WorkflowError(
            f"run {held.id} was resumed by another process meanwhile (it is now "
            f"{held.status}); nothing was run: see plait runs show {held.id}"
        )


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


def _recorded_plan(record: RunRecord, allow_changed: bool, policy: Policy) -> Plan:
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
    return compile_loaded(parse_definition(data, file=file, source=text), policy=policy)


def _restorable(
    steps: list[StepRecord], env: EnvBinding, plan: Plan
) -> tuple[dict[str, Restored], dict[str, int]]:
    """Succeeded steps to reuse, and the highest attempt recorded for every step."""
    restored: dict[str, Restored] = {}
    attempts: dict[str, int] = {}
    for step in steps:
        attempts[step.node_id] = max(attempts.get(step.node_id, 0), step.attempt)
        if step.status == StepStatus.SUCCEEDED.value:
            detail = loads(step.detail) or {}
            restored[step.node_id] = Restored(
                output=_recorded_output(step, env, plan),
                attempts=step.attempt,
                started_at=from_iso(step.started_at),
                finished_at=from_iso(step.finished_at),
                winner=detail.get("winner"),
            )
    return restored, attempts


def _recorded_output(step: StepRecord, env: EnvBinding, plan: Plan) -> Any:
    """A succeeded step's output as its dependents got it: the secrets masked out of
    the record are put back from the environment as the resume reads it (the record
    says where, and for which variable; never the value)."""
    if step.output is None or step.output_masks is None:
        return loads(step.output)
    try:
        return loads(unmask(step.output, step.output_masks, env.values))
    except SecretUnavailable as exc:
        what = f"${{env.{exc.name}}}" if exc.name is not None else "a secret"
        which = "its output" if step.node_id == step.step_id else f"the output of {step.node_id}"
        raise InputError(
            [
                Problem(
                    f"{which} held {what} when it succeeded, and this resume cannot read "
                    "the variable; set it (and give the same --allow-env) to resume the run",
                    plan.file,
                    step.step_id,
                    f"env.{exc.name}" if exc.name is not None else "env",
                )
            ]
        ) from None
