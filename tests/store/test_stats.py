"""Metrics across recorded runs (``plait stats``), on every store backend.

The PostgreSQL database is shared by the session's tests: each test's workflow names
are its own, and it looks only at them."""

from __future__ import annotations

import uuid

import plait
from plait.store import Store
from plait.store.stats import workflow_metrics


@plait.tool("stats_maybe_fail")
async def stats_maybe_fail(fail: bool = False) -> str:
    if fail:
        raise plait.ToolError("failed on request", type="Requested")
    return "ok"


METERED = {
    "name": "metered",
    "inputs": {"fail": {"type": "boolean", "default": False}},
    "steps": [
        {"id": "g", "parallelGroup": {"steps": ["a", "b"]}, "continueOnError": True},
        {"id": "a", "tool": "echo", "input": 1},
        {"id": "b", "tool": "stats_maybe_fail", "input": {"fail": "${inputs.fail}"}},
        {
            "id": "m",
            "parallel": {
                "count": 2,
                "steps": [
                    {"id": "inner", "parallelGroup": {"steps": ["x"]}},
                    {"id": "x", "tool": "echo", "input": "${parallel.index}"},
                ],
            },
        },
        {"id": "after", "tool": "echo", "dependsOn": ["g", "m"]},
    ],
}
BROKEN = {"name": "broken", "steps": [{"id": "f", "tool": "fail"}]}


async def test_runs_groups_and_maps_across_runs(store: Store) -> None:
    tag = uuid.uuid4().hex[:8]
    metered_name, broken_name = f"metered-{tag}", f"broken-{tag}"
    metered = plait.Workflow.from_dict({**METERED, "name": metered_name})
    for fail in (False, True, False):
        result = await metered.run({"fail": fail}, store=store)
        assert result.status is plait.RunStatus.SUCCEEDED
    broken = await plait.Workflow.from_dict({**BROKEN, "name": broken_name}).run(store=store)
    assert broken.status is plait.RunStatus.FAILED

    every = [m.workflow for m in workflow_metrics(store)]
    assert every == sorted(every)
    assert broken_name in every
    assert metered_name in every
    found = {
        "metered": workflow_metrics(store, metered_name)[0].to_dict(),
        "broken": workflow_metrics(store, broken_name)[0].to_dict(),
    }
    runs = found["metered"]["runs"]
    assert (runs["executions"], runs["failures"], runs["failureRate"]) == (3, 0, 0.0)
    assert runs["averageDuration"] >= 0
    groups = found["metered"]["groups"]
    assert sorted(groups) == ["g", "inner", "m"]  # groups and maps, nested ones too
    assert (groups["g"]["executions"], groups["g"]["failures"]) == (3, 1)
    assert groups["g"]["failureRate"] == 33.33
    assert groups["g"]["averageDuration"] >= 0
    assert (groups["m"]["executions"], groups["m"]["failures"]) == (3, 0)
    assert groups["inner"]["executions"] == 6  # one per branch of each run's map
    assert found["broken"] == {
        "runs": {
            "executions": 1,
            "averageDuration": found["broken"]["runs"]["averageDuration"],
            "failureRate": 100.0,
            "failures": 1,
            "cancelled": 0,
            "damaged": 0,
        },
        "groups": {},
    }
    only = workflow_metrics(store, broken_name)
    assert [m.workflow for m in only] == [broken_name]
    assert workflow_metrics(store, f"nothing-{tag}") == []
