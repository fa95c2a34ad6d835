"""Pause and resume (seed 003): a ``wait`` step pauses its branch; the others go on; when
nothing else can run the run is ``paused`` in the store; ``plait resume RUN_ID --input
SIGNAL=VALUE`` goes on, the wait outputs the value, nothing that succeeded runs again,
and a signal is given once."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

import plait
from plait.cli.app import app
from plait.store import open_store

COUNTER = """
import json, pathlib

def bump(path: str, name: str) -> str:
    p = pathlib.Path(path)
    seen = json.loads(p.read_text()) if p.exists() else []
    seen.append(name)
    p.write_text(json.dumps(seen))
    return name
"""


def approval_workflow(tmp_path: Path) -> Path:
    (tmp_path / "counter.py").write_text(COUNTER)
    log = str(tmp_path / "ran.json")

    def bump(step_id: str, name: str, **keys: Any) -> dict[str, Any]:
        return {
            "id": step_id,
            "tool": "python",
            "input": {"function": "counter:bump", "args": {"path": log, "name": name}},
            **keys,
        }

    doc = {
        "name": "approval",
        "steps": [
            bump("prepare", "prepare"),
            {"id": "approval", "wait": {"signal": "approved"}, "dependsOn": "prepare"},
            bump("side", "side", dependsOn="prepare"),  # goes on while approval waits
            {
                "id": "publish",
                "tool": "echo",
                "input": "${approval.output.by}",
                "dependsOn": ["approval", "side"],
            },
        ],
    }
    path = tmp_path / "approval.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_a_wait_pauses_the_run_and_resume_with_the_signal_goes_on(tmp_path: Path) -> None:
    path = approval_workflow(tmp_path)
    db = str(tmp_path / "runs.db")
    first = cli("run", str(path), "--json", "--store", db)
    assert first.exit_code == 0, first.output  # paused is not a failure
    doc = json.loads(first.stdout)
    run_id = doc["run_id"]
    assert doc["status"] == "paused"
    assert doc["steps"]["side"]["status"] == "succeeded"  # the other branch went on
    assert doc["steps"]["approval"]["status"] == "running"
    assert doc["steps"]["approval"]["reason"] == "waiting for signal 'approved'"
    assert doc["steps"]["publish"]["status"] == "pending"
    assert "plait resume" in first.stderr
    assert "--input approved=VALUE" in first.stderr

    store = open_store(db)
    try:
        assert store.get_run(run_id).status == "paused"
        kinds = [e.kind for e in store.get_events(run_id)]
    finally:
        store.close()
    assert "step_waiting" in kinds
    assert kinds[-2:] == ["run_paused", "run_finished"]

    # Resuming without the signal is refused, saying which it waits for.
    bare = cli("resume", run_id, "--store", db)
    assert bare.exit_code == 2
    assert "waiting for signal approved" in " ".join(bare.output.split())

    second = cli("resume", run_id, "--json", "--store", db, "--input", 'approved={"by": "ann"}')
    assert second.exit_code == 0, second.output
    doc = json.loads(second.stdout)
    assert doc["status"] == "succeeded"
    assert doc["steps"]["approval"]["output"] == {"by": "ann"}
    assert doc["outputs"] == {"publish": "ann"}
    # Nothing that succeeded ran again.
    assert json.loads((tmp_path / "ran.json").read_text()) == ["prepare", "side"]

    # A second resume with the same signal is refused; the run is untouched.
    again = cli("resume", run_id, "--store", db, "--input", "approved=true")
    assert again.exit_code == 2
    assert "not paused" in again.output
    assert "approved" in again.output
    shown = cli("runs", "show", run_id, "--json", "--store", db)
    assert json.loads(shown.stdout)["steps"]["approval"]["output"] == {"by": "ann"}


def test_a_signal_the_run_does_not_wait_for_is_refused(tmp_path: Path) -> None:
    path = approval_workflow(tmp_path)
    db = str(tmp_path / "runs.db")
    run_id = json.loads(cli("run", str(path), "--json", "--store", db).stdout)["run_id"]
    wrong = cli("resume", run_id, "--store", db, "--input", "rejected=1")
    assert wrong.exit_code == 2
    assert "waiting for signal approved" in " ".join(wrong.output.split())


async def test_the_python_api_pauses_and_resumes_with_signals(tmp_path: Path) -> None:
    wf = plait.Workflow.from_dict(
        {
            "name": "map-waits",
            "steps": [
                {
                    "id": "m",
                    "parallel": {
                        "items": [1, 2, 3],
                        "steps": [
                            {"id": "gate", "wait": "go"},
                            {
                                "id": "use",
                                "tool": "echo",
                                "input": "${gate.output * parallel.item}",
                                "dependsOn": "gate",
                            },
                        ],
                    },
                }
            ],
        }
    )
    db = str(tmp_path / "api.db")
    paused = await wf.run(store=db)
    assert paused.status is plait.RunStatus.PAUSED
    assert {paused.steps[f"gate<{i}>"].status for i in range(3)} == {plait.StepStatus.RUNNING}
    done = await plait.resume(paused.run_id, store=db, workflow=wf, signals={"go": 10})
    assert done.status is plait.RunStatus.SUCCEEDED
    assert done.steps["m"].output == [10, 20, 30]


async def test_a_wait_times_out_while_the_run_is_live() -> None:
    wf = plait.Workflow.from_dict(
        {
            "name": "deadline",
            "steps": [
                {"id": "approval", "wait": "ok", "timeout": "50ms"},
                # keeps the run live far longer than the wait's timeout
                {"id": "busy", "tool": "sleep", "input": {"duration": "3s"}},
            ],
        }
    )
    result = await asyncio.wait_for(wf.run(), timeout=30)
    assert result.steps["approval"].status is plait.StepStatus.TIMED_OUT
    assert result.status is plait.RunStatus.FAILED


async def test_cancel_of_a_paused_run_marks_it_cancelled(tmp_path: Path) -> None:
    wf = plait.Workflow.from_dict({"name": "w", "steps": [{"id": "gate", "wait": "go"}]})
    db = str(tmp_path / "c.db")
    paused = await wf.run(store=db)
    assert paused.status is plait.RunStatus.PAUSED
    assert "cancelled" in plait.cancel(paused.run_id, store=db)
    assert plait.get_run(paused.run_id, store=db).status is plait.RunStatus.CANCELLED


async def test_a_map_pauses_when_a_branch_ends_after_another_began_waiting() -> None:
    # Branch 1 waits at once; branch 0 is still running then, and ends later: the run
    # must pause when it does (a branch's end is a moment to check, like a task's).
    wf = plait.Workflow.from_dict(
        {
            "name": "branches",
            "steps": [
                {
                    "id": "m",
                    "parallel": {
                        "count": 2,
                        "steps": [
                            {
                                "id": "work",
                                "tool": "sleep",
                                "input": {"duration": 50},
                                "when": "${parallel.index == 0}",
                            },
                            {"id": "gate", "wait": "go", "when": "${parallel.index == 1}"},
                        ],
                    },
                }
            ],
        }
    )
    result = await asyncio.wait_for(wf.run(), timeout=30)
    assert result.status is plait.RunStatus.PAUSED
    assert result.steps["work<0>"].status is plait.StepStatus.SUCCEEDED
    assert result.steps["gate<1>"].status is plait.StepStatus.RUNNING
