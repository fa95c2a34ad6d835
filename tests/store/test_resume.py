"""Resuming a run: what succeeded is reused, never run again; the rest runs."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest

import plait
from plait.compiler import compile_definition
from plait.definition import parse_definition
from plait.durable import Definition, definition_hash, outline, prepare_resume
from plait.engine.result import iso
from plait.store import Store
from plait.store.records import RunRecord, StepRecord
from store.conftest import new_id

CALLS: Counter[str] = Counter()
FAIL_ONCE: set[str] = set()


@plait.tool("counted")
async def counted(name: str, value: int = 0) -> dict[str, int | str]:
    CALLS[name] += 1
    if name in FAIL_ONCE:
        FAIL_ONCE.discard(name)
        raise RuntimeError(f"{name} fails the first time")
    return {"name": name, "value": value}


MEMBERS = [f"m{i}" for i in range(10)]
DEFINITION = {
    "name": "resumable",
    "inputs": {"k": {"type": "integer", "default": 1}},
    "steps": [
        {"id": "g", "parallelGroup": {"steps": MEMBERS, "maxConcurrent": 3}},
        *[
            {"id": m, "tool": "counted", "input": {"name": m, "value": i}}
            for i, m in enumerate(MEMBERS)
        ],
        {
            "id": "total",
            "tool": "counted",
            "dependsOn": ["g"],
            "input": {"name": "total", "value": "${inputs.k}"},
        },
    ],
    "outputs": {"group": "${g.output}", "total": "${total.output}"},
}


@pytest.fixture(autouse=True)
def _reset() -> None:
    CALLS.clear()
    FAIL_ONCE.clear()


def _crashed_run(store: Store, succeeded: list[str]) -> str:
    """Records of a run whose process died after ``succeeded`` had finished: its lease
    expired, the group still running."""
    run_id = new_id()
    text = json.dumps(DEFINITION)
    plan = compile_definition(parse_definition(DEFINITION).definition)  # type: ignore[arg-type]
    now = time.time()
    store.write(
        [
            RunRecord(
                id=run_id,
                workflow="resumable",
                status="running",
                definition=text,
                definition_hash=definition_hash(text),
                outline=outline(plan),
                inputs='{"k":1}',
                lease_owner="elsewhere:1:dead",
                lease_expires_at=now - 1,
                created_at=iso(now),
                started_at=iso(now),
            )
        ]
    )
    rows = [
        StepRecord(
            run_id=run_id,
            node_id="g",
            attempt=1,
            step_id="g",
            status="running",
            started_at=iso(now),
        )
    ]
    for name in succeeded:
        value = MEMBERS.index(name)
        rows.append(
            StepRecord(
                run_id=run_id,
                node_id=name,
                attempt=1,
                step_id=name,
                status="succeeded",
                parent_step_id="g",
                join_policy="all",
                output=json.dumps({"name": name, "value": value}),
                started_at=iso(now),
                finished_at=iso(now),
            )
        )
    rows.append(
        StepRecord(
            run_id=run_id,
            node_id="m9",
            attempt=1,
            step_id="m9",
            status="running",
            started_at=iso(now),
        )
    )
    store.write(rows)
    return run_id


async def test_only_unfinished_members_of_a_group_run_again(store: Store) -> None:
    uninterrupted = await plait.Workflow.from_dict(DEFINITION).run()
    CALLS.clear()
    run_id = _crashed_run(store, MEMBERS[:7])
    wf = plait.Workflow.from_dict(DEFINITION)
    result = await plait.resume(run_id, store=store, workflow=wf)
    assert result.status is plait.RunStatus.SUCCEEDED
    assert Counter({"m7": 1, "m8": 1, "m9": 1, "total": 1}) == CALLS
    assert result.outputs == uninterrupted.outputs
    assert result.steps["m9"].attempts == 2  # the one that was running: a new attempt
    assert result.steps["m0"].attempts == 1
    rebuilt = plait.get_run(run_id, store=store)
    assert rebuilt.to_document()["outputs"] == uninterrupted.outputs
    events = [e.kind for e in store.get_events(run_id)]
    assert events[0] == "run_resumed"


async def test_a_finished_group_is_restored_whole(store: Store) -> None:
    run_id = _crashed_run(store, MEMBERS)
    rows = [
        StepRecord(
            run_id=run_id,
            node_id="g",
            attempt=1,
            step_id="g",
            status="succeeded",
            output=json.dumps({m: {"name": m, "value": i} for i, m in enumerate(MEMBERS)}),
        )
    ]
    store.write(rows)
    result = await plait.resume(run_id, store=store, workflow=plait.Workflow.from_dict(DEFINITION))
    assert Counter({"total": 1}) == CALLS
    assert result.status is plait.RunStatus.SUCCEEDED


async def test_resume_from_failure_reuses_what_succeeded(store: Store) -> None:
    FAIL_ONCE.add("m4")
    wf = plait.Workflow.from_dict(DEFINITION)
    first = await wf.run(store=store)
    assert first.status is plait.RunStatus.FAILED
    assert first.steps["total"].status is plait.StepStatus.SKIPPED
    ran_before = set(CALLS)
    with pytest.raises(plait.WorkflowError, match="--from-failure"):
        await plait.resume(first.run_id, store=store, workflow=wf)
    CALLS.clear()
    second = await plait.resume(first.run_id, store=store, workflow=wf, from_failure=True)
    assert second.status is plait.RunStatus.SUCCEEDED
    again = {name for name in CALLS if name in ran_before}
    # m4 failed; the group's `all` cancelled what was still running: those run again.
    assert "m4" in again
    assert all(first.steps[n].status is not plait.StepStatus.SUCCEEDED for n in again)
    assert second.steps["m4"].attempts == 2
    assert store.get_run(first.run_id).status == "succeeded"


async def test_a_live_lease_refuses_a_second_executor(store: Store) -> None:
    run_id = _crashed_run(store, [])
    from plait.store.records import RunUpdate

    store.write(
        [
            RunUpdate(
                run_id, {"lease_owner": "elsewhere:1:alive", "lease_expires_at": time.time() + 60}
            )
        ]
    )
    with pytest.raises(plait.LeaseHeld, match="being executed"):
        prepare_resume(run_id, store, plan=plait.Workflow.from_dict(DEFINITION).plan)


async def test_a_succeeded_run_has_nothing_to_resume(store: Store) -> None:
    result = await plait.Workflow.from_dict(DEFINITION).run(store=store)
    with pytest.raises(plait.WorkflowError, match="nothing to resume"):
        await plait.resume(result.run_id, store=store)


async def test_resume_refuses_a_changed_file_unless_allowed(tmp_path: Path) -> None:
    db = str(tmp_path / "runs.db")
    path = tmp_path / "wf.json"
    FAIL_ONCE.add("m1")
    path.write_text(json.dumps(DEFINITION))
    first = await plait.load(path).run(store=db)
    assert first.status is plait.RunStatus.FAILED
    changed = dict(DEFINITION, description="edited")
    path.write_text(json.dumps(changed))
    with pytest.raises(plait.WorkflowError, match="changed"):
        await plait.resume(first.run_id, store=db, from_failure=True)
    result = await plait.resume(first.run_id, store=db, from_failure=True, allow_changed=True)
    assert result.status is plait.RunStatus.SUCCEEDED


async def test_resume_uses_the_recorded_text_when_the_file_is_gone(tmp_path: Path) -> None:
    db = str(tmp_path / "runs.db")
    path = tmp_path / "wf.json"
    FAIL_ONCE.add("total")
    path.write_text(json.dumps(DEFINITION))
    first = await plait.load(path).run(store=db, inputs={"k": 5})
    path.unlink()
    CALLS.clear()
    result = await plait.resume(first.run_id, store=db, from_failure=True)
    assert Counter({"total": 1}) == CALLS
    assert result.outputs["total"] == {"name": "total", "value": 5}  # the recorded input


def test_definition_hash_is_of_the_text() -> None:
    plan = plait.Workflow.from_dict(DEFINITION).plan
    recorded = Definition.of("abc", None, plan)
    assert recorded.hash == definition_hash("abc")
    assert json.loads(recorded.outline)["terminals"] == ["total"]


async def test_resume_keeps_the_route_a_switch_chose(store: Store) -> None:
    FAIL_ONCE.add("big")
    wf = plait.Workflow.from_dict(
        {
            "name": "routed",
            "inputs": {"large": {"type": "boolean", "default": True}},
            "steps": [
                {
                    "id": "route",
                    "switch": [{"when": "inputs.large", "next": "big"}, {"default": "small"}],
                },
                {"id": "big", "tool": "counted", "input": {"name": "big"}},
                {"id": "small", "tool": "counted", "input": {"name": "small"}},
                {
                    "id": "merge",
                    "tool": "counted",
                    "input": {"name": "merge"},
                    "dependsOn": ["big", "small"],
                },
            ],
        }
    )
    first = await wf.run(store=store)
    assert first.status is plait.RunStatus.FAILED
    CALLS.clear()
    second = await plait.resume(first.run_id, store=store, workflow=wf, from_failure=True)
    assert second.status is plait.RunStatus.SUCCEEDED
    assert second.steps["route"].output == "big"
    assert second.steps["small"].status is plait.StepStatus.SKIPPED
    assert dict(CALLS) == {"big": 1, "merge": 1}


async def test_resume_reuses_the_branches_of_a_map_that_succeeded(store: Store) -> None:
    FAIL_ONCE.add("b2")
    wf = plait.Workflow.from_dict(
        {
            "name": "mapped",
            "steps": [
                {
                    "id": "m",
                    "parallel": {
                        "count": 4,
                        "maxConcurrent": 1,
                        "steps": [
                            {
                                "id": "b",
                                "tool": "counted",
                                "input": {"name": "b${parallel.index}", "value": 1},
                            }
                        ],
                    },
                }
            ],
        }
    )
    first = await wf.run(store=store)
    assert first.status is plait.RunStatus.FAILED
    assert dict(CALLS) == {"b0": 1, "b1": 1, "b2": 1}
    CALLS.clear()
    second = await plait.resume(first.run_id, store=store, workflow=wf, from_failure=True)
    assert second.status is plait.RunStatus.SUCCEEDED
    assert dict(CALLS) == {"b2": 1, "b3": 1}  # b0 and b1 kept their recorded outputs
    assert [o["name"] for o in second.steps["m"].output] == ["b0", "b1", "b2", "b3"]
