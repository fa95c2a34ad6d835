"""``Run.progress()``: the counts a progress view shows, for every kind of body."""

from __future__ import annotations

import plait


async def test_progress_counts_maps_loops_groups_and_failures() -> None:
    wf = plait.Workflow.from_dict(
        {
            "name": "shapes",
            "steps": [
                {"id": "both", "parallelGroup": {"steps": ["left", "right"]}},
                {"id": "left", "tool": "noop"},
                {"id": "right", "tool": "noop"},
                {
                    "id": "lp",
                    "loop": {
                        "type": "for",
                        "count": 3,
                        "steps": [
                            {
                                "id": "fan",
                                "parallel": {
                                    "count": 2,
                                    "continueOnError": True,
                                    "steps": [
                                        {
                                            "id": "work",
                                            "tool": "fail",
                                            "when": "${parallel.index == 1 and loop.index == 2}",
                                            "input": {"message": "secret-ish"},
                                        }
                                    ],
                                },
                            }
                        ],
                    },
                },
            ],
        }
    )
    run = wf.create_run({})
    before = run.progress()
    assert before.workflow.total == 4  # the workflow's own nodes; no body has begun
    assert before.workflow.ended == 0
    await run.execute()
    snap = run.progress()
    lines = {line.path: line for line in snap.bodies}
    assert [line.path for line in snap.bodies] == [(), ("both",), ("lp",), ("lp", "fan")]
    group, loop, fan = lines[("both",)], lines[("lp",)], lines[("lp", "fan")]
    assert (group.kind, group.unit, group.total, group.succeeded) == ("group", "steps", 2, 2)
    assert (loop.kind, loop.unit, loop.total, loop.ended) == ("loop", "passes", 3, 3)
    assert (fan.kind, fan.unit, fan.total, fan.ended) == ("map", "branches", 6, 6)
    assert (fan.succeeded, fan.failed) == (5, 1)  # a map in each of 3 passes, counted as one
    # every node of the run: 4 of the workflow, 3 map nodes, 6 branch steps
    assert snap.workflow.total == 13
    assert snap.workflow.ended == 13
    assert [(f.step, f.error) for f in snap.failures] == [("work[2]<1>", "ToolError: secret-ish")]
