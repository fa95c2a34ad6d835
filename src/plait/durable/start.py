"""Starting a recorded run: the workflow's text as recorded, and a run that records
itself in the store, holding its lease, from its first step."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plait.compiler import NO_ENV, EnvBinding, Plan
from plait.compiler.plan import NodeKind
from plait.engine.lease import configured_lease_ttl, lease_owner
from plait.engine.recording import Recorder
from plait.engine.result import iso
from plait.engine.run import Run
from plait.executors.select import Choice
from plait.status import RunStatus
from plait.store import Store, open_store
from plait.store.records import RunRecord, dumps


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
    ttl = configured_lease_ttl()
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
        lease_expires_at=now + ttl,
        created_at=iso(now),
        started_at=iso(now),
        updated_at=iso(now),
    )
    run.attach_recorder(Recorder(store, record=record, owner=owner, lease_ttl=ttl))
    return run


def outline(plan: Plan) -> str:
    """The plan's shape, kept with the run so its document can be rebuilt without the
    workflow file: which nodes are groups, their members, strategies and ids."""
    nodes = []
    for node in plan.nodes:
        entry: dict[str, Any] = {"id": node.id, "kind": node.kind.value}
        if node.kind is NodeKind.GROUP:
            entry.update(
                group_id=node.group_id,
                strategy=node.strategy.value,
                members=[plan.nodes[m].id for m in node.members],
            )
        nodes.append(entry)
    return dumps({"nodes": nodes, "terminals": [plan.nodes[i].id for i in plan.terminals]})
