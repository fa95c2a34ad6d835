"""Resource limits (issue 19): one step's output (``maxOutputSize``), a run's outputs
added up (``maxRunSize``), values that double from step to step, a map's quadratic
output. Through the Python API, with and without a store."""

from __future__ import annotations

import json
from typing import Any

import pytest

import plait
from plait.errors import WorkflowError
from plait.status import RunStatus, StepStatus
from plait.store.memory import MemoryStore

STORES = [None, "memory"]


def doubling(steps: int = 40, seed: str = "x" * 16) -> dict[str, Any]:
    """The attack: each step outputs its predecessor's output twice, as text."""
    chain: list[dict[str, Any]] = [{"id": "s0", "tool": "echo", "input": seed}]
    for i in range(1, steps + 1):
        twice = f"${{s{i - 1}.output}}${{s{i - 1}.output}}"
        chain.append({"id": f"s{i}", "tool": "echo", "input": twice})
    return {"name": "doubling", "steps": chain}


def doubling_lists(steps: int = 40) -> dict[str, Any]:
    """The same with lists: ``[prev, prev]`` holds the previous list twice by reference,
    so memory stays small while its JSON doubles."""
    chain: list[dict[str, Any]] = [{"id": "s0", "tool": "echo", "input": ["x"]}]
    for i in range(1, steps + 1):
        ref = f"${{s{i - 1}.output}}"
        chain.append({"id": f"s{i}", "tool": "echo", "input": [ref, ref]})
    return {"name": "doubling-lists", "steps": chain}


async def run(
    definition: dict[str, Any], store: str | None, **options: Any
) -> tuple[plait.RunResult, MemoryStore | None]:
    memory = MemoryStore() if store == "memory" else None
    result = await plait.Workflow.from_dict(definition).run(store=memory, **options)
    return result, memory


@pytest.mark.parametrize("store", STORES)
async def test_the_doubling_attack_fails_at_the_step_that_crosses_16_mib(store: str | None) -> None:
    definition = doubling()
    assert len(json.dumps(definition)) < 3000  # a 2 KB file
    result, memory = await run(definition, store)
    # 16 chars doubled 20 times is 2**24 characters: its JSON is 2 bytes over 16 MiB.
    assert result.steps["s19"].status is StepStatus.SUCCEEDED
    assert len(result.steps["s19"].output) == 2**23
    s20 = result.steps["s20"]
    assert s20.status is StepStatus.FAILED
    assert s20.output is None
    assert s20.error is not None
    assert s20.error.type == "OutputTooLarge"
    assert "\n" not in s20.error.message
    assert s20.error.message.startswith("step 's20' output is 16,777,218 bytes")
    assert "over the limit of 16 MiB" in s20.error.message
    assert "maxOutputSize" in s20.error.message
    assert "--max-output-size" in s20.error.message
    assert s20.error.traceback is None
    for i in range(21, 41):  # nothing built past the limit
        assert result.steps[f"s{i}"].status is StepStatus.SKIPPED
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert result.error.type == "OutputTooLarge"
    if memory is not None:  # recorded as failed, the output not written
        record = plait.get_run(result.run_id, store=memory)
        assert record.status is RunStatus.FAILED
        assert record.steps["s20"].error is not None
        assert record.steps["s20"].error.type == "OutputTooLarge"
        assert record.steps["s20"].output is None
        assert record.steps["s30"].status is StepStatus.SKIPPED


@pytest.mark.parametrize("store", STORES)
async def test_lists_doubled_by_reference_are_refused_without_being_written_out(
    store: str | None,
) -> None:
    # 2**40 leaves as JSON, in 40 small lists in memory: the weighing stops at the limit.
    result, _ = await run(doubling_lists(), store, max_output_size="64KiB")
    failed = [s for s in result.steps.values() if s.status is StepStatus.FAILED]
    # ["x"] is 5 bytes, [a, a] is 2a + 4: s13 is 9 * 2**13 - 4 = 73,724 > 64 KiB
    assert [s.id for s in failed] == ["s13"]
    assert failed[0].error is not None
    assert failed[0].error.type == "OutputTooLarge"
    assert result.steps["s40"].status is StepStatus.SKIPPED


@pytest.mark.parametrize("store", STORES)
async def test_a_step_over_the_limit_fails_and_the_run_goes_on(store: str | None) -> None:
    definition = {
        "name": "big",
        "limits": {"maxOutputSize": "1KiB"},
        "steps": [
            {"id": "big", "tool": "echo", "input": "x" * 2000},
            {"id": "after", "tool": "echo", "input": "${big.output}"},
            {"id": "other", "tool": "echo", "input": "y" * 1000},
            {"id": "caught", "tool": "echo", "input": ["z" * 600] * 2, "continueOnError": True},
            {"id": "sees", "tool": "echo", "input": "${caught.status}"},
        ],
    }
    result, _ = await run(definition, store)
    big = result.steps["big"]
    assert big.status is StepStatus.FAILED
    assert big.error is not None
    assert big.error.type == "OutputTooLarge"
    assert big.error.message.startswith("step 'big' output is 2,002 bytes")
    assert "over the limit of 1 KiB" in big.error.message
    assert result.steps["after"].status is StepStatus.SKIPPED
    assert result.steps["other"].output == "y" * 1000  # 1,002 bytes: within 1 KiB
    assert result.steps["caught"].status is StepStatus.FAILED  # as any failure: absorbed
    assert result.steps["sees"].output == "failed"
    assert result.status is RunStatus.FAILED


async def test_the_run_api_overrides_the_file_and_refuses_a_bad_size() -> None:
    definition = {
        "name": "override",
        "limits": {"maxOutputSize": "1KiB"},
        "steps": [{"id": "a", "tool": "echo", "input": "x" * 2000}],
    }
    result, _ = await run(definition, None, max_output_size=4096)
    assert result.status is RunStatus.SUCCEEDED
    result, _ = await run(definition, None, max_output_size="1000B")
    assert result.steps["a"].error is not None
    assert "over the limit of 1,000 B" in result.steps["a"].error.message
    with pytest.raises(WorkflowError, match=r"max_output_size: a size limit must be at least 1 "):
        await run(definition, None, max_output_size=0)
    with pytest.raises(WorkflowError, match=r"max_run_size: size '2TiB' is more than 1 TiB"):
        await run(definition, None, max_run_size="2TiB")


@pytest.mark.parametrize("store", STORES)
async def test_a_run_whose_outputs_add_up_past_max_run_size_fails_as_a_whole(
    store: str | None,
) -> None:
    definition = {
        "name": "heavy",
        "limits": {"maxRunSize": 3500},
        "steps": [
            {"id": "first", "tool": "echo", "input": "a" * 998},  # 1,000 bytes
            {"id": "second", "tool": "echo", "input": "${first.output}${first.output}"},
            {"id": "third", "tool": "echo", "input": "${second.output}", "dependsOn": ["second"]},
            {"id": "later", "tool": "echo", "input": 1, "dependsOn": ["third"]},
        ],
    }
    result, memory = await run(definition, store)
    assert result.steps["first"].status is StepStatus.SUCCEEDED
    assert result.steps["second"].status is StepStatus.SUCCEEDED  # 1,998: 2,998 in all
    third = result.steps["third"]  # 1,998 more: over
    assert third.status is StepStatus.FAILED
    assert third.output is None
    assert third.error is not None
    assert third.error.type == "RunTooLarge"
    assert third.error.message.startswith(
        "step 'third' output (1,998 bytes) takes the run's outputs to 4,996 bytes, "
        "over the limit of 3,500 B"
    )
    assert result.steps["later"].status is StepStatus.SKIPPED
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert result.error.type == "RunTooLarge"
    assert result.outputs is None
    if memory is not None:
        record = plait.get_run(result.run_id, store=memory)
        assert record.status is RunStatus.FAILED
        assert record.error is not None
        assert record.error.type == "RunTooLarge"
        assert {sid: s.status.value for sid, s in record.steps.items()} == {
            "first": "succeeded",
            "second": "succeeded",
            "third": "failed",
            "later": "skipped",
        }
        assert record.steps["second"].output == "a" * 1996


async def test_run_too_large_stops_what_still_runs_even_under_continue_on_error() -> None:
    members = [
        {"id": f"p{i}", "tool": "echo", "input": "x" * 1000, "continueOnError": True}
        for i in range(4)
    ]
    members.append({"id": "slow", "tool": "sleep", "input": {"duration": "30s"}})
    definition = {
        "name": "wide",
        "limits": {"maxRunSize": 2500},
        "steps": [
            {"id": "g", "parallelGroup": {"steps": [m["id"] for m in members]}},
            *members,
        ],
    }
    result, _ = await run(definition, None)
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert result.error.type == "RunTooLarge"
    statuses = [result.steps[f"p{i}"].status for i in range(4)]
    assert statuses[:2] == [StepStatus.SUCCEEDED] * 2
    assert statuses[2] is StepStatus.FAILED  # its output would make 3,006 bytes
    assert result.steps["slow"].status is StepStatus.CANCELLED  # not left for 30 s


@pytest.mark.parametrize("store", STORES)
async def test_a_map_whose_branches_output_all_the_items_is_refused(store: str | None) -> None:
    # Each branch outputs a reference to the same list of N items: N * N as JSON.
    definition = {
        "name": "quadratic",
        "limits": {"maxOutputSize": "64KiB"},
        "steps": [
            {
                "id": "m",
                "parallel": {
                    "count": 300,
                    "maxConcurrent": 50,
                    "steps": [{"id": "b", "tool": "noop"}],
                    "output": "${parallel.items}",
                },
            }
        ],
    }
    result, _ = await run(definition, store)
    m = result.steps["m"]
    assert m.status is StepStatus.FAILED
    assert m.error is not None
    assert m.error.type == "OutputTooLarge"
    assert "over the limit of 64 KiB" in m.error.message
    assert result.steps["b<299>"].status is StepStatus.SUCCEEDED


async def test_body_steps_that_each_output_all_the_items_add_up_to_max_run_size() -> None:
    definition = {
        "name": "quadratic-steps",
        "limits": {"maxRunSize": "1MiB"},
        "steps": [
            {
                "id": "m",
                "parallel": {
                    "count": 2000,
                    "maxConcurrent": 10,
                    "steps": [{"id": "b", "tool": "echo", "input": "${parallel.items}"}],
                },
            }
        ],
    }
    result, _ = await run(definition, None)
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert result.error.type == "RunTooLarge"
    too_large = [s for s in result.steps.values() if s.error and s.error.type == "RunTooLarge"]
    assert too_large
    assert sum(s.status is StepStatus.SUCCEEDED for s in result.steps.values()) < 200


async def test_objects_that_are_not_json_count_by_their_size_without_a_store() -> None:
    def blob() -> bytes:
        return b"\0" * 100_000

    wf = plait.Workflow("blob", limits={"maxOutputSize": "64KiB"}).task("b", tool=blob)
    result = await wf.run()
    b = result.steps["b"]
    assert b.status is StepStatus.FAILED
    assert b.error is not None
    assert b.error.type == "OutputTooLarge"
