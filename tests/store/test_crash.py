"""The crash test: ``kill -9`` a run at a random moment, resume it, and lose nothing.

A workflow of 37 tasks (a group of 20 members, a side branch of 5 independent steps, a
chain of 10 after the group, and a join) whose steps append their id to a log file as
they start. The run is killed once the log holds k lines (k drawn from the seed), the
store is read at once, and ``plait resume`` must then finish the run: every step ran,
no step recorded ``succeeded`` before the resume ran again, nothing recorded was lost,
and the outputs are those of an uninterrupted run.
"""

from __future__ import annotations

import random
import textwrap
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import (
    Processes,
    document,
    kill_9,
    log_lines,
    new_run_id,
    python_step,
    run_ids,
    store_for,
    wait_until,
    write_json,
)

from plait.store import open_store

MEMBERS = [f"m{i:02d}" for i in range(20)]
SIDE = [f"s{i}" for i in range(5)]
CHAIN = [f"c{i:02d}" for i in range(10)]
TASKS = ["start", *MEMBERS, *SIDE, *CHAIN, "join"]

HELPER = '''
"""Crash-test steps: note that the step started (durably), work a little, answer."""

import hashlib
import json
import os
import random
import time


def work(step, log, value=None, gate=None):
    # The join waits for the test's gate file, so the run cannot finish before the kill.
    deadline = time.monotonic() + 60
    while gate is not None and not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.005)
    with open(log, "a", encoding="utf-8") as f:
        f.write(step + "\\n")
        f.flush()
        os.fsync(f.fileno())
    time.sleep(random.uniform(0.005, 0.03))
    text = json.dumps([step, value], sort_keys=True)
    return {"step": step, "digest": hashlib.sha256(text.encode()).hexdigest()[:16]}
'''


def _workflow() -> dict[str, object]:
    def task(step_id: str, value: object, **keys: object) -> dict[str, object]:
        args = {"step": step_id, "log": "${inputs.log}", "value": value}
        if step_id == "join":
            args["gate"] = "${inputs.gate}"
        return python_step(step_id, "crash_steps:work", args, **keys)

    steps: list[dict[str, object]] = [task("start", 1)]
    steps.append(
        {
            "id": "fan",
            "dependsOn": ["start"],
            "parallelGroup": {"id": "fan_group", "steps": MEMBERS, "maxConcurrent": 4},
        }
    )
    steps += [task(m, "${start.output.digest}") for m in MEMBERS]
    steps += [task(s, i) for i, s in enumerate(SIDE)]
    previous = "${fan.output}"
    for i, step_id in enumerate(CHAIN):
        steps.append(task(step_id, previous, **({"dependsOn": ["fan"]} if i == 0 else {})))
        previous = f"${{{step_id}.output}}"
    side = [f"${{{s}.output.digest}}" for s in SIDE]
    steps.append(task("join", {"chain": f"${{{CHAIN[-1]}.output}}", "side": side}))
    return {
        "name": "crash-e2e",
        "inputs": {"log": {"type": "string"}, "gate": {"type": "string"}},
        "steps": steps,
        "outputs": {"final": "${join.output.digest}", "fan": "${fan.output}"},
    }


@pytest.fixture(scope="module")
def workflow(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("crash-workflow")
    (folder / "crash_steps.py").write_text(textwrap.dedent(HELPER), encoding="utf-8")
    return write_json(folder / "crash.json", _workflow())


@pytest.fixture(scope="module")
def expected_outputs(workflow: Path) -> object:
    """The outputs of the same workflow run without interruption."""
    procs = Processes(workflow.parent)
    try:
        log = workflow.parent / "uninterrupted.log"
        gate = workflow.parent / "open-gate"
        gate.touch()
        done = procs.run(
            "run",
            workflow,
            "--store",
            "memory://",
            "--json",
            "--input",
            f"log={log}",
            "--input",
            f"gate={gate}",
        )
    finally:
        procs.close()
    assert done.returncode == 0, done.stderr
    assert sorted(log_lines(log)) == sorted(TASKS)
    return document(done)["outputs"]


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    started = Processes(tmp_path)
    try:
        yield started
    finally:
        started.close()


SEEDS = 5
# Every seed on SQLite; on PostgreSQL, a crash inside the group and one inside the chain.
TRIALS = [("sqlite", seed) for seed in range(SEEDS)] + [("postgres", 1), ("postgres", 3)]


def _kill_point(seed: int) -> int:
    """How many steps have started when the run is killed: random, within the seed's
    fifth of the run (so the seeds together crash it early, late and in between), and
    never past c05: the last four links of the chain and the join, one after the
    other, are still to come when the kill lands."""
    last = len(TASKS) - 5
    low = 1 + seed * last // SEEDS
    high = (seed + 1) * last // SEEDS
    return random.Random(seed).randint(low, max(low, high))


@pytest.mark.parametrize(("backend", "seed"), TRIALS, ids=[f"{b}-{s}" for b, s in TRIALS])
def test_kill_9_at_a_random_moment_then_resume_loses_nothing(
    backend: str,
    seed: int,
    workflow: Path,
    expected_outputs: object,
    procs: Processes,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    url = store_for(backend, request, tmp_path)
    k = _kill_point(seed)
    log = tmp_path / "steps.log"
    gate = tmp_path / "gate"
    store = open_store(url)
    try:
        known = run_ids(store)
        running = procs.start(
            "run",
            workflow,
            "--store",
            url,
            "--json",
            "--input",
            f"log={log}",
            "--input",
            f"gate={gate}",
        )

        def started() -> bool:
            return len(log_lines(log)) >= k

        wait_until(f"{k} steps to start", started, alive=running, interval=0.002)
        kill_9(running)
        gate.touch()  # the resumed run may now finish

        # What the store holds right after the crash.
        run_id = new_run_id(store, known, running)
        assert store.get_run(run_id).status == "running"
        recorded = store.get_steps(run_id)
        succeeded = {s.node_id: s.output for s in recorded if s.status == "succeeded"}
        done_tasks = set(succeeded) & set(TASKS)
        ran_before = log_lines(log)
        assert done_tasks <= set(ran_before), "a step is recorded succeeded but never started"

        resumed = procs.run("resume", run_id, "--store", url, "--json")
        assert resumed.returncode == 0, resumed.stderr
        assert "Traceback" not in resumed.stderr
        doc = document(resumed)
        assert doc["status"] == "succeeded"
        assert {doc["steps"][t]["status"] for t in TASKS} == {"succeeded"}

        runs = Counter(log_lines(log))
        assert set(runs) == set(TASKS), "every step ran at least once"
        again = sorted(t for t in done_tasks if runs[t] != 1)
        assert not again, f"steps recorded succeeded before the resume ran again: {again}"
        assert doc["outputs"] == expected_outputs

        # Nothing recorded was lost: every success is still there, with the same output.
        after = store.get_steps(run_id)
        kept = {s.node_id: s.output for s in after if s.status == "succeeded"}
        assert {n: kept.get(n) for n in succeeded} == succeeded
        final = store.get_run(run_id)
        assert final.status == "succeeded"
        assert final.lease_owner is None
    finally:
        store.close()
