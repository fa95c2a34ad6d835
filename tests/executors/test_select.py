"""Choosing where steps run at run time: a step's choice, the run's (``--executor``,
``executor=``) and the workflow's, in that order; the errors of a bad or unavailable
choice on the command line and in Python."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

import plait
from executors.conftest import py, workflow
from plait.cli.app import app
from plait.definition.executor import LOCAL, ExecutorSpec
from plait.executors.base import ExecutorUnavailable
from plait.executors.select import Executors, specs_used

Write = Callable[[str, str], Path]
PROCESS = ExecutorSpec("process")


def test_a_run_opens_only_the_executors_its_plan_and_its_choice_name() -> None:
    inline = py("inline", "pid")
    inline["input"]["isolation"] = "process"  # type: ignore[index]
    plan = workflow(
        py("plain", "pid"),
        inline,
        py("pinned", "pid", executor="local"),
        {"id": "m", "executor": "dask", "parallel": {"count": 2, "steps": [py("s", "pid")]}},
        executor={"type": "process", "workers": 2},
    ).plan
    used = {ExecutorSpec("process", workers=2), PROCESS, LOCAL, ExecutorSpec("dask")}
    assert specs_used(plan) == used
    assert specs_used(plan, LOCAL) == {PROCESS, LOCAL, ExecutorSpec("dask")}


async def test_a_steps_choice_wins_over_the_runs_which_wins_over_the_workflows() -> None:
    async with Executors(PROCESS, threads=4) as executors:
        assert executors.pick(LOCAL) is executors.local  # `executor: local` on a step
        assert executors.pick(None).needs_context  # the run's: process, not opened yet
        assert executors.pick(None) is executors.pick(PROCESS)
    async with Executors(None, threads=4) as executors:
        assert executors.pick(None) is executors.local


async def test_a_step_pinned_to_local_runs_here_under_another_default() -> None:
    wf = workflow(py("here", "pid", executor="local"), py("there", "pid"), executor="process")
    result = await wf.run()
    assert result.steps["here"].output == os.getpid()
    assert result.steps["there"].output != os.getpid()
    overridden = await wf.run(executor="local")  # the run's choice wins over the file's
    assert overridden.steps["there"].output == os.getpid()


def test_a_bad_executor_from_python_is_a_workflow_error() -> None:
    with pytest.raises(plait.WorkflowError, match="executor: unknown executor 'threads'"):
        workflow(py("a", "pid")).create_run(executor="threads")


def test_a_bad_executor_option_exits_2(write: Write, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write("wf.yaml", "name: w\nsteps:\n  - {id: a, tool: noop}\n")
    monkeypatch.chdir(path.parent)
    outcome = CliRunner().invoke(app, ["run", str(path), "--executor", "gpu"])
    assert outcome.exit_code == 2
    assert outcome.stderr.startswith("error: --executor: unknown executor 'gpu'; use 'local'")


def test_without_dask_installed_a_dask_executor_is_one_line_install_hint(
    write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    monkeypatch.chdir(write("x", "").parent)
    hint = "the dask executor needs dask.distributed: pip install 'plait[dask]'"
    in_file = write("wf.yaml", "name: w\nexecutor: dask\nsteps:\n  - {id: a, tool: noop}\n")
    plain = write("plain.yaml", "name: w\nsteps:\n  - {id: a, tool: noop}\n")
    for args, where in (
        (["run", str(in_file)], f"{in_file}: "),
        (["run", str(plain), "--executor", "dask://h:1"], ""),
    ):
        outcome = CliRunner().invoke(app, args)
        assert outcome.exit_code == 2, outcome.output
        assert outcome.stderr.splitlines()[0] == f"error: {where}{hint}"
    with pytest.raises(ExecutorUnavailable, match=hint.replace("[", r"\[").replace("]", r"\]")):
        plait.load(in_file).create_run()


def test_the_command_line_runs_and_resumes_on_another_executor(
    write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = write("gate", "").parent / "open"
    path = write(
        "wf.yaml",
        f"""\
        name: switch
        steps:
          - {{id: a, tool: python, input: {{function: "executors.work:pid"}}}}
          - id: b
            dependsOn: [a]
            tool: python
            input: {{function: "executors.work:count", args: {{file: "{gate}.log",
                     fail_unless: "{gate}"}}}}
        """,
    )
    monkeypatch.chdir(path.parent)
    store = str(path.parent / "runs.db")
    cli = CliRunner()
    first = cli.invoke(app, ["run", str(path), "--executor", "process", "--store", store, "--json"])
    assert first.exit_code == 1, first.output
    document = json.loads(first.stdout)
    assert document["steps"]["a"]["output"] != os.getpid()  # in a worker process
    gate.touch()
    args = ["resume", document["run_id"], "--from-failure", "--executor", "local"]
    resumed = cli.invoke(app, [*args, "--store", store, "--json"])
    assert resumed.exit_code == 0, resumed.output
    again = json.loads(resumed.stdout)
    assert again["steps"]["a"]["output"] == document["steps"]["a"]["output"]  # reused
    assert again["steps"]["b"]["output"] == 2  # run here, the second time


async def test_an_executor_starts_only_for_a_call_it_must_carry_out() -> None:
    pytest.importorskip("distributed", reason="the dask executor needs dask.distributed")
    wf = workflow({"id": "e", "tool": "echo", "input": 1}, py("a", "async_pid"))
    # Nothing listens there: a connection would fail (after 30 s). Async calls stay on
    # the event loop, so none is tried.
    result = await wf.run(executor="dask://127.0.0.1:9")
    assert result.status is plait.RunStatus.SUCCEEDED, result.error
    assert result.steps["a"].output == os.getpid()
