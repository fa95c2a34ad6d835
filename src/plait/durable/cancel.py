"""Cancelling a run from anywhere: ask a live run to stop, or end one nobody executes."""

from __future__ import annotations

import time

from plait.durable.lease import take_lease
from plait.durable.resume import RESUMABLE
from plait.engine.lease import lease_owner
from plait.engine.result import iso
from plait.errors import RunCancelled, WorkflowError
from plait.status import RunStatus, StepStatus
from plait.store import Store
from plait.store.records import RunUpdate, StepRecord, dumps, loads


def request_cancel(run_id: str, store: Store) -> str:
    """Cancel a run from anywhere. A live run sees the request within a second and
    ends ``cancelled``; a run whose process is gone (or a paused one) is marked
    ``cancelled`` at once. Returns what happened, in words."""
    record = store.get_run(run_id)
    if record.status not in RESUMABLE:
        raise WorkflowError(f"run {record.id} already {record.status}; nothing to cancel")
    owner = lease_owner()
    if take_lease(store, record, owner):  # nobody is executing it
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
