"""Tools from other packages: a distribution that declares ``plait.tools`` entry points
(tests/fixtures/entry_point_dist, an installed layout: the package beside its
``.dist-info`` with METADATA and entry_points.txt) is found by name and runs in a
workflow."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from plait.compiler import bind_inputs, compile_loaded
from plait.definition.loader import parse_definition
from plait.engine.run import Run
from plait.tools import ToolRegistry, default_registry
from plait.tools.registry import ENTRY_POINT_GROUP

DIST = Path(__file__).resolve().parents[1] / "fixtures" / "entry_point_dist"
WORKFLOW = {
    "name": "third-party",
    "steps": [
        {"id": "loud", "tool": "fixture_shout", "input": {"text": "hi", "times": 2}},
        {"id": "count", "tool": "fixture_word_count", "input": "${loud.output}"},
    ],
}


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A copy of the installed distribution in a folder of its own (so no bytecode is
    written into the checkout)."""
    target = tmp_path / "site-packages"
    shutil.copytree(DIST, target)
    return target


@pytest.fixture
def installed(site: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The distribution on sys.path for this test only; its module is forgotten after."""
    monkeypatch.syspath_prepend(str(site))
    try:
        yield site
    finally:
        sys.modules.pop("plait_fixture_tools", None)


def test_the_distribution_is_seen_as_installed(installed: Path) -> None:
    names = {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
    assert {"fixture_shout", "word_count"} <= names


async def test_a_fresh_registry_finds_the_tools_and_a_workflow_runs_them(installed: Path) -> None:
    registry = ToolRegistry()
    assert "fixture_shout" in registry  # a function, named by its entry point
    assert "fixture_word_count" in registry  # a Tool object, by its own name
    assert registry.get("fixture_shout").fn.__module__ == "plait_fixture_tools"

    plan = compile_loaded(parse_definition(WORKFLOW), registry=registry)
    result = await Run(plan, bind_inputs(plan, {})).execute()
    assert result.status == "succeeded", result.error
    assert result.steps["loud"].output == "HI HI"
    assert result.steps["count"].output == {"words": 2, "step": "count"}


def test_nothing_is_left_installed_afterwards() -> None:
    # Runs after the tests above (file order): they left no trace in this process.
    assert "fixture_shout" not in {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
    assert "plait_fixture_tools" not in sys.modules
    assert "fixture_shout" not in default_registry


def test_plait_run_finds_an_installed_tool_in_a_new_process(site: Path, tmp_path: Path) -> None:
    workflow = tmp_path / "third_party.json"
    workflow.write_text(json.dumps(WORKFLOW), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(site), "PLAIT_STORE": "memory://"}
    done = subprocess.run(
        [sys.executable, "-m", "plait", "run", str(workflow), "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["steps"]["count"]["output"] == {"words": 2, "step": "count"}
