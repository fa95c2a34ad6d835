"""The Dask executor on a real ``LocalCluster`` of worker processes (one for the module):
groups, maps, failures, timeouts and cancellation keep plait's meaning; at most
``maxInFlight`` futures at once; a resumed run may change executor."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import plait
from executors.conftest import failing_steps, pid_in, py, statuses, until_exists, workflow
from plait.cli.app import app

distributed = pytest.importorskip(
    "distributed", reason="the dask executor needs dask.distributed: pip install -e '.[dev]'"
)

from plait.executors.dask import DaskExecutor  # noqa: E402  (after the skip)


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A cluster of two worker processes, one thread each; its scheduler's address."""
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as local_cluster:
        yield local_cluster.scheduler_address


@pytest.fixture
def stop_file(tmp_path: Path) -> Iterator[Path]:
    """Ends the hanging functions of a test: Dask cannot stop a task a worker began."""
    path = tmp_path / "stop"
    yield path
    path.touch()


async def _story(address: str, step: str) -> list[tuple[str, str, str]]:
    """The scheduler's transitions of the tasks of ``step``: (start, finish, stimulus)."""

    def transitions(dask_scheduler: Any) -> list[tuple[str, str, str]]:
        return [
            (t.start, t.finish, t.stimulus_id)
            for t in dask_scheduler.transition_log
            if str(t.key).startswith(f"{step}-")
        ]

    async with distributed.Client(address, asynchronous=True) as client:
        found: list[tuple[str, str, str]] = await client.run_on_scheduler(transitions)
        return found


def _cancelled_on_cluster(story: list[tuple[str, str, str]]) -> bool:
    return any(
        start == "processing" and stimulus.startswith("cancel-key") for start, _, stimulus in story
    )


async def test_groups_and_maps_run_on_the_cluster(cluster: str) -> None:
    wf = workflow(
        {"id": "g", "parallelGroup": {"steps": ["a", "b"]}},
        py("a", "spin", {"ms": 1, "i": 1}),
        py("b", "spin", {"ms": 1, "i": 2}),
        {
            "id": "m",
            "dependsOn": ["g"],
            "parallel": {
                "count": 8,
                "maxConcurrent": 4,
                "steps": [py("s", "spin", {"ms": 1, "i": "${parallel.index}"})],
            },
        },
        executor={"type": "dask", "address": cluster},
    )
    result = await wf.run()
    assert result.status is plait.RunStatus.SUCCEEDED, result.error
    assert [o["i"] for o in result.steps["m"].output] == list(range(8))
    assert {k: v["i"] for k, v in result.steps["g"].output.items()} == {"a": 1, "b": 2}
    assert os.getpid() not in {o["pid"] for o in result.steps["m"].output}


async def test_failures_keep_their_type_and_retries_on_the_cluster(cluster: str) -> None:
    wf = workflow(
        *failing_steps(),
        {"id": "sync_tool", "tool": "exec_sync", "input": {"x": 2}},
    )
    local = await wf.run()
    remote = await wf.run(executor=cluster)
    for sid in ("plain", "typed"):
        assert remote.steps[sid].error == local.steps[sid].error
        assert remote.steps[sid].attempts == local.steps[sid].attempts
    assert remote.steps["typed"].attempts == 2
    plain = remote.steps["plain"].error
    assert plain is not None
    assert (plain.type, plain.message, plain.step) == ("ValueError", "bad input", "plain")
    assert plain.traceback is not None
    assert 'work.py", line' in plain.traceback  # the worker's frames came back
    assert remote.steps["sync_tool"].output["x"] == 4
    assert remote.steps["sync_tool"].output["pid"] != os.getpid()


async def test_a_timed_out_step_has_its_future_cancelled_on_the_cluster(
    cluster: str, tmp_path: Path, stop_file: Path
) -> None:
    pid_file = tmp_path / "hang.pid"
    wf = workflow(
        py("warm", "pid"),
        py(
            "hang_t",
            "hang",
            [str(pid_file), str(stop_file)],
            timeout="1s",
            dependsOn=["warm"],
            continueOnError=True,
        ),
    )
    executor = DaskExecutor(cluster)
    result = await wf.run(executor=executor)
    assert statuses(result) == {"warm": "succeeded", "hang_t": "timed_out"}
    assert pid_in(pid_file) != os.getpid()  # it had begun on a worker
    assert executor.statistics().cancelled == 1
    assert _cancelled_on_cluster(await _story(cluster, "hang_t"))


async def test_cancelling_a_run_cancels_its_futures_on_the_cluster(
    cluster: str, tmp_path: Path, stop_file: Path
) -> None:
    pid_file = tmp_path / "hang.pid"
    wf = workflow(
        py("hang_c", "hang", [str(pid_file), str(stop_file)]),
        py("queued", "pid", dependsOn=["hang_c"]),
    )
    run = wf.create_run(executor=cluster)
    task = asyncio.create_task(run.execute())
    await until_exists(pid_file)
    run.cancel("the test cancels it")
    result = await task
    assert result.status is plait.RunStatus.CANCELLED
    assert statuses(result) == {"hang_c": "cancelled", "queued": "skipped"}
    assert _cancelled_on_cluster(await _story(cluster, "hang_c"))


async def test_max_in_flight_bounds_the_futures_on_the_scheduler(cluster: str) -> None:
    executor = DaskExecutor(cluster, max_in_flight=3)
    wf = workflow(
        {
            "id": "m",
            "parallel": {"count": 24, "steps": [py("s", "spin", {"ms": 20})]},
        },
        parallelConfig={"maxConcurrent": 24},
    )
    seen: list[int] = []
    run = wf.create_run(executor=executor)
    task = asyncio.create_task(run.execute())
    while not task.done():  # watch the client's futures while the map runs
        if executor.client is not None:
            seen.append(len(executor.client.futures))
        await asyncio.sleep(0.005)
    result = task.result()
    assert result.status is plait.RunStatus.SUCCEEDED, result.error
    assert len(result.steps["m"].output) == 24
    assert max(seen) <= 3
    assert executor.statistics().peak_in_flight == 3
    assert executor.statistics().submitted == 24


async def test_a_resumed_run_may_use_another_executor(cluster: str, tmp_path: Path) -> None:
    first, second, gate = (tmp_path / name for name in ("first", "second", "gate"))
    wf = workflow(
        py("a", "count", {"file": str(first)}),
        py("b", "count", {"file": str(second), "fail_unless": str(gate)}, dependsOn=["a"]),
    )
    store = tmp_path / "runs.db"
    failed = await wf.run(executor="process", store=store)
    assert statuses(failed) == {"a": "succeeded", "b": "failed"}
    gate.touch()
    resumed = await plait.resume(
        failed.run_id, store=store, from_failure=True, workflow=wf, executor=cluster
    )
    assert resumed.status is plait.RunStatus.SUCCEEDED, resumed.error
    assert resumed.steps["a"].output == 1  # reused from the first attempt, not run again
    assert resumed.steps["b"].output == 2
    assert first.read_text(encoding="ascii").count("x") == 1


def test_the_command_line_runs_on_a_dask_scheduler(
    cluster: str, write: Callable[[str, str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    module = f"beside_{uuid.uuid4().hex}"  # long-lived workers: the folder is put on
    write(f"{module}.py", "import os\n\ndef where():\n    return os.getpid()\n")  # their path
    path = write(
        "wf.yaml",
        f"""\
        name: cli-dask
        steps:
          - {{id: here, tool: python, input: {{function: "{module}:where"}}}}
        """,
    )
    monkeypatch.chdir(path.parent)
    address = "dask://" + cluster.removeprefix("tcp://")
    outcome = CliRunner().invoke(app, ["run", str(path), "--executor", address, "--json"])
    assert outcome.exit_code == 0, outcome.output
    document = json.loads(outcome.stdout)
    assert document["steps"]["here"]["output"] != os.getpid()


async def test_without_an_address_it_starts_a_local_cluster_for_the_run() -> None:
    wf = workflow(py("a", "pid"), {"id": "b", "tool": "echo", "input": 1})
    result = await wf.run(executor={"type": "dask", "workers": 1})
    assert result.status is plait.RunStatus.SUCCEEDED, result.error
    assert result.steps["a"].output != os.getpid()
