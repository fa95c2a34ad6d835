"""``plait cancel`` from another process: a live run stops within seconds; a run whose
process was killed is marked cancelled at once; a finished run cannot be cancelled."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import (
    Processes,
    document,
    kill_9,
    new_run_id,
    run_ids,
    step_status,
    store_for,
    wait_until,
)

from plait.store import Store, open_store

LONG = """\
name: long-e2e
steps:
  - {id: nap, tool: sleep, input: {duration: 60s}}
  - {id: after, tool: echo, input: "${nap.output}"}
"""

STOP_BOUND = 5.0  # seconds: the run polls for a cancel request every 0.5 s


class Setup:
    def __init__(self, folder: Path, url: str) -> None:
        self.file = folder / "long.yaml"
        self.file.write_text(LONG, encoding="utf-8")
        self.url = url
        self.procs = Processes(folder)
        self.store: Store = open_store(url)

    def start_napping(self) -> tuple[subprocess.Popen[str], str]:
        """``plait run`` of the long workflow, once the store records ``nap`` running."""
        known = run_ids(self.store)
        proc = self.procs.start("run", self.file, "--store", self.url, "--json")
        run_id = new_run_id(self.store, known, proc)
        wait_until(
            "step nap to be recorded running",
            lambda: step_status(self.store, run_id, "nap") == "running",
            alive=proc,
        )
        return proc, run_id

    def cancel(self, run_id: str) -> subprocess.CompletedProcess[str]:
        return self.procs.run("cancel", run_id, "--store", self.url)


# The cancel request travels through the store: the live run's poll is tried on both
# backends; the rest is the same code whatever the store, and runs on SQLite.
BOTH = pytest.mark.parametrize("setup", ["sqlite", "postgres"], indirect=True)


@pytest.fixture(params=["sqlite"])
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Setup]:
    made = Setup(tmp_path, store_for(request.param, request, tmp_path))
    try:
        yield made
    finally:
        made.procs.close()
        made.store.close()


@BOTH
def test_cancel_from_another_process_stops_the_run_within_seconds(setup: Setup) -> None:
    running, run_id = setup.start_napping()

    cancelled = setup.cancel(run_id)
    asked = time.monotonic()
    assert cancelled.returncode == 0, cancelled.stderr
    assert f"asked run {run_id} to cancel" in cancelled.stdout
    try:
        out, err = running.communicate(timeout=STOP_BOUND)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the run still runs {STOP_BOUND} s after plait cancel")
    stopped_after = time.monotonic() - asked
    assert running.returncode == 1, err
    assert "Traceback" not in err
    assert stopped_after < STOP_BOUND

    doc = document((out, err))
    assert doc["status"] == "cancelled"
    assert doc["steps"]["nap"]["status"] == "cancelled"
    record = setup.store.get_run(run_id)
    assert record.status == "cancelled"
    assert record.lease_owner is None
    assert step_status(setup.store, run_id, "nap") == "cancelled"
    assert step_status(setup.store, run_id, "after") != "succeeded"
    left_running = [s.node_id for s in setup.store.get_steps(run_id) if s.status == "running"]
    assert left_running == []
    assert running.poll() is not None  # the process (and every thread of it) is gone


def test_cancel_of_a_run_whose_process_was_killed_marks_it_cancelled_at_once(
    setup: Setup,
) -> None:
    running, run_id = setup.start_napping()
    kill_9(running)

    cancelled = setup.cancel(run_id)
    assert cancelled.returncode == 0, cancelled.stderr
    assert "marked cancelled" in cancelled.stdout
    record = setup.store.get_run(run_id)
    assert record.status == "cancelled"
    assert record.finished_at is not None
    assert record.lease_owner is None
    left_running = [s.node_id for s in setup.store.get_steps(run_id) if s.status == "running"]
    assert left_running == [], "a cancelled run still shows steps running"
    statuses = {s.node_id: s.status for s in setup.store.get_steps(run_id)}
    assert "pending" not in statuses.values()
    assert set(statuses.values()) <= {"cancelled", "skipped", "succeeded"}
    outline = setup.store.get_run(run_id).outline
    assert outline is not None
    assert set(statuses) == {node["id"] for node in json.loads(outline)["nodes"]}


def test_cancel_of_a_finished_run_is_refused_with_exit_2(setup: Setup, tmp_path: Path) -> None:
    quick = tmp_path / "quick.yaml"
    quick.write_text("name: quick-e2e\nsteps:\n  - {id: a, tool: noop}\n", encoding="utf-8")
    known = run_ids(setup.store)
    done = setup.procs.run("run", quick, "--store", setup.url, "--json")
    assert done.returncode == 0, done.stderr
    run_id = document(done)["run_id"]
    assert run_ids(setup.store) - known == {run_id}

    refused = setup.cancel(run_id)
    assert refused.returncode == 2
    assert refused.stdout == ""
    assert "Traceback" not in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert f"run {run_id} already succeeded" in refused.stderr
    assert setup.store.get_run(run_id).status == "succeeded"
