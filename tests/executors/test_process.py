"""The process executor and ``isolation: process``: plain callables in worker processes
that a timeout or a cancel kills (the pid is gone) and replaces; the rest stays on the
event loop. Real processes, synchronised through files."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

import plait
from executors.conftest import (
    alive,
    failing_steps,
    pid_in,
    py,
    statuses,
    until_exists,
    workflow,
)
from plait.executors.process import ProcessExecutor

ONE_WORKER = {"type": "process", "workers": 1}
ABSORB = {"continueOnError": True}


async def test_a_map_of_python_steps_runs_in_worker_processes() -> None:
    wf = workflow(
        {
            "id": "m",
            "parallel": {
                "count": 6,
                "steps": [py("s", "spin", {"ms": 1, "i": "${parallel.index}"})],
            },
        }
    )
    result = await wf.run(executor="process")
    assert result.status is plait.RunStatus.SUCCEEDED
    outputs = result.steps["m"].output
    assert [o["i"] for o in outputs] == list(range(6))
    assert os.getpid() not in {o["pid"] for o in outputs}
    local = await wf.run()
    assert {o["pid"] for o in local.steps["m"].output} == {os.getpid()}
    assert _without_pids(local.outputs) == _without_pids(result.outputs)


def _without_pids(value: object) -> object:
    if isinstance(value, dict):
        return {k: _without_pids(v) for k, v in value.items() if k != "pid"}
    if isinstance(value, list):
        return [_without_pids(v) for v in value]
    return value


async def test_only_plain_callables_leave_the_event_loop() -> None:
    wf = workflow(
        {"id": "sync_tool", "tool": "exec_sync", "input": {"x": 21}},
        {"id": "async_tool", "tool": "exec_async"},
        py("sync_fn", "pid"),
        py("async_fn", "async_pid"),
        {"id": "echo", "tool": "echo", "input": {"n": 1}},
    )
    result = await wf.run(executor="process")
    out = {sid: step.output for sid, step in result.steps.items()}
    assert out["sync_tool"]["x"] == 42
    assert out["sync_tool"]["step"] == out["sync_tool"]["node"] == "sync_tool"
    assert out["sync_tool"]["pid"] != os.getpid()
    assert out["sync_fn"] != os.getpid()
    assert out["async_tool"] == out["async_fn"] == os.getpid()
    assert out["echo"] == {"n": 1}


async def test_errors_come_back_as_the_local_executor_reports_them() -> None:
    wf = workflow(
        *failing_steps(),
    )
    local = await wf.run()
    remote = await wf.run(executor="process")
    for sid in ("plain", "typed"):
        assert remote.steps[sid].error == local.steps[sid].error
        assert remote.steps[sid].attempts == local.steps[sid].attempts
    plain = remote.steps["plain"].error
    assert plain is not None
    assert (plain.type, plain.message, plain.step) == ("ValueError", "bad input", "plain")
    assert plain.traceback is not None
    assert 'work.py", line' in plain.traceback  # the worker's frames came back
    assert remote.steps["typed"].attempts == 2


async def test_a_step_in_a_worker_process_keeps_its_traceback_and_cause() -> None:
    wf = workflow(
        py("chained", "fail_chained", {"key": "k"}, continueOnError=True),
        py("typed", "fail_typed", {"kind": "Flaky"}, continueOnError=True),
    )
    result = await wf.run(executor="process")
    chained = result.steps["chained"].error
    assert chained is not None
    assert chained.cause == {"type": "KeyError", "message": "'k'"}
    assert chained.traceback is not None
    assert 'work.py", line' in chained.traceback
    assert "in fail_chained" in chained.traceback
    assert os.path.dirname(plait.__file__) not in chained.traceback  # no worker plumbing
    typed = result.steps["typed"].error  # a StepError raised in the worker: its own frames
    assert typed is not None
    assert typed.traceback is not None
    assert "in fail_typed" in typed.traceback


async def test_an_argument_that_cannot_be_pickled_fails_its_step_naming_it() -> None:
    wf = plait.Workflow("w").task("t", tool="exec_sync", input={"x": threading.Lock()})
    result = await wf.run(executor="process")
    error = result.steps["t"].error
    assert error is not None
    assert error["type"] == "NotPicklable"
    assert error["message"].startswith("step 't': input['x'] is a '_thread.lock'")


async def test_a_result_that_cannot_be_pickled_fails_its_step_naming_its_type() -> None:
    result = await workflow(py("lock", "give_lock")).run(executor="process")
    error = result.steps["lock"].error
    assert error is not None
    assert error["type"] == "NotPicklable"
    assert error["message"].startswith("step 'lock': its result is a '_thread.lock'")


async def test_a_timed_out_step_kills_its_worker_and_a_new_one_takes_its_place(
    tmp_path: Path,
) -> None:
    pid_file = tmp_path / "hang.pid"
    wf = workflow(
        py("warm", "pid"),  # starts the one worker, so the timeout counts the hang alone
        py("hang", "hang", [str(pid_file)], dependsOn=["warm"], timeout="1s", **ABSORB),
        py("after", "pid", dependsOn=["hang"]),
    )
    result = await wf.run(executor=ONE_WORKER)
    assert statuses(result) == {"warm": "succeeded", "hang": "timed_out", "after": "succeeded"}
    hung = pid_in(pid_file)
    assert hung == result.steps["warm"].output
    assert result.steps["after"].output != hung  # a new worker
    assert not alive(hung)


async def test_a_cancelled_run_kills_the_worker_of_its_running_step(tmp_path: Path) -> None:
    pid_file = tmp_path / "hang.pid"
    run = workflow(py("hang", "hang", [str(pid_file)])).create_run(executor="process")
    task = asyncio.create_task(run.execute())
    await until_exists(pid_file)
    run.cancel("the test cancels it")
    result = await task
    assert result.status is plait.RunStatus.CANCELLED
    assert statuses(result) == {"hang": "cancelled"}
    assert not alive(pid_in(pid_file))


async def test_isolation_process_runs_a_python_step_in_a_child_its_timeout_kills(
    tmp_path: Path,
) -> None:
    pid_file = tmp_path / "hang.pid"
    inline = py("inline", "pid")
    inline["input"]["isolation"] = "process"  # type: ignore[index]
    wf = workflow(
        py("keyed", "pid", isolation="process"),
        inline,
        py("here", "pid"),
        py(
            "hang",
            "hang",
            [str(pid_file)],
            isolation="process",
            timeout="1s",
            dependsOn=["keyed", "inline"],  # the children are warm: the timeout is the hang's
            continueOnError=True,
        ),
    )
    result = await wf.run()  # the run's executor is local
    out = {sid: step.output for sid, step in result.steps.items()}
    assert out["here"] == os.getpid()
    assert out["keyed"] != os.getpid()
    assert out["inline"] != os.getpid()
    assert result.steps["hang"].status is plait.StepStatus.TIMED_OUT
    assert not alive(pid_in(pid_file))


async def test_a_worker_that_dies_fails_its_step_and_is_replaced() -> None:
    wf = workflow(
        py("dies", "die", {"code": 3}, continueOnError=True),
        py("after", "pid", dependsOn=["dies"]),
    )
    result = await wf.run(executor=ONE_WORKER)
    error = result.steps["dies"].error
    assert error is not None
    assert error["type"] == "WorkerDied"
    assert "exit code 3" in error["message"]
    assert result.steps["after"].status is plait.StepStatus.SUCCEEDED


async def test_an_any_group_kills_the_workers_of_the_members_it_cancels(tmp_path: Path) -> None:
    slow = [tmp_path / "slow1.pid", tmp_path / "slow2.pid"]
    wf = workflow(
        {"id": "g", "parallelGroup": {"steps": ["fast", "slow1", "slow2"], "waitStrategy": "any"}},
        py("fast", "wait_files", [str(p) for p in slow]),  # wins once both losers run
        py("slow1", "hang", [str(slow[0])]),
        py("slow2", "hang", [str(slow[1])]),
    )
    result = await wf.run(executor={"type": "process", "workers": 3})
    assert statuses(result) == {
        "g": "succeeded",
        "fast": "succeeded",
        "slow1": "cancelled",
        "slow2": "cancelled",
    }
    assert not any(alive(pid_in(p)) for p in slow)


async def test_a_module_beside_the_workflow_file_is_imported_in_the_worker(
    tmp_path: Path, write: Callable[[str, str], Path]
) -> None:
    module = f"beside_{uuid.uuid4().hex}"
    write(f"{module}.py", "import os\n\ndef where():\n    return os.getpid()\n")
    path = write(
        "wf.yaml",
        f"""\
        name: beside
        executor: {{type: process, workers: 1}}
        steps:
          - {{id: first, tool: python, input: {{function: "executors.work:pid"}}}}
          - id: second
            dependsOn: [first]
            tool: python
            input: {{function: "{module}:where"}}
        """,
    )
    result = await plait.load(path).run()
    assert result.status is plait.RunStatus.SUCCEEDED, result.error
    # The same worker, started before the module's folder was on any path.
    assert result.steps["second"].output == result.steps["first"].output != os.getpid()


async def test_no_worker_outlives_its_run() -> None:
    executor = ProcessExecutor(2)
    wf = workflow(*[py(f"s{i}", "spin", {"ms": 1}) for i in range(4)])
    result = await wf.run(executor=executor)
    assert result.status is plait.RunStatus.SUCCEEDED
    stats = executor.statistics()
    assert stats.started == 2
    assert stats.running == 0
    assert not [p for p in multiprocessing.active_children() if p.name == "plait-worker"]


@pytest.mark.parametrize("workers", [0, -1])
def test_a_bad_worker_count_is_refused(workers: int) -> None:
    with pytest.raises(plait.WorkflowError, match="'workers' must be 1 or more"):
        workflow(py("a", "pid")).create_run(executor={"type": "process", "workers": workers})
