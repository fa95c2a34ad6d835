"""Maps (`parallel:`) and loops (`loop:`): branches, passes, node ids, windows (SPEC §1)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import plait
from helpers.probe import Probe, statuses, workflow


def body_step(name: str, **keys: Any) -> dict[str, Any]:
    inp: dict[str, Any] = {"name": name}
    for key in ("wait", "output", "fail"):
        if key in keys:
            inp[key] = keys.pop(key)
    return {"id": keys.pop("id", "b"), "tool": "probe", "input": inp, **keys}


def a_map(items: Any, *body: dict[str, Any], **keys: Any) -> dict[str, Any]:
    source = {"count": items} if isinstance(items, int) else {"items": items}
    extra = {k: keys.pop(k) for k in list(keys) if k in ("dependsOn", "output", "timeout")}
    return {"id": "m", "parallel": {**source, "steps": list(body), **keys}, **extra}


async def test_map_outputs_are_in_item_order_whatever_order_branches_end(probe: Probe) -> None:
    wf = workflow(
        a_map(
            ["a", "b", "c"],
            body_step("${parallel.item}", wait="go-${parallel.item}", output="${parallel.index}"),
        )
    )
    task = asyncio.create_task(wf.run())
    for name in ("a", "b", "c"):
        await probe.started(name)
    for name in ("c", "a", "b"):  # end out of order
        probe.release(f"go-{name}")
        await probe.ended(name)
    result = await task
    assert result.status is plait.RunStatus.SUCCEEDED
    assert result.steps["m"].output == [0, 1, 2]
    assert probe.finished == ["c", "a", "b"]
    assert {k: v for k, v in statuses(result).items() if k.startswith("b<")} == {
        "b<0>": "succeeded",
        "b<1>": "succeeded",
        "b<2>": "succeeded",
    }


async def test_map_window_slides_and_is_never_exceeded(probe: Probe) -> None:
    wf = workflow(a_map(6, body_step("n${parallel.index}", wait="go"), maxConcurrent=2))
    task = asyncio.create_task(wf.run())
    await probe.started("n0")
    await probe.started("n1")
    await asyncio.sleep(0)
    assert probe.started_names == ["n0", "n1"]  # the third waits for a place
    probe.release("go")
    result = await task
    assert result.status is plait.RunStatus.SUCCEEDED
    assert probe.peak == 2
    assert len(probe.finished) == 6


async def test_an_empty_collection_runs_no_branch_and_gives_an_empty_list(probe: Probe) -> None:
    wf = workflow(a_map([], body_step("never")))
    result = await wf.run()
    assert result.status is plait.RunStatus.SUCCEEDED
    assert result.steps["m"].output == []
    assert probe.started_names == []


async def test_items_from_an_earlier_step_wait_for_it(probe: Probe) -> None:
    wf = workflow(
        body_step("src", id="src", output=[10, 20]),
        a_map("${src.output}", body_step("x${parallel.item}", output="${parallel.item}")),
    )
    result = await wf.run()
    assert result.steps["m"].output == [10, 20]
    assert probe.started_names[0] == "src"


async def test_a_failed_branch_fails_an_all_map_and_cancels_the_rest(probe: Probe) -> None:
    wf = workflow(
        a_map(
            ["never", "fail", "never"],
            {"id": "w", "tool": "waits_or_fails", "input": {"how": "${parallel.item}"}},
        )
    )
    task = asyncio.create_task(wf.run())
    result = await asyncio.wait_for(task, 10)
    assert result.status is plait.RunStatus.FAILED
    assert statuses(result)["m"] == "failed"
    assert statuses(result)["w<1>"] == "failed"
    assert statuses(result)["w<0>"] == "cancelled"  # it was running: really stopped
    assert statuses(result)["w<2>"] == "skipped"  # it had not begun
    error = result.steps["m"].error
    assert error is not None
    assert "branch 1 failed" in error["message"]


@plait.tool("waits_or_fails")
async def waits_or_fails(how: str) -> str:
    if how == "fail":
        raise plait.ToolError("boom", type="Boom")
    await asyncio.Event().wait()  # until cancelled
    return "unreachable"


async def test_continue_on_error_keeps_a_map_going(probe: Probe) -> None:
    wf = workflow(
        a_map(
            ["ok", "fail", "ok"],
            {"id": "w", "tool": "echo_or_fail", "input": {"how": "${parallel.item}"}},
            continueOnError=True,
        )
    )
    result = await wf.run()
    assert result.status is plait.RunStatus.SUCCEEDED
    assert result.steps["m"].output == ["ok", None, "ok"]
    assert result.steps["w<1>"].status is plait.StepStatus.FAILED


@plait.tool("echo_or_fail")
async def echo_or_fail(how: str) -> str:
    if how == "fail":
        raise plait.ToolError("boom", type="Boom")
    return how


async def test_an_any_map_takes_the_first_success_and_names_the_winner(probe: Probe) -> None:
    wf = workflow(
        a_map(
            ["slow", "fast"],
            body_step("${parallel.item}", wait="go-${parallel.item}", output="${parallel.item}"),
            waitStrategy="any",
        )
    )
    task = asyncio.create_task(wf.run())
    await probe.started("slow")
    await probe.started("fast")
    probe.release("go-fast")
    result = await task
    assert result.steps["m"].output == "fast"
    assert probe.cancelled == ["slow"]


async def test_for_loop_passes_run_in_order_with_node_ids(probe: Probe) -> None:
    wf = workflow(
        {
            "id": "l",
            "loop": {
                "type": "for",
                "count": 3,
                "steps": [body_step("p${loop.index}", output="${loop.results}")],
            },
        }
    )
    result = await wf.run()
    assert result.status is plait.RunStatus.SUCCEEDED
    assert probe.order() == ["start:p0", "end:p0", "start:p1", "end:p1", "start:p2", "end:p2"]
    # each pass sees the outputs of the passes before it
    assert result.steps["l"].output == [[], [[]], [[], [[]]]]
    assert [k for k in result.steps if k.startswith("b[")] == ["b[0]", "b[1]", "b[2]"]


async def test_for_each_sees_its_item(probe: Probe) -> None:
    wf = workflow(
        {
            "id": "l",
            "loop": {
                "type": "forEach",
                "items": ["x", "y"],
                "steps": [body_step("${loop.item}", output="${loop.items}")],
            },
        }
    )
    result = await wf.run()
    assert probe.started_names == ["x", "y"]
    assert result.steps["l"].output == [["x", "y"], ["x", "y"]]


async def test_while_checks_before_each_pass_and_do_while_after(probe: Probe) -> None:
    never = workflow(
        {
            "id": "l",
            "loop": {
                "type": "while",
                "condition": "${inputs.go}",
                "maxIterations": 3,
                "steps": [body_step("w")],
            },
        },
        inputs={"go": {"type": "boolean", "default": False}},
    )
    result = await never.run()
    assert result.steps["l"].output == []
    assert probe.started_names == []
    once = workflow(
        {
            "id": "l",
            "loop": {
                "type": "doWhile",
                "condition": "${b.output}",
                "maxIterations": 3,
                "steps": [body_step("d", output=False)],
            },
        }
    )
    result = await once.run()
    assert result.steps["l"].output == [False]
    assert probe.started_names == ["d"]


async def test_a_while_still_true_at_max_iterations_fails_with_loop_limit_exceeded(
    probe: Probe,
) -> None:
    wf = workflow(
        {
            "id": "l",
            "loop": {
                "type": "doWhile",
                "condition": "${b.output}",
                "maxIterations": 3,
                "steps": [body_step("w${loop.index}", output=True)],
            },
        }
    )
    result = await wf.run()
    assert result.status is plait.RunStatus.FAILED
    error = result.steps["l"].error
    assert error is not None
    assert error["type"] == "LoopLimitExceeded"
    assert probe.started_names == ["w0", "w1", "w2"]  # nothing silently cut: it fails


async def test_an_error_in_a_pass_stops_later_passes(probe: Probe) -> None:
    wf = workflow(
        {
            "id": "l",
            "loop": {
                "type": "forEach",
                "items": ["ok", "fail", "ok"],
                "steps": [{"id": "w", "tool": "echo_or_fail", "input": {"how": "${loop.item}"}}],
            },
        }
    )
    result = await wf.run()
    assert result.status is plait.RunStatus.FAILED
    assert "w[2]" not in dict(result.steps)
    assert result.steps["w[1]"].status is plait.StepStatus.FAILED
    error = result.steps["l"].error
    assert error is not None
    assert "pass 1 failed" in error["message"]


async def test_loops_nest_in_maps_with_node_ids_and_records(probe: Probe) -> None:
    wf = workflow(
        a_map(
            2,
            {
                "id": "inner",
                "loop": {
                    "type": "for",
                    "count": 2,
                    "steps": [body_step("i${parallel.index}-${loop.index}", id="inc")],
                },
            },
        )
    )
    result = await wf.run(store="memory://")
    assert result.status is plait.RunStatus.SUCCEEDED
    ids = [k for k in result.steps if k.startswith("inc")]
    assert sorted(ids) == ["inc<0>[0]", "inc<0>[1]", "inc<1>[0]", "inc<1>[1]"]
    assert result.steps["m"].output == [["i0-0", "i0-1"], ["i1-0", "i1-1"]]


async def test_cancelling_the_run_stops_every_branch(probe: Probe) -> None:
    wf = workflow(a_map(3, body_step("n${parallel.index}", wait="never")))
    run = asyncio.create_task(wf.run())
    for i in range(3):
        await probe.started(f"n{i}")
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert sorted(probe.cancelled) == ["n0", "n1", "n2"]
    assert probe.active == 0  # nothing left running


async def test_branches_are_recorded_under_their_map_and_shown_by_runs_show(
    probe: Probe, tmp_path: Any
) -> None:
    from plait.store import open_store

    store = open_store(str(tmp_path / "runs.db"))
    wf = workflow(
        a_map(
            2,
            {
                "id": "inner",
                "loop": {"type": "for", "count": 2, "steps": [body_step("x", id="inc")]},
            },
        )
    )
    result = await wf.run(store=store)
    rows = {row.node_id: row for row in store.get_steps(result.run_id)}
    assert rows["inner<1>"].parent_step_id == "m"
    assert rows["inner<1>"].branch_index == 1
    assert rows["inc<1>[0]"].parent_step_id == "inner<1>"
    assert rows["inc<1>[0]"].loop_iteration == 0
    assert rows["inc<1>[0]"].step_id == "inc"
    shown = plait.get_run(result.run_id, store=store)
    assert set(shown.steps) == set(result.steps)
    store.close()


@pytest.mark.parametrize(
    ("source", "words"),
    [({"items": "${inputs.v}"}, "'items' must give a list, not int"), ({"count": -1}, None)],
)
async def test_items_that_are_not_a_list_fail_the_map(
    probe: Probe, source: dict[str, Any], words: str | None
) -> None:
    data = {
        "name": "bad",
        "inputs": {"v": {"type": "integer", "default": 3}},
        "steps": [{"id": "m", "parallel": {**source, "steps": [body_step("x")]}}],
    }
    if words is None:  # a negative count is refused before anything runs
        with pytest.raises(plait.ValidationError, match="0 or more"):
            plait.Workflow.from_dict(data).plan  # noqa: B018
        return
    result = await plait.Workflow.from_dict(data).run()
    error = result.steps["m"].error
    assert error is not None
    assert error["type"] == "InvalidItems"
    assert words in error["message"]
    assert probe.started_names == []
