"""The examples of sub-workflows, pause and resume, and dynamic groups, run as their
header comments say."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest
from typer.testing import CliRunner

from plait.cli.app import app

from .running import EXAMPLES, plait_run, runs


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    # recorded in a file, as plait run does by default, so that plait resume finds them
    monkeypatch.setenv("PLAIT_STORE", str(tmp_path / "runs.db"))


@runs("monthly_report.yaml")
def test_monthly_report_runs_a_sub_workflow_per_region() -> None:
    doc = plait_run("monthly_report.yaml")
    assert doc["status"] == "succeeded"
    reports = doc["outputs"]["reports"]
    assert [r["region"] for r in reports] == ["NORTH", "SOUTH", "WEST"]
    assert [(r["total"], r["best"], r["grade"]) for r in reports] == [
        (125, 50, "high"),
        (35, 20, "low"),
        (130, 70, "high"),
    ]
    # The sub-workflow's steps are nodes of the run, under each branch's step.
    assert doc["steps"]["report<1>/total"]["output"] == 35
    assert doc["steps"]["report<2>/summary"]["status"] == "succeeded"


@runs("approval.yaml")
def test_approval_pauses_and_a_resume_with_the_signal_releases() -> None:
    doc = plait_run("approval.yaml")
    assert doc["status"] == "paused"
    assert doc["steps"]["checks"]["status"] == "succeeded"  # ran while approval waited
    assert doc["steps"]["approval"]["status"] == "running"
    run_id = doc["run_id"]
    runner = CliRunner()
    signal = 'approved={"by": "ann", "ok": true}'
    resumed = runner.invoke(app, ["resume", run_id, "--json", "--input", signal])
    assert resumed.exit_code == 0, resumed.output
    done = json.loads(resumed.stdout)
    assert done["status"] == "succeeded"
    assert done["outputs"]["release"] == "released plait-1.4.0.whl, approved by ann"
    assert done["steps"]["held"]["status"] == "skipped"
    assert done["steps"]["unit_tests"]["started_at"] == doc["steps"]["unit_tests"]["started_at"]
    again = runner.invoke(app, ["resume", run_id, "--input", signal])
    assert again.exit_code == 2


def test_dynamic_groups_example_makes_one_member_per_item(
    capsys: pytest.CaptureFixture[str],
) -> None:
    module = runpy.run_path(str(EXAMPLES / "dynamic_groups.py"))
    result = module["main"]()
    assert result.status.value == "succeeded"
    assert result.steps["dynamic_parallel"].output == {
        f"process_{n}": {"id": n, "cost": n * 30} for n in range(1, 6)
    }
    assert result.groups["dynamic_processing"].success
    assert result.steps["report"].output == "5 items processed"
    assert "process_5" in capsys.readouterr().out
