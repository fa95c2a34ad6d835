"""``workflow:`` steps: another workflow (a file, or registered by name) run as one step,
inputs and outputs mapped, cancellation and timeouts reaching into it, its steps
recorded under the parent step as ``STEP/child_step``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

import plait
from helpers.probe import Probe, statuses
from plait.cli.app import app
from plait.compiler.subworkflows import unregister_workflow


@contextmanager
def registered(doc: dict[str, Any]) -> Iterator[None]:
    """``doc`` registered under its name for ``workflow: NAME`` steps, for the block."""
    name = plait.register_workflow(plait.Workflow.from_dict(doc))
    try:
        yield
    finally:
        unregister_workflow(name)


SLOW_CHILD = {
    "name": "slow-child",
    "steps": [{"id": "hang", "tool": "probe", "input": {"name": "inner", "wait": "never"}}],
}


def write(folder: Path, name: str, doc: dict[str, Any]) -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


CHILD = {
    "name": "double-and-label",
    "inputs": {"n": {"type": "integer"}, "label": {"type": "string", "default": "x"}},
    "steps": [
        {"id": "double", "tool": "echo", "input": "${inputs.n * 2}"},
        {
            "id": "items",
            "parallel": {
                "count": "${inputs.n}",
                "steps": [{"id": "sq", "tool": "echo", "input": "${parallel.index ** 2}"}],
            },
        },
    ],
    "outputs": {
        "doubled": "${double.output}",
        "squares": "${items.output}",
        "label": "${upper(inputs.label)}",
    },
}


def test_a_workflow_file_runs_as_one_step_with_inputs_and_outputs_mapped(tmp_path: Path) -> None:
    write(tmp_path, "child.yaml", CHILD)
    parent = write(
        tmp_path,
        "parent.yaml",
        {
            "name": "parent",
            "inputs": {"n": {"type": "integer", "default": 3}},
            "steps": [
                {"id": "start", "tool": "echo", "input": "${inputs.n + 1}"},
                {
                    "id": "sub",
                    "workflow": "child.yaml",
                    "input": {"n": "${start.output}", "label": "four"},
                },
                {"id": "after", "tool": "echo", "input": "${sub.output.doubled}"},
            ],
        },
    )
    result = plait.run_sync(plait.load(parent))
    assert result.status is plait.RunStatus.SUCCEEDED, result.error
    assert result.steps["sub"].output == {"doubled": 8, "squares": [0, 1, 4, 9], "label": "FOUR"}
    assert result.steps["after"].output == 8
    # The child's steps are nodes of the run, under the parent step.
    assert result.steps["sub/double"].output == 8
    assert result.steps["sub/items"].output == [0, 1, 4, 9]
    assert result.steps["sub/sq<3>"].output == 9


def test_child_steps_are_recorded_under_the_parent_step(tmp_path: Path) -> None:
    write(tmp_path, "child.yaml", CHILD)
    parent = write(
        tmp_path,
        "parent.yaml",
        {
            "name": "parent",
            "steps": [{"id": "sub", "workflow": "child.yaml", "input": {"n": 2}}],
        },
    )
    db = tmp_path / "runs.db"
    ran = CliRunner().invoke(app, ["run", str(parent), "--json", "--store", str(db)])
    assert ran.exit_code == 0, ran.output
    run_id = json.loads(ran.stdout)["run_id"]
    from plait.store import open_store

    store = open_store(str(db))
    try:
        rows = {row.node_id: row for row in store.get_steps(run_id)}
    finally:
        store.close()
    assert rows["sub/double"].parent_step_id == "sub"
    assert rows["sub/double"].step_id == "double"
    assert rows["sub/items"].parent_step_id == "sub"
    assert rows["sub/sq<1>"].parent_step_id == "sub/items"
    assert rows["sub/sq<1>"].branch_index == 1
    shown = CliRunner().invoke(app, ["runs", "show", run_id, "--json", "--store", str(db)])
    assert json.loads(shown.stdout)["steps"]["sub/double"]["output"] == 4


def test_a_registered_workflow_is_found_by_name_and_a_sub_workflow_runs_in_each_branch() -> None:
    shout = {
        "name": "shout",
        "inputs": {"text": {"type": "string"}},
        "steps": [{"id": "up", "tool": "echo", "input": "${upper(inputs.text)}"}],
        "outputs": "${up.output}",
    }
    with registered(shout):
        parent = plait.Workflow.from_dict(
            {
                "name": "parent",
                "steps": [
                    {
                        "id": "m",
                        "parallel": {
                            "items": ["a", "b"],
                            "steps": [
                                {
                                    "id": "each",
                                    "workflow": "shout",
                                    "input": {"text": "${parallel.item}"},
                                }
                            ],
                        },
                    }
                ],
            }
        )
        result = plait.run_sync(parent)
    assert result.steps["m"].output == ["A", "B"]
    assert result.steps["each<1>/up"].output == "B"


def test_a_failing_child_fails_the_step_with_its_error_and_continue_on_error_absorbs_it() -> None:
    breaks = {
        "name": "breaks",
        "steps": [{"id": "boom", "tool": "fail", "input": {"message": "no", "type": "Nope"}}],
    }
    with registered(breaks):
        parent = plait.Workflow.from_dict(
            {
                "name": "parent",
                "steps": [
                    {"id": "sub", "workflow": "breaks", "continueOnError": True},
                    {"id": "after", "tool": "echo", "input": "${sub.status}", "dependsOn": "sub"},
                ],
            }
        )
        result = plait.run_sync(parent)
    assert result.status is plait.RunStatus.SUCCEEDED
    error = result.steps["sub"].error
    assert error is not None
    assert error["type"] == "Nope"
    assert "workflow step 'sub' (breaks) failed: no" in error["message"]
    assert result.steps["sub/boom"].status is plait.StepStatus.FAILED
    assert result.steps["after"].output == "failed"


def test_an_input_the_child_does_not_declare_fails_the_step_before_it_runs() -> None:
    strict = {
        "name": "strict",
        "inputs": {"n": {"type": "integer"}},
        "steps": [{"id": "s", "tool": "echo", "input": "${inputs.n}"}],
    }
    with registered(strict):
        parent = plait.Workflow.from_dict(
            {"name": "p", "steps": [{"id": "sub", "workflow": "strict", "input": {"m": 1}}]}
        )
        result = plait.run_sync(parent)
    error = result.steps["sub"].error
    assert error is not None
    assert error["type"] == "InputError"
    assert "unknown input 'm'" in error["message"]
    assert "sub/s" not in result.steps


async def test_cancelling_the_run_cancels_the_steps_inside_the_sub_workflow(probe: Probe) -> None:
    with registered(SLOW_CHILD):
        parent = plait.Workflow.from_dict(
            {"name": "p", "steps": [{"id": "sub", "workflow": "slow-child"}]}
        )
        the_run = parent.create_run()
        task = asyncio.create_task(the_run.execute())
        await probe.started("inner")
        the_run.cancel("stop")
        result = await task
    assert result.status is plait.RunStatus.CANCELLED
    assert statuses(result)["sub"] == "cancelled"
    assert statuses(result)["sub/hang"] == "cancelled"
    assert probe.cancelled == ["inner"]  # the coroutine really stopped
    assert probe.active == 0


async def test_the_step_timeout_reaches_into_the_sub_workflow(probe: Probe) -> None:
    with registered(SLOW_CHILD):
        parent = plait.Workflow.from_dict(
            {"name": "p", "steps": [{"id": "sub", "workflow": "slow-child", "timeout": "200ms"}]}
        )
        result = await asyncio.wait_for(parent.run(), timeout=30)
    assert result.status is plait.RunStatus.FAILED
    assert statuses(result)["sub"] == "timed_out"
    assert statuses(result)["sub/hang"] == "timed_out"
    assert probe.cancelled == ["inner"]
    assert probe.active == 0


def test_bad_references_are_validation_errors_with_file_step_and_key(tmp_path: Path) -> None:
    write(tmp_path, "broken.yaml", {"name": "broken", "steps": [{"id": "x", "tool": "nope"}]})
    write(tmp_path, "loop_a.yaml", {"name": "a", "steps": [{"id": "s", "workflow": "loop_b.yaml"}]})
    write(tmp_path, "loop_b.yaml", {"name": "b", "steps": [{"id": "s", "workflow": "loop_a.yaml"}]})
    parent = write(
        tmp_path,
        "parent.yaml",
        {
            "name": "parent",
            "steps": [
                {"id": "missing", "workflow": "nowhere.yaml"},
                {"id": "bad", "workflow": "broken.yaml"},
                {"id": "cycle", "workflow": "loop_a.yaml"},
            ],
        },
    )
    result = CliRunner().invoke(app, ["validate", str(parent)])
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "parent.yaml" in text
    assert "missing" in text
    assert "nowhere.yaml" in text
    assert "no registered workflow" in text
    assert "broken.yaml" in text  # the child's own problem, with its file
    assert "nope" in text
    assert "includes itself: loop_a.yaml -> loop_b.yaml -> loop_a.yaml" in text
    ran = CliRunner().invoke(app, ["run", str(parent), "--store", "memory://"])
    assert ran.exit_code == 2


@pytest.mark.parametrize("spelling", [{"workflow": "x.yaml", "tool": "echo"}])
def test_a_workflow_step_is_one_kind(tmp_path: Path, spelling: dict[str, Any]) -> None:
    parent = write(tmp_path, "p.yaml", {"name": "p", "steps": [{"id": "s", **spelling}]})
    result = CliRunner().invoke(app, ["validate", str(parent)])
    assert result.exit_code == 2
    assert "exactly one kind" in result.output
