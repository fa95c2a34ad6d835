"""What a map keeps once its branches have ended (issue 19): their outputs, and a
compact record per body node (engine/finished.py), not their graphs, states, frames and
scopes. Measured with tracemalloc, which counts allocations: a deterministic figure,
not a timing."""

from __future__ import annotations

import gc
import sys
import tracemalloc
from typing import Any

import plait
from plait.status import StepStatus

N = 10_000
PER_ITEM = 200  # bytes a finished branch may keep beyond its output


def a_map(n: int, **parallel: Any) -> plait.Workflow:
    body = [{"id": "b", "tool": "echo", "input": "item-${parallel.index}"}]
    return plait.Workflow.from_dict(
        {
            "name": "retained",
            "parallelConfig": {"maxConcurrent": 100},
            "steps": [
                {
                    "id": "m",
                    "parallel": {"count": n, "maxConcurrent": 100, "steps": body, **parallel},
                }
            ],
        }
    )


async def retained_by(wf: plait.Workflow, store: Any = None) -> tuple[int, plait.RunResult]:
    """Bytes allocated by plait during the run and still alive after it, with the result
    held; a first run fills plait's caches."""
    await wf.run(store=store)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        result = await wf.run(store=store)
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    in_plait = [tracemalloc.Filter(True, "*/plait/*")]
    diff = after.filter_traces(in_plait).compare_to(before.filter_traces(in_plait), "filename")
    return sum(stat.size_diff for stat in diff), result


async def test_a_finished_branch_keeps_its_output_and_under_200_bytes_more() -> None:
    retained, result = await retained_by(a_map(N))
    assert result.status is plait.RunStatus.SUCCEEDED
    outputs = result.steps["m"].output
    assert outputs[:2] == ["item-0", "item-1"]
    assert len(outputs) == N
    output_bytes = sum(sys.getsizeof(output) for output in outputs)
    overhead = (retained - output_bytes) / N
    assert overhead <= PER_ITEM, f"{overhead:.0f} bytes per branch beyond its output"
    # ... and the result still has every branch's node
    assert len(result.steps) == N + 1
    b = result.steps[f"b<{N - 1}>"]
    assert b.status is StepStatus.SUCCEEDED
    assert b.output == f"item-{N - 1}"
    assert b.attempts == 1
    assert b.started_at is not None
    assert b.finished_at is not None
    assert b.started_at <= b.finished_at


async def test_a_branch_that_failed_keeps_its_error_and_the_skipped_their_reason() -> None:
    wf = plait.Workflow.from_dict(
        {
            "name": "failing",
            "steps": [
                {
                    "id": "m",
                    "parallel": {
                        "count": 4,
                        "waitStrategy": "allSettled",
                        "steps": [
                            {
                                "id": "f",
                                "tool": "fail",
                                "input": {"message": "no ${parallel.index}"},
                                "when": "${parallel.index == 2}",
                            },
                            {"id": "g", "tool": "echo", "input": 1, "dependsOn": ["f"]},
                        ],
                    },
                }
            ],
        }
    )
    result = await wf.run()
    f2, g2 = result.steps["f<2>"], result.steps["g<2>"]
    assert f2.status is StepStatus.FAILED
    assert f2.error is not None
    assert f2.error.message == "no 2"
    assert g2.status is StepStatus.SKIPPED
    assert g2.reason == "dependency 'f' failed"
    assert result.steps["f<0>"].status is StepStatus.SKIPPED
    ids = [sid for sid in result.steps if sid != "m"]
    assert ids == [f"{step}<{i}>" for i in range(4) for step in ("f", "g")]
    document = result.to_document()
    assert document["steps"]["f<2>"]["error"]["message"] == "no 2"
