"""The Python API of SPEC §5, and the shape of the public namespace."""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import plait

ROOT = Path(__file__).resolve().parents[2]


@plait.tool("fetch_users_api_test")
async def fetch_users(limit: int = 10) -> list[dict[str, int]]:
    await asyncio.sleep(0)
    return [{"id": i} for i in range(limit)]


@plait.tool
def count_items(items: list[object]) -> int:
    return len(items)


YAML = """
name: api-demo
inputs:
  limit: {type: integer, default: 3}
steps:
  - id: users
    tool: fetch_users_api_test
    input: {limit: "${inputs.limit}"}
  - id: n
    tool: count_items
    input: {items: "${users.output}"}
outputs:
  count: ${n.output}
"""


def test_load_and_run_sync(tmp_path: Path) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(YAML)
    wf = plait.load(path)
    result = plait.run_sync(wf, {"limit": 4})
    assert result.status is plait.RunStatus.SUCCEEDED
    assert result.outputs == {"count": 4}
    assert result.steps["users"].output == [{"id": i} for i in range(4)]
    assert plait.run_sync(str(path)).outputs == {"count": 3}


async def test_the_same_workflow_built_in_code() -> None:
    wf = (
        plait.Workflow(
            "api-demo",
            inputs={"limit": {"type": "integer", "default": 3}},
            outputs={"count": "${n.output}"},
        )
        .task("users", tool=fetch_users, input={"limit": "${inputs.limit}"})
        .task("n", tool="count_items", input={"items": "${users.output}"})
    )
    result = await wf.run(inputs={"limit": 5})
    assert result.outputs == {"count": 5}


async def test_builder_groups_and_plain_functions_as_tools() -> None:
    def double(x: int) -> int:
        return 2 * x

    async def primary() -> str:
        raise ConnectionError("down")

    async def backup() -> str:
        return "backup"

    wf = (
        plait.Workflow("built", parallel_config={"max_concurrent": 4})
        .task("p", tool=primary)
        .task("b", tool=backup)
        .group("source", ["p", "b"], wait_strategy="any", timeout="5s")
        .task("d", tool=double, input={"x": 21}, depends_on=["source"])
    )
    result = await wf.run()
    assert result.status is plait.RunStatus.SUCCEEDED
    assert result.steps["source"].output == "backup"
    assert result.groups["source"].winner == "b"
    assert result.steps["d"].output == 42


def test_invalid_workflow_raises_validation_error_with_every_problem() -> None:
    wf = (
        plait.Workflow("bad")
        .task("a", tool="no_such_tool")
        .task("b", tool="echo", depends_on=["zzz"])
    )
    with pytest.raises(plait.ValidationError) as info:
        wf.validate()
    keys = {(p.step, p.key) for p in info.value.problems}
    assert keys == {("a", "tool"), ("b", "dependsOn")}
    assert isinstance(info.value, plait.WorkflowError)


def test_load_errors_are_workflow_errors(tmp_path: Path) -> None:
    with pytest.raises(plait.LoadError, match="no such file"):
        plait.load(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsteps: [\n")
    with pytest.raises(
        plait.LoadError, match=r"bad.yaml:3:1: invalid YAML: the file ends where more was expected"
    ):
        plait.load(bad)


async def test_inputs_are_checked_before_anything_runs() -> None:
    wf = plait.Workflow("in", inputs={"n": {"type": "integer"}}).task(
        "e", tool="echo", input="${inputs.n}"
    )
    with pytest.raises(plait.InputError, match="required"):
        await wf.run()
    with pytest.raises(plait.InputError, match="must be an integer"):
        await wf.run({"n": "five"})
    with pytest.raises(plait.InputError, match="unknown input"):
        await wf.run({"n": 1, "m": 2})
    assert (await wf.run({"n": 1})).steps["e"].output == 1


def test_public_names_are_exported_and_report_plait() -> None:
    for name in plait.__all__:
        assert hasattr(plait, name), name
        obj = getattr(plait, name)
        if isinstance(obj, type):
            assert obj.__module__ == "plait", name
    assert {"load", "Workflow", "tool", "run_sync", "WorkerPool", "RunResult"} <= set(plait.__all__)


def test_a_run_handle_shows_only_its_public_surface() -> None:
    """``plait.Run`` is what a caller holds: the engine's plumbing is not on it."""
    public = {name for name in dir(plait.Run) if not name.startswith("_")}
    assert public == {
        "attach_observer",
        "attach_recorder",
        "cancel",
        "counts",
        "execute",
        "plan",
        "pools",
        "progress",
        "resources",
        "run_id",
        "running",
        "status",
        "waiting_for",
    }


def test_every_module_imports() -> None:
    for info in pkgutil.walk_packages(plait.__path__, "plait."):
        if info.name == "plait.__main__":
            continue
        importlib.import_module(info.name)


def test_layers_contract_holds() -> None:
    """Lower layers never import higher ones (the contract is in pyproject.toml)."""
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    # the packages, inside plait.engine, and inside plait.durable
    assert "3 kept, 0 broken" in done.stdout


@pytest.mark.parametrize("name", ["inputs", "run", "workflow", "result"])
def test_reserved_names_cannot_be_step_ids(name: str) -> None:
    wf = plait.Workflow("r").task(name, tool="noop")
    with pytest.raises(plait.ValidationError, match="reserved"):
        wf.validate()
