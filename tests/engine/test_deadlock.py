"""Deadlock freedom (issue 5): groups, maps and loops waiting on their children hold no
worker slot, so nesting them any depth deep runs in a global pool of ONE slot.

If a waiting parent held a slot, the first leaf would wait for it forever. Each run is
guarded by a timeout, so a deadlock fails the test instead of hanging it.

The issue asks for 5 levels of fan-out 10 (100,000 leaves). That run takes about 10 s
here, too long for the unit suite: it runs with ``PLAIT_TEST_SLOW=1``; the suite
runs 5 levels of fan-out 4 (1,024 leaves, under half a second).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest

import plait

GUARD_S = 120.0  # wall-clock seconds: a deadlock fails here instead of hanging the suite


def nested_maps(levels: int, fan_out: int) -> plait.Workflow:
    body: list[dict[str, Any]] = [{"id": "leaf", "tool": "noop"}]
    for level in range(levels, 0, -1):
        body = [{"id": f"m{level}", "parallel": {"count": fan_out, "steps": body}}]
    return plait.Workflow.from_dict(
        {"name": "nested", "parallelConfig": {"maxConcurrent": 1}, "steps": body}
    )


@pytest.mark.parametrize(
    "fan_out",
    [
        4,
        pytest.param(
            10,
            marks=pytest.mark.skipif(
                not os.environ.get("PLAIT_TEST_SLOW"), reason="100,000 leaves: PLAIT_TEST_SLOW=1"
            ),
        ),
    ],
)
@pytest.mark.timeout(GUARD_S + 30)
async def test_five_levels_of_nested_maps_run_in_one_slot(fan_out: int) -> None:
    run = nested_maps(5, fan_out).create_run()
    async with asyncio.timeout(GUARD_S):
        result = await run.execute()
    assert result.status is plait.RunStatus.SUCCEEDED
    leaves = fan_out**5
    assert result.stats["tasksCompleted"] == leaves
    assert run.pools["default"].peak_active == 1
    last = "leaf" + f"<{fan_out - 1}>" * 5  # the last leaf: one suffix per enclosing map
    assert result.steps[last].status is plait.StepStatus.SUCCEEDED


async def test_groups_maps_and_loops_nested_in_each_other_run_in_one_slot() -> None:
    # map -> loop -> group of two members -> map -> task, all in one slot
    inner_map = {"id": "inner", "parallel": {"count": 3, "steps": [{"id": "t", "tool": "noop"}]}}
    body = [
        {"id": "g", "parallelGroup": {"steps": ["a", "inner"]}},
        {"id": "a", "tool": "echo", "input": "${loop.index}"},
        inner_map,
    ]
    loop = {"id": "lp", "loop": {"type": "for", "count": 3, "steps": body}}
    wf = plait.Workflow.from_dict(
        {
            "name": "mixed",
            "parallelConfig": {"maxConcurrent": 1},
            "steps": [{"id": "outer", "parallel": {"count": 4, "steps": [loop]}}],
        }
    )
    run = wf.create_run()
    async with asyncio.timeout(GUARD_S):
        result = await run.execute()
    assert result.status is plait.RunStatus.SUCCEEDED
    assert result.stats["tasksCompleted"] == 4 * 3 * (1 + 3)
    assert run.pools["default"].peak_active == 1
