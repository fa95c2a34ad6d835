"""Bugs found while writing the examples' tests, each as the smallest test that shows it.

Marked ``xfail(strict=True)``: the suite stays green while the bug is there, and this
test fails (XPASS) the day it is fixed, so that the mark is removed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from plait.cli.app import app


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


@pytest.mark.xfail(
    strict=True,
    reason="cli/app.py _finish calls os._exit when any thread named plait-step* is alive, "
    "whoever's it is and even if idle; in-process (CliRunner, app()) that ends the host "
    "process with the run's exit status: pytest stops part-way with status 0",
)
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


@pytest.mark.xfail(
    strict=True,
    reason="compiler validation reports an unknown name once per occurrence in one "
    "expression: ${n + n} gives the same problem twice ('2 problems found')",
)
def test_an_unknown_name_used_twice_in_one_expression_is_one_problem(tmp_path: Path) -> None:
    workflow = tmp_path / "wf.yaml"
    workflow.write_text(
        'name: wf\nsteps:\n  - {id: a, tool: echo, input: "${n + n}"}\n', encoding="utf-8"
    )
    result = CliRunner().invoke(app, ["validate", str(workflow)])
    assert result.exit_code == 2
    problems = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(problems) == 1, problems
