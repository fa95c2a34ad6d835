"""Bugs found while writing the examples' tests, each as the smallest test that shows it.

A bug that is still there is marked ``xfail(strict=True)``: the suite stays green, and
the test fails (XPASS) the day the bug is fixed, so that the mark is removed. The first
two are fixed (cli/app.py: only threads the run left busy end the process;
compiler/validate.py: one problem per name and expression) and are regression tests.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import plait
from plait.cli.app import app
from plait.store import open_store


class _ProcessExit(Exception):
    """What the patched ``os._exit`` raises instead of ending the test process."""


@pytest.fixture
def step_thread() -> Iterator[None]:
    """A live thread named like a run's step threads. After ``shutdown(wait=False)``, an
    idle worker of a run's thread pool is such a thread for a moment (longer on a busy
    machine), and so is any thread left by an earlier run in the same process."""
    release = threading.Event()
    thread = threading.Thread(target=release.wait, name="plait-step_0", daemon=True)
    thread.start()
    yield
    release.set()
    thread.join()


@pytest.mark.usefixtures("step_thread")
def test_plait_run_in_process_does_not_end_the_process_for_a_thread_it_did_not_leave(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def exit_now(code: int) -> None:
        raise _ProcessExit(code)

    monkeypatch.setattr(os, "_exit", exit_now)
    monkeypatch.chdir(tmp_path)
    workflow = tmp_path / "wf.yaml"
    workflow.write_text("name: wf\nsteps:\n  - {id: a, tool: echo, input: 1}\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["run", str(workflow), "--json"])
    assert not isinstance(result.exception, _ProcessExit)
    assert result.exit_code == 0


def test_an_unknown_name_used_twice_in_one_expression_is_one_problem(tmp_path: Path) -> None:
    workflow = tmp_path / "wf.yaml"
    workflow.write_text(
        'name: wf\nsteps:\n  - {id: a, tool: echo, input: "${n + n}"}\n', encoding="utf-8"
    )
    result = CliRunner().invoke(app, ["validate", str(workflow)])
    assert result.exit_code == 2
    problems = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(problems) == 1, problems


async def test_a_map_with_one_branch_waiting_for_a_signal_pauses_with_a_store() -> None:
    workflow = plait.Workflow.from_dict(
        {
            "name": "wf",
            "steps": [
                {
                    "id": "orders",
                    "parallel": {
                        "count": 2,
                        "steps": [
                            {
                                "id": "auto",
                                "tool": "echo",
                                "input": 1,
                                "when": "${parallel.index == 0}",
                            },
                            {
                                "id": "approval",
                                "wait": {"signal": "approved"},
                                "when": "${parallel.index == 1}",
                            },
                        ],
                    },
                }
            ],
        }
    )
    store = open_store("memory://")
    try:
        result = await asyncio.wait_for(workflow.run(store=store), 1)  # pauses in ~30 ms
    finally:
        store.close()
    assert result.status == "paused"
