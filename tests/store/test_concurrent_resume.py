"""Who executes a crashed run: exactly one process, however many try to resume it.

The crash is deterministic: step ``b`` waits for a gate file, and the run is killed
(``kill -9``) while the store records ``b`` running. Resumed, ``b`` waits for the gate
again, so the resuming process is still executing while the other one tries.
"""

from __future__ import annotations

import subprocess
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import (
    DEADLINE,
    Processes,
    document,
    kill_9,
    log_lines,
    new_run_id,
    python_step,
    run_ids,
    step_status,
    store_for,
    wait_until,
    write_json,
)

from plait.store import Store, open_store

HELPER = '''
"""Gated steps: note the start (durably), then wait for the gate file if there is one."""

import os
import time
from pathlib import Path


def step(name, log, gate=None, value=None):
    with open(log, "a", encoding="utf-8") as f:
        f.write(name + "\\n")
        f.flush()
        os.fsync(f.fileno())
    if gate is not None:
        deadline = time.monotonic() + 30
        while not Path(gate).exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"no gate {gate}")
            time.sleep(0.01)
    return {"step": name, "value": value}
'''

BEING_EXECUTED = "is being executed by"


def _workflow() -> dict[str, object]:
    def args(name: str, value: object, gate: bool = False) -> dict[str, object]:
        given = {"name": name, "log": "${inputs.log}", "value": value}
        return {**given, "gate": "${inputs.gate}"} if gate else given

    return {
        "name": "gated-e2e",
        "inputs": {"log": {"type": "string"}, "gate": {"type": "string"}},
        "steps": [
            python_step("a", "gated_steps:step", args("a", 1)),
            python_step("b", "gated_steps:step", args("b", "${a.output.value}", gate=True)),
            python_step("c", "gated_steps:step", args("c", "${b.output}")),
        ],
        "outputs": {"result": "${c.output}"},
    }


EXPECTED_OUTPUTS = {
    "result": {"step": "c", "value": {"step": "b", "value": 1}},
}


class Gated:
    """The gated workflow in one test's folder, with its log and gate files."""

    def __init__(self, folder: Path, url: str, procs: Processes) -> None:
        (folder / "gated_steps.py").write_text(textwrap.dedent(HELPER), encoding="utf-8")
        self.file = write_json(folder / "gated.json", _workflow())
        self.log = folder / "steps.log"
        self.gate = folder / "gate"
        self.url = url
        self.procs = procs
        self.store: Store = open_store(url)

    def start_run(self) -> tuple[subprocess.Popen[str], str]:
        """Start ``plait run`` and wait until ``b`` waits at its gate: its log line is
        written and the store records it running (``a`` then has succeeded, and was
        committed before ``b`` could start)."""
        known = run_ids(self.store)
        proc = self.procs.start(
            "run", self.file, "--store", self.url, "--json",
            "--input", f"log={self.log}", "--input", f"gate={self.gate}",
        )  # fmt: skip
        run_id = new_run_id(self.store, known, proc)
        wait_until(
            "step b to start and be recorded running",
            lambda: (
                log_lines(self.log) == ["a", "b"]
                and step_status(self.store, run_id, "b") == "running"
            ),
            alive=proc,
        )
        assert step_status(self.store, run_id, "a") == "succeeded"
        return proc, run_id

    def crashed_run(self) -> str:
        """A run killed (kill -9) while ``b`` runs; its lease still looks held."""
        proc, run_id = self.start_run()
        kill_9(proc)
        assert log_lines(self.log) == ["a", "b"]
        record = self.store.get_run(run_id)
        assert record.status == "running"
        assert record.lease_owner is not None
        return run_id

    def resume(self, run_id: str) -> subprocess.Popen[str]:
        return self.procs.start("resume", run_id, "--store", self.url, "--json")

    def open_gate(self) -> None:
        self.gate.write_text("open", encoding="utf-8")


@pytest.fixture(params=["sqlite", "postgres"])
def gated(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Gated]:
    url = store_for(request.param, request, tmp_path)
    procs = Processes(tmp_path)
    setup = None
    try:
        setup = Gated(tmp_path, url, procs)
        yield setup
    finally:
        procs.close()
        if setup is not None:
            setup.store.close()


def _refused_as_being_executed(proc: subprocess.Popen[str], run_id: str) -> None:
    out, err = proc.communicate()
    assert proc.returncode == 2, err
    assert out == ""
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert f"run {run_id} {BEING_EXECUTED}" in err


def _finished(proc: subprocess.Popen[str], timeout: float = 30.0) -> dict[str, object]:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    doc: dict[str, object] = document((out, err))
    assert doc["status"] == "succeeded"
    assert doc["outputs"] == EXPECTED_OUTPUTS
    return doc


def test_two_processes_resume_a_crashed_run_at_once_exactly_one_executes_it(
    gated: Gated,
) -> None:
    run_id = gated.crashed_run()
    crash = len(log_lines(gated.log))

    first, second = gated.resume(run_id), gated.resume(run_id)
    # The one that executes the run waits at b's gate; the other must give up meanwhile.
    loser = wait_until(
        "one of the two resumes to give up",
        lambda: next((p for p in (first, second) if p.poll() is not None), None),
    )
    winner = second if loser is first else first
    _refused_as_being_executed(loser, run_id)
    assert winner.poll() is None, "the winner ended before its gate was opened"

    wait_until("the winner to run b", lambda: log_lines(gated.log)[crash:] == ["b"], alive=winner)
    gated.open_gate()
    _finished(winner)
    assert Counter(log_lines(gated.log)[crash:]) == {"b": 1, "c": 1}, "each step once after"
    record = gated.store.get_run(run_id)
    assert record.status == "succeeded"
    assert record.lease_owner is None


def test_resume_of_a_run_whose_holder_is_alive_is_refused(gated: Gated) -> None:
    running, run_id = gated.start_run()
    refused = gated.procs.run("resume", run_id, "--store", gated.url, "--json", timeout=DEADLINE)
    assert refused.returncode == 2, refused.stderr
    assert refused.stdout == ""
    assert "Traceback" not in refused.stderr
    assert f"run {run_id} {BEING_EXECUTED}" in refused.stderr
    assert running.poll() is None, "the run was disturbed by the refused resume"

    gated.open_gate()
    _finished(running)
    assert log_lines(gated.log) == ["a", "b", "c"], "the refused resume ran nothing"


def test_a_run_whose_holder_is_dead_is_resumed_at_once(gated: Gated) -> None:
    run_id = gated.crashed_run()
    lease_left = gated.store.get_run(run_id).lease_expires_at
    assert lease_left is not None
    gated.open_gate()

    began = time.time()
    assert lease_left > began + 5, "the dead holder's lease should still be valid"
    resumed = gated.resume(run_id)
    _finished(resumed, timeout=lease_left - began)  # never waits for the lease to expire
    assert time.time() < lease_left
    assert log_lines(gated.log) == ["a", "b", "b", "c"]  # b again: it never succeeded
