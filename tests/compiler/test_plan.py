"""Definition → Plan: both group spellings, next_step, implicit dependencies, pools."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from plait.compiler import DEFAULT_POOL, NodeKind, Plan, PoolSpec, compile_loaded
from plait.definition import WaitStrategy, load_definition

from .conftest import compile_data, ids

SEED_001: dict[str, Any] = {
    "name": "fetch",
    "parallelConfig": {"maxConcurrent": 4, "queueSize": 20, "timeout": 30000},
    "maxDuration": 300000,
    "steps": [
        {
            "id": "fetch",
            "parallelGroup": {
                "steps": ["step-a", "step-b", "step-c"],
                "waitStrategy": "allSettled",
                "maxConcurrent": 2,
                "continueOnError": True,
                "timeout": 1500,
            },
        },
        {"id": "step-a", "toolName": "echo", "input": {"q": "a"}},
        {"id": "step-b", "toolName": "echo", "input": {"q": "b"}},
        {"id": "step-c", "toolName": "echo", "input": {"q": "c"}},
        {"id": "final", "toolName": "noop", "dependsOn": ["fetch"]},
    ],
}

SEED_002: dict[str, Any] = {
    "name": "fetch",
    "parallel_config": {"max_concurrent": 4, "queue_size": 20, "timeout": "30s"},
    "max_duration": "5m",
    "steps": [
        {
            "id": "fetch",
            "type": "parallel",
            "parallel_steps": ["step-a", "step-b", "step-c"],
            "max_parallelism": 2,
            "wait_strategy": "all_settled",
            "continue_on_error": True,
            "timeout": "1500ms",
            "next_step": "final",
        },
        {"id": "step-a", "tool": "echo", "input": {"q": "a"}},
        {"id": "step-b", "tool": "echo", "input": {"q": "b"}},
        {"id": "step-c", "tool": "echo", "input": {"q": "c"}},
        {"id": "final", "tool": "noop"},
    ],
}


def shape(plan: Plan) -> dict[str, Any]:
    """Everything about a plan that does not depend on how the file spelled it."""
    nodes = {}
    for n in plan.nodes:
        nodes[n.id] = {
            "kind": n.kind,
            "deps": ids(plan, n.deps),
            "out": ids(plan, n.out),
            "group": plan.nodes[n.group].id if n.group is not None else None,
            "members": ids(plan, n.members),
            "strategy": n.strategy if n.kind is NodeKind.GROUP else None,
            "max_concurrent": n.max_concurrent,
            "continue_on_error": n.continue_on_error,
            "timeout": n.timeout,
            "tool": n.tool.name if n.tool is not None else None,
            "input": n.input.render(None) if n.kind is NodeKind.TASK else None,
        }
    return {
        "name": plan.name,
        "max_duration": plan.max_duration,
        "pools": plan.pools,
        "terminals": ids(plan, plan.terminals),
        "nodes": nodes,
    }


def write_as(tmp_path: Path, data: dict[str, Any], fmt: str) -> Path:
    path = tmp_path / f"wf.{fmt}"
    text = json.dumps(data, indent=2) if fmt == "json" else yaml.safe_dump(data, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("fmt", ["yaml", "json"])
@pytest.mark.parametrize("seed", [SEED_001, SEED_002], ids=["seed001", "seed002"])
def test_both_seed_spellings_in_yaml_and_json_give_one_plan_shape(
    tmp_path: Path, seed: dict[str, Any], fmt: str
) -> None:
    plan = compile_loaded(load_definition(write_as(tmp_path, seed, fmt)))
    assert shape(plan) == shape(compile_data(SEED_001))


def test_seed_plan_has_the_expected_shape() -> None:
    plan = compile_data(SEED_001)
    assert plan.max_duration == pytest.approx(300.0)
    assert plan.pools == {DEFAULT_POOL: PoolSpec(DEFAULT_POOL, 4, 20, 30.0)}
    group = plan.node("fetch")
    assert group.kind is NodeKind.GROUP
    assert ids(plan, group.members) == ["step-a", "step-b", "step-c"]
    assert group.strategy is WaitStrategy.ALL_SETTLED
    assert group.max_concurrent == 2
    assert group.continue_on_error is True
    assert group.timeout == pytest.approx(1.5)
    assert ids(plan, group.out) == ["final"]
    for member in ("step-a", "step-b", "step-c"):
        assert plan.node(member).group == group.index
        assert plan.node(member).deps == ()
    assert ids(plan, plan.node("final").deps) == ["fetch"]
    assert ids(plan, plan.terminals) == ["final"]


def test_next_step_makes_the_target_depend_on_the_step() -> None:
    plan = compile_data(
        {
            "name": "w",
            "steps": [
                {"id": "a", "tool": "noop", "next_step": ["b", "c"]},
                {"id": "b", "tool": "noop"},
                {"id": "c", "tool": "noop", "nextStep": "b"},
            ],
        }
    )
    assert ids(plan, plan.node("b").deps) == ["a", "c"]
    assert ids(plan, plan.node("c").deps) == ["a"]
    assert ids(plan, plan.node("a").out) == ["b", "c"]


def test_group_id_is_an_alias_of_its_step() -> None:
    plan = compile_data(
        {
            "name": "w",
            "steps": [
                {"id": "g", "parallelGroup": {"id": "fetch_all", "steps": ["a"]}},
                {"id": "a", "tool": "noop"},
                {"id": "b", "tool": "noop", "dependsOn": ["fetch_all"]},
            ],
        }
    )
    assert plan.index["fetch_all"] == plan.index["g"]
    assert plan.node("g").group_id == "fetch_all"
    assert ids(plan, plan.node("b").deps) == ["g"]


def test_a_reference_is_an_implicit_dependency() -> None:
    plan = compile_data(
        {
            "name": "w",
            "steps": [
                {"id": "step-a", "tool": "echo", "input": 1},
                {"id": "b", "tool": "echo", "input": {"v": "${step-a.output}"}},
                {"id": "c", "tool": "echo", "input": "a said ${step-a.output} and ${b.status}"},
            ],
        }
    )
    assert ids(plan, plan.node("b").deps) == ["step-a"]
    assert ids(plan, plan.node("c").deps) == ["b", "step-a"]
    assert ids(plan, plan.terminals) == ["c"]


def test_a_reference_to_a_group_id_depends_on_the_group() -> None:
    plan = compile_data(
        {
            "name": "w",
            "steps": [
                {"id": "g", "parallelGroup": {"id": "grp", "steps": ["a"]}},
                {"id": "a", "tool": "noop"},
                {"id": "b", "tool": "echo", "input": "${grp.output}"},
            ],
        }
    )
    assert ids(plan, plan.node("b").deps) == ["g"]


def test_workflow_outputs_add_no_dependency() -> None:
    plan = compile_data(
        {
            "name": "w",
            "steps": [{"id": "a", "tool": "noop"}, {"id": "b", "tool": "noop"}],
            "outputs": {"x": "${a.output}"},
        }
    )
    assert plan.node("b").deps == ()
    assert ids(plan, plan.terminals) == ["a", "b"]
    assert plan.outputs is not None


def test_dependencies_are_not_duplicated() -> None:
    plan = compile_data(
        {
            "name": "w",
            "steps": [
                {"id": "a", "tool": "noop", "next_step": "b"},
                {"id": "b", "tool": "echo", "dependsOn": ["a", "a"], "input": "${a.output}"},
            ],
        }
    )
    assert plan.node("b").deps == (plan.index["a"],)
    assert plan.node("a").out == (plan.index["b"],)


def test_named_pools_are_compiled() -> None:
    plan = compile_data(
        {
            "name": "w",
            "pools": {"db": {"maxConcurrent": 5, "queueSize": 1, "timeout": "2s"}},
            "steps": [{"id": "a", "tool": "noop", "pool": "db"}, {"id": "b", "tool": "noop"}],
        }
    )
    assert plan.pools["db"] == PoolSpec("db", 5, 1, 2.0)
    assert plan.pools[DEFAULT_POOL] == PoolSpec(DEFAULT_POOL, 10, None, None)
    assert plan.node("a").pool == "db"
    assert plan.node("b").pool == DEFAULT_POOL


def test_retry_is_compiled_with_seconds() -> None:
    plan = compile_data(
        {
            "name": "w",
            "steps": [
                {
                    "id": "a",
                    "tool": "noop",
                    "retry": {
                        "maxAttempts": 4,
                        "backoff": {"initial": 200, "multiplier": 3, "max": "1s"},
                        "retryOn": ["Boom"],
                    },
                }
            ],
        }
    )
    retry = plan.node("a").retry
    assert retry is not None
    assert retry.max_attempts == 4
    assert retry.initial == pytest.approx(0.2)
    assert [retry.delay(n, 0.0) for n in (1, 2, 3)] == pytest.approx([0.2, 0.6, 1.0])
    assert retry.retries("Boom")
    assert not retry.retries("Other")


def test_plan_records_the_file_folder(tmp_path: Path) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text("name: w\nsteps: [{id: a, tool: noop}]\n", encoding="utf-8")
    plan = compile_loaded(load_definition(path))
    assert plan.folder == tmp_path.resolve()
    assert plan.file == str(path)


def test_declared_inputs_are_in_the_plan() -> None:
    plan = compile_data(
        {"name": "w", "inputs": {"n": {"type": "integer", "default": 2}, "s": {}}, "steps": []}
    )
    assert plan.inputs["n"].type == "integer"
    assert plan.inputs["n"].default == 2
    assert plan.inputs["n"].required is False
    assert plan.inputs["s"].required is True
