"""Seed 001's camelCase and seed 002's snake_case spellings mean the same definition."""

from __future__ import annotations

import pytest

from plait.definition import GroupDef, WaitStrategy, parse_definition


def only_definition(data: dict):
    loaded = parse_definition(data)
    assert loaded.problems == []
    assert loaded.definition is not None
    return loaded.definition


def test_seed_001_top_level_keys_with_numbers_as_milliseconds() -> None:
    wf = only_definition(
        {
            "name": "w",
            "parallelConfig": {"maxConcurrent": 4, "queueSize": 20, "timeout": 30000},
            "maxDuration": 300000,
            "pools": {"api": {"maxConcurrent": 3, "timeout": "250ms"}},
            "steps": [],
        }
    )
    assert wf.parallel_config.max_concurrent == 4
    assert wf.parallel_config.queue_size == 20
    assert wf.parallel_config.timeout == pytest.approx(30.0)
    assert wf.max_duration == pytest.approx(300.0)
    assert wf.pools["api"].max_concurrent == 3
    assert wf.pools["api"].timeout == pytest.approx(0.25)


def test_parallel_config_defaults() -> None:
    wf = only_definition({"name": "w", "steps": []})
    assert wf.parallel_config.max_concurrent == 10
    assert wf.parallel_config.queue_size is None
    assert wf.max_duration is None


def test_seed_001_parallel_group() -> None:
    wf = only_definition(
        {
            "name": "w",
            "steps": [
                {
                    "id": "fetch",
                    "parallelGroup": {
                        "id": "fetch_all",
                        "steps": ["a", "b"],
                        "waitStrategy": "allSettled",
                        "maxConcurrent": 2,
                        "continueOnError": True,
                        "timeout": 1500,
                    },
                },
                {"id": "a", "toolName": "noop", "dependsOn": ["b"]},
                {"id": "b", "toolName": "noop"},
            ],
        }
    )
    group = wf.steps[0].group()
    assert group == GroupDef(
        id="fetch_all",
        steps=["a", "b"],
        wait_strategy=WaitStrategy.ALL_SETTLED,
        max_concurrent=2,
        continue_on_error=True,
        timeout="1500ms",
    )
    assert group.timeout == pytest.approx(1.5)
    assert wf.steps[1].tool == "noop"
    assert wf.steps[1].depends_on == ["b"]


def test_seed_002_parallel_step_is_the_same_group() -> None:
    wf = only_definition(
        {
            "name": "w",
            "steps": [
                {
                    "id": "parallel-block-1",
                    "type": "parallel",
                    "parallel_steps": ["step-a", "step-b"],
                    "max_parallelism": 2,
                    "wait_strategy": "all_settled",
                    "continue_on_error": True,
                    "timeout": "1500ms",
                    "next_step": "next-step",
                },
                {"id": "step-a", "tool": "noop"},
                {"id": "step-b", "tool": "noop"},
                {"id": "next-step", "tool": "noop"},
            ],
        }
    )
    block = wf.steps[0]
    assert block.kind == "group"
    assert block.next_steps() == ["next-step"]
    group = block.group()
    assert group == GroupDef(
        id="parallel-block-1",
        steps=["step-a", "step-b"],
        wait_strategy=WaitStrategy.ALL_SETTLED,
        max_concurrent=2,
        continue_on_error=True,
        timeout="1500ms",
    )


def test_seed_002_group_timeout_stays_in_seconds() -> None:
    # The step's timeout is parsed once; building the group must not read 1.5 s as 1.5 ms.
    wf = only_definition(
        {
            "name": "w",
            "steps": [
                {"id": "p", "type": "parallel", "parallel_steps": ["a"], "timeout": "30s"},
                {"id": "a", "tool": "noop"},
            ],
        }
    )
    group = wf.steps[0].group()
    assert group is not None
    assert group.timeout == pytest.approx(30.0)


def test_seed_002_keys_in_camel_case_are_accepted_too() -> None:
    wf = only_definition(
        {
            "name": "w",
            "steps": [
                {
                    "id": "p",
                    "type": "parallel",
                    "parallelSteps": ["a"],
                    "maxParallelism": 3,
                    "nextStep": ["z"],
                },
                {"id": "a", "tool": "noop"},
                {"id": "z", "tool": "noop"},
            ],
        }
    )
    group = wf.steps[0].group()
    assert group is not None
    assert (group.steps, group.max_concurrent) == (["a"], 3)
    assert wf.steps[0].next_steps() == ["z"]


def test_parallel_type_needs_its_steps() -> None:
    loaded = parse_definition({"name": "w", "steps": [{"id": "p", "type": "parallel"}]})
    [problem] = loaded.problems
    assert problem.step == "p"
    assert "'type: parallel' needs 'parallel_steps'" in problem.message


def test_max_parallelism_without_type_parallel_is_an_error() -> None:
    loaded = parse_definition(
        {"name": "w", "steps": [{"id": "a", "tool": "noop", "max_parallelism": 2}]}
    )
    [problem] = loaded.problems
    assert "'max_parallelism' goes with 'type: parallel'" in problem.message
