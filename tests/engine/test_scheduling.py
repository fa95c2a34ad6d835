"""The ready queue: a step starts the moment its last dependency ends, never later."""

from __future__ import annotations

import asyncio
import gc

import plait
from helpers.probe import Probe, statuses, step, workflow
from plait.compiler import compile_definition
from plait.definition import parse_definition
from plait.engine.ready import Edge, Readiness, ReadyQueue


async def test_independent_steps_start_at_once(probe: Probe) -> None:
    wf = workflow(step("a", wait="go"), step("b", wait="go"), step("c", wait="go"))
    task = asyncio.create_task(wf.run())
    for name in "abc":
        await probe.started(name)
    assert probe.active == 3  # all three running together before any may end
    probe.release("go")
    result = await task
    assert result.status is plait.RunStatus.SUCCEEDED


async def test_fast_branch_never_waits_for_slow_sibling(probe: Probe) -> None:
    # slow ── slow_next        fast ── fast_next
    wf = workflow(
        step("slow", wait="slow-go"),
        step("slow_next", dependsOn=["slow"]),
        step("fast"),
        step("fast_next", dependsOn=["fast"]),
    )
    task = asyncio.create_task(wf.run())
    await probe.ended("fast_next")  # no layer barrier: it ran while `slow` still runs
    assert "slow" not in probe.finished
    probe.release("slow-go")
    result = await task
    assert probe.order().index("end:fast_next") < probe.order().index("end:slow")
    assert result.status is plait.RunStatus.SUCCEEDED


async def test_step_starts_when_last_dependency_ends(probe: Probe) -> None:
    wf = workflow(step("a", wait="a-go"), step("b", wait="b-go"), step("c", dependsOn=["a", "b"]))
    task = asyncio.create_task(wf.run())
    await probe.started("a")
    await probe.started("b")
    probe.release("a-go")
    await probe.ended("a")
    for _ in range(5):
        await asyncio.sleep(0)
    assert "c" not in probe.started_names
    probe.release("b-go")
    await task
    assert probe.order()[-2:] == ["start:c", "end:c"]


async def test_outputs_flow_through_references() -> None:
    wf = plait.Workflow.from_dict(
        {
            "name": "refs",
            "inputs": {"n": {"type": "integer", "default": 2}},
            "steps": [
                {"id": "a", "tool": "echo", "input": {"items": [10, 20, 30], "n": "${inputs.n}"}},
                {"id": "b-x", "tool": "echo", "input": "${a.output.items[1]}"},
                {"id": "c", "tool": "echo", "input": "item ${b-x.output} of ${inputs.n}"},
                {"id": "d", "tool": "echo", "input": ["${run.id}", "${workflow.name}"]},
            ],
        }
    )
    result = await wf.run(run_id="r-1")
    assert result.steps["b-x"].output == 20
    assert result.steps["c"].output == "item 20 of 2"
    assert result.steps["d"].output == ["r-1", "refs"]


async def test_failed_step_fails_run_and_skips_its_dependents_only(probe: Probe) -> None:
    wf = workflow(
        step("bad", fail="broken"),
        step("after_bad", dependsOn=["bad"]),
        step("after_after", dependsOn=["after_bad"]),
        step("independent"),
    )
    result = await wf.run()
    assert result.status is plait.RunStatus.FAILED
    assert statuses(result) == {
        "bad": "failed",
        "after_bad": "skipped",
        "after_after": "skipped",
        "independent": "succeeded",
    }
    assert result.steps["after_bad"].reason == "dependency 'bad' failed"
    assert result.error is not None
    assert (result.error.type, result.error.message, result.error.step) == ("Boom", "broken", "bad")


async def test_continue_on_error_lets_dependents_run(probe: Probe) -> None:
    wf = workflow(step("bad", fail="broken", continueOnError=True), step("next", dependsOn=["bad"]))
    result = await wf.run()
    assert result.status is plait.RunStatus.SUCCEEDED
    assert statuses(result) == {"bad": "failed", "next": "succeeded"}
    assert result.steps["bad"].error is not None


async def test_long_chain_of_skips_does_not_recurse() -> None:
    n = 5000
    steps = [{"id": "s0", "tool": "fail"}]
    steps += [{"id": f"s{i}", "tool": "noop", "dependsOn": [f"s{i - 1}"]} for i in range(1, n)]
    result = await plait.Workflow.from_dict({"name": "chain", "steps": steps}).run()
    assert sum(s.status is plait.StepStatus.SKIPPED for s in result.steps.values()) == n - 1


async def test_no_task_is_left_running_after_a_run(probe: Probe) -> None:
    wf = workflow(
        step("a", sleep=0.01),
        {"id": "g", "parallelGroup": {"steps": ["b", "c"], "waitStrategy": "any"}},
        step("b", sleep=0.001),
        step("c", wait="never"),
    )
    before = set(asyncio.all_tasks())
    result = await wf.run()
    gc.collect()
    assert result.status is plait.RunStatus.SUCCEEDED
    assert set(asyncio.all_tasks()) == before
    assert probe.active == 0
    assert probe.cancelled == ["c"]


def test_ready_queue_protocol() -> None:
    loaded = parse_definition(
        {
            "name": "q",
            "steps": [
                {"id": "a", "tool": "noop"},
                {"id": "b", "tool": "noop"},
                {"id": "c", "tool": "noop", "dependsOn": ["a", "b"]},
            ],
        }
    )
    assert loaded.definition is not None
    plan = compile_definition(loaded.definition)
    q = ReadyQueue(plan)
    a, b, c = (plan.index[x] for x in "abc")
    assert q.initial() == [a, b]
    assert q.resolve(c, Edge.LIVE, a) is Readiness.WAIT
    assert q.resolve(c, Edge.LIVE, b) is Readiness.READY
    q2 = ReadyQueue(plan)
    assert q2.resolve(c, Edge.DEAD, a) is Readiness.WAIT
    assert q2.resolve(c, Edge.LIVE, b) is Readiness.READY  # one live edge is enough
    q3 = ReadyQueue(plan)
    q3.resolve(c, Edge.DEAD, a)
    assert q3.resolve(c, Edge.DEAD, b) is Readiness.SKIP  # every edge dead
    q4 = ReadyQueue(plan)
    q4.resolve(c, Edge.BLOCKED, a)
    assert q4.resolve(c, Edge.LIVE, b) is Readiness.SKIP  # a failed dependency blocks
    assert q4.skip_cause(c) == (a, Edge.BLOCKED)
