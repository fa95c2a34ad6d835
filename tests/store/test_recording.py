"""Runs recorded through the store, on every backend, and rebuilt from it."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

import pytest

import plait
from plait.store import Store
from plait.store.memory import MemoryStore
from plait.store.records import StepRecord, Write

WORKFLOW = {
    "name": "recorded",
    "inputs": {"n": {"type": "integer", "default": 2}},
    "steps": [
        {
            "id": "g",
            "parallelGroup": {"id": "fetch", "steps": ["a", "b", "c"], "waitStrategy": "any"},
        },
        {"id": "a", "tool": "echo", "input": {"n": "${inputs.n}"}},
        {"id": "b", "tool": "sleep", "input": {"duration": "10s"}},
        {"id": "c", "tool": "fail", "input": {"after": "5s"}},
        {"id": "after", "tool": "echo", "input": "${g.output}", "dependsOn": ["fetch"]},
        {
            "id": "bad",
            "tool": "fail",
            "input": {"message": "m", "type": "T"},
            "continueOnError": True,
        },
    ],
}


async def test_the_document_rebuilt_from_the_store_equals_the_run(store: Store) -> None:
    result = await plait.Workflow.from_dict(WORKFLOW).run(store=store)
    assert result.status is plait.RunStatus.SUCCEEDED
    rebuilt = plait.get_run(result.run_id, store=store)
    assert rebuilt.to_document() == result.to_document()
    record = store.get_run(result.run_id)
    assert record.status == "succeeded"
    assert record.lease_owner is None  # given back at the end
    assert record.definition is not None
    assert record.definition_hash is not None


GROUPS = {
    "name": "grouped",
    "steps": [
        {"id": "g", "parallelGroup": {"id": "fan", "steps": ["a", "b", "c"]}},
        {"id": "a", "tool": "echo", "input": 1},
        {"id": "b", "tool": "sleep", "input": {"duration": "10s"}},
        {"id": "c", "tool": "fail", "input": {"after": "50ms", "message": "m", "type": "T"}},
        {
            "id": "h",
            "parallelGroup": {"id": "first", "steps": ["d", "e"], "waitStrategy": "any"},
        },
        {"id": "d", "tool": "echo", "input": 2},
        {"id": "e", "tool": "sleep", "input": {"duration": "10s"}},
    ],
}


async def test_groups_rebuilt_from_the_store_equal_the_runs_field_by_field(
    store: Store,
) -> None:
    # One GroupResult.of_members builds both; this pins that they are fed alike.
    result = await plait.Workflow.from_dict(GROUPS).run(store=store)
    assert result.status is plait.RunStatus.FAILED
    fan = result.groups["fan"]
    assert (fan.completed_steps, fan.failed_steps, fan.skipped_steps) == (["a"], ["c"], ["b"])
    assert result.groups["first"].winner == "d"
    rebuilt = plait.get_run(result.run_id, store=store)
    assert rebuilt.groups.keys() == result.groups.keys()
    for group_id, live in result.groups.items():
        for f in fields(live):
            got, want = getattr(rebuilt.groups[group_id], f.name), getattr(live, f.name)
            assert got == want, f"{group_id}.{f.name}"


def _dynamic_members(ctx: Any) -> list[dict[str, Any]]:
    return [
        {"id": "m1", "tool": "echo", "input": 1},
        {"id": "m2", "tool": "fail", "input": {"message": "no"}, "continueOnError": True},
        {"id": "m3", "tool": "echo", "input": 3},
    ]


async def test_a_dynamic_groups_members_are_rebuilt_from_the_store(store: Store) -> None:
    """Its members are not in the outline (the callable gives them as it starts)."""
    wf = plait.Workflow.from_dict(
        {
            "name": "dynamic",
            "steps": [
                {"id": "dyn", "parallelGroup": {"id": "made", "steps": _dynamic_members}},
            ],
        }
    )
    result = await wf.run(store=store)
    live = result.groups["made"]
    assert live.completed_steps == ["m1", "m3"]
    assert live.failed_steps == ["m2"]
    rebuilt = plait.get_run(result.run_id, store=store).groups["made"]
    for f in fields(live):
        assert getattr(rebuilt, f.name) == getattr(live, f.name), f.name


async def test_every_step_execution_and_event_is_recorded(store: Store) -> None:
    result = await plait.Workflow.from_dict(WORKFLOW).run(store=store)
    rows = {s.node_id: s for s in store.get_steps(result.run_id)}
    assert set(rows) == {"g", "a", "b", "c", "after", "bad"}
    assert rows["a"].parent_step_id == "g"
    assert rows["a"].join_policy == "any"
    assert json.loads(rows["a"].input) == {"n": 2}
    assert rows["b"].status == "cancelled"
    assert json.loads(rows["g"].detail) == {"winner": "a"}
    assert rows["bad"].status == "failed"
    events = store.get_events(result.run_id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[0].kind == "run_started"
    assert events[-1].kind == "run_finished"


@pytest.mark.looptime
async def test_each_retry_attempt_is_recorded(store: Store) -> None:
    wf = plait.Workflow.from_dict(
        {
            "name": "r",
            "steps": [
                {
                    "id": "f",
                    "tool": "fail",
                    "input": {"type": "Flaky"},
                    "retry": {"maxAttempts": 3, "backoff": {"initial": "1s"}},
                }
            ],
        }
    )
    result = await wf.run(store=store)
    rows = sorted((s for s in store.get_steps(result.run_id)), key=lambda s: s.attempt)
    assert [(s.attempt, s.status) for s in rows] == [(1, "failed"), (2, "failed"), (3, "failed")]
    rebuilt = plait.get_run(result.run_id, store=store)
    assert rebuilt.steps["f"].attempts == 3
    assert len(rebuilt.steps["f"].attempt_errors) == 2


async def test_output_json_cannot_hold_fails_the_step_naming_it(store: Store) -> None:
    def make_set() -> set[int]:
        return {1, 2}

    wf = plait.Workflow("sets").task("s", tool=make_set)
    result = await wf.run(store=store)
    error = result.steps["s"].error
    assert error is not None
    assert error["type"] == "OutputNotSerializable"
    assert "'s'" in error["message"]
    assert "set" in error["message"]


class GatedStore(MemoryStore):
    """Holds every write of a step's success until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.holding = threading.Event()

    def write(self, batch: Sequence[Write], fence: tuple[str, str] | None = None) -> None:
        if any(
            isinstance(w, StepRecord) and w.node_id == "first" and w.status == "succeeded"
            for w in batch
        ):
            self.holding.set()
            self.gate.wait(10)
        super().write(batch, fence)


async def test_dependents_start_only_once_a_success_is_on_disk() -> None:
    started: list[str] = []

    async def second() -> str:
        started.append("second")
        return "ok"

    gated = GatedStore()
    wf = (
        plait.Workflow("flush")
        .task("first", tool="echo", input=1)
        .task("second", tool=second, depends_on=["first"])
    )
    task = asyncio.create_task(wf.run(store=gated))
    assert await asyncio.to_thread(gated.holding.wait, 10)
    for _ in range(20):
        await asyncio.sleep(0)
    assert started == []  # `first` succeeded, but is not yet on disk
    gated.gate.set()
    result = await task
    assert started == ["second"]
    assert result.status is plait.RunStatus.SUCCEEDED


class BrokenStore(MemoryStore):
    def write(self, batch: Sequence[Write], fence: tuple[str, str] | None = None) -> None:
        if any(isinstance(w, StepRecord) for w in batch):
            raise plait.StoreError("store test://broken: cannot write: disk full")
        super().write(batch, fence)


async def test_a_store_failing_mid_run_stops_the_run() -> None:
    wf = plait.Workflow("broken").task("a", tool="sleep", input={"duration": "10ms"})
    with pytest.raises(plait.StoreError, match="disk full"):
        await wf.run(store=BrokenStore())


def test_run_sync_records_in_a_sqlite_file(tmp_path: Any) -> None:
    db = tmp_path / "runs.db"
    result = plait.run_sync(plait.Workflow.from_dict(WORKFLOW), store=str(db))
    assert db.exists()
    assert plait.get_run(result.run_id[:10], store=str(db)).status is plait.RunStatus.SUCCEEDED
