"""Cancelling a run reaches every level: a map inside a loop inside a group.

Whether the caller's task is cancelled (the Python API) or ``Run.cancel`` is called
(what Ctrl-C on ``plait run`` does), every node of every level ends terminal, every
running call is really stopped (no side effect after its cancel point), no later loop
pass or branch starts, and nothing is left on the loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import plait
from helpers.probe import Probe, workflow
from plait.engine.run import Run
from plait.status import RunStatus, StepStatus


def nested() -> plait.Workflow:
    work = {
        "id": "work",
        "tool": "probe",
        "input": {"name": "w${loop.index}-${parallel.index}", "wait": "never"},
    }
    inner_map = {"id": "inner", "parallel": {"count": 3, "steps": [work]}}
    return workflow(
        {"id": "outer", "parallelGroup": {"steps": ["lp", "side"], "waitStrategy": "all"}},
        {"id": "lp", "loop": {"type": "for", "count": 3, "steps": [inner_map]}},
        {"id": "side", "tool": "probe", "input": {"name": "side", "wait": "never"}},
        {"id": "after", "tool": "probe", "input": {"name": "after"}, "dependsOn": ["outer"]},
    )


RUNNING = ["w0-0", "w0-1", "w0-2", "side"]


async def start(probe: Probe) -> tuple[Run, asyncio.Task[Any]]:
    run = nested().create_run()
    task = asyncio.create_task(run.execute())
    for name in RUNNING:
        await probe.started(name)
    return run, task


def check_stopped(run: Run, probe: Probe) -> None:
    assert run.status is RunStatus.CANCELLED
    assert sorted(probe.cancelled) == sorted(RUNNING)
    assert probe.finished == []  # no call went past its cancel point
    assert probe.active == 0
    assert sorted(probe.started_names) == sorted(RUNNING)  # no later pass or branch
    states = {st.node_id: st.status for st in run._graph.states}
    states.update((node_id, status) for node_id, _, status in run._session.records.rows())
    assert all(status.terminal for status in states.values()), states
    assert states["outer"] is StepStatus.CANCELLED
    assert states["lp"] is StepStatus.CANCELLED
    assert states["inner[0]"] is StepStatus.CANCELLED
    assert {states[f"work[0]<{i}>"] for i in range(3)} == {StepStatus.CANCELLED}
    assert states["side"] is StepStatus.CANCELLED
    assert states["after"] is StepStatus.SKIPPED
    left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert left == []
    assert all(pool.active == 0 and pool.queue_length == 0 for pool in run.pools.values())


async def test_cancelling_the_callers_task_stops_every_level(probe: Probe) -> None:
    run, task = await start(probe)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    check_stopped(run, probe)


async def test_run_cancel_stops_every_level_and_returns_the_result(probe: Probe) -> None:
    run, task = await start(probe)
    run.cancel("cancelled by Ctrl-C")
    result = await task
    assert result.status is plait.RunStatus.CANCELLED
    assert result.error is not None
    assert result.error["type"] == "Cancelled"
    check_stopped(run, probe)
    assert result.steps["work[0]<1>"].status is plait.StepStatus.CANCELLED
