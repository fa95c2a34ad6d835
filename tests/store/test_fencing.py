"""Fencing: a process frozen past its lease comes back and starts nothing.

Process A runs eight steps one at a time (a pool of one slot, in order): three that
append to a side-effect log, ``hold`` (it waits for a gate file and logs nothing), and
four more that log. A is frozen (SIGSTOP) while ``hold`` waits, once the three before
are recorded succeeded. Its lease expires (a 2 s TTL, ``PLAIT_LEASE_TTL``); process B
resumes the run and finishes it. A is then let go (SIGCONT): its ``hold`` returns, the
pool's slot frees, and the next step would start at once. It must not: A checks its
lease before calling any tool, finds it lost, and stops. (Issue 19: A ran four steps
that B had already recorded.)
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any, cast

import pytest
from e2e_support import (
    Processes,
    child_env,
    document,
    log_lines,
    new_run_id,
    plait_argv,
    python_step,
    run_ids,
    step_status,
    store_for,
    wait_until,
    write_json,
)

import plait
from plait.durable import prepare_resume
from plait.errors import WorkflowError
from plait.store import Store, open_store
from plait.store.records import RunRecord, loads

HELPER = '''
"""Fenced steps: log the start (durably) with the process id, or wait for a gate."""

import os
import time
from pathlib import Path


def effect(name, log):
    with open(log, "a", encoding="utf-8") as f:
        f.write(f"{name} {os.getpid()}\\n")
        f.flush()
        os.fsync(f.fileno())
    return {"step": name, "pid": os.getpid()}


def hold(gate):
    deadline = time.monotonic() + 60
    while not Path(gate).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no gate {gate}")
        time.sleep(0.01)
    return {"step": "hold", "pid": os.getpid()}
'''

BEFORE = ["s1", "s2", "s3"]
AFTER = ["s4", "s5", "s6", "s7"]
TTL = "2"


def _workflow() -> dict[str, object]:
    def effect(name: str) -> dict[str, object]:
        args = {"name": name, "log": "${inputs.log}"}
        return python_step(name, "fenced_steps:effect", args, pool="one")

    hold = python_step("hold", "fenced_steps:hold", {"gate": "${inputs.gate}"}, pool="one")
    return {
        "name": "fenced",
        "inputs": {"log": {"type": "string"}, "gate": {"type": "string"}},
        "pools": {"one": {"maxConcurrent": 1}},
        "steps": [*map(effect, BEFORE), hold, *map(effect, AFTER)],
    }


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_process_frozen_past_its_lease_starts_no_step_when_it_wakes(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = store_for(backend, request, tmp_path)
    (tmp_path / "fenced_steps.py").write_text(textwrap.dedent(HELPER), encoding="utf-8")
    file = write_json(tmp_path / "fenced.json", _workflow())
    log, gate = tmp_path / "effects.log", tmp_path / "gate"
    procs = Processes(tmp_path)
    store = open_store(url)
    a: subprocess.Popen[str] | None = None
    try:
        known = run_ids(store)
        a = procs.start(
            "run", file, "--store", url, "--json", "--input", f"log={log}",
            "--input", f"gate={gate}", env={"PLAIT_LEASE_TTL": TTL},
        )  # fmt: skip
        run_id = new_run_id(store, known, a)
        wait_until(
            "A to wait in hold, the steps before it recorded succeeded",
            lambda: (
                step_status(store, run_id, "hold") == "running"
                and all(step_status(store, run_id, s) == "succeeded" for s in BEFORE)
            ),
            alive=a,
        )
        os.kill(a.pid, signal.SIGSTOP)
        assert [line.split()[0] for line in log_lines(log)] == BEFORE
        expires = store.get_run(run_id).lease_expires_at
        assert expires is not None
        wait_until("A's lease to expire", lambda: time.time() > expires + 0.05, interval=0.05)

        gate.touch()
        b = procs.run("resume", run_id, "--store", url, "--json")
        assert b.returncode == 0, b.stderr
        assert document(b)["status"] == "succeeded"
        rows_by_b = sorted(store.get_steps(run_id))
        run_by_b = store.get_run(run_id)

        os.kill(a.pid, signal.SIGCONT)
        out, err = a.communicate(timeout=60)
        # A ran nothing after it woke: the log is what A did before, then B's steps.
        lines = [line.split() for line in log_lines(log)]
        assert Counter(name for name, _pid in lines) == {s: 1 for s in BEFORE + AFTER}
        pids = {name: int(pid) for name, pid in lines}
        assert {pids[s] for s in BEFORE} == {a.pid}
        b_pids = {pids[s] for s in AFTER}
        assert len(b_pids) == 1
        assert a.pid not in b_pids
        # A said why it stopped, in one line, and wrote nothing: the rows are B's.
        assert a.returncode == 2, err
        assert out == ""
        assert "Traceback" not in err
        assert len(err.strip().splitlines()) == 1, err
        assert "no longer holds its lease" in err
        assert sorted(store.get_steps(run_id)) == rows_by_b
        assert store.get_run(run_id) == run_by_b
        assert run_by_b.status == "succeeded"
        assert run_by_b.lease_owner is None
        outputs = {s.node_id: loads(s.output) for s in rows_by_b if s.status == "succeeded"}
        assert outputs["hold"]["pid"] in b_pids  # B ran hold again; A's end never landed
    finally:
        if a is not None and a.poll() is None:
            os.kill(a.pid, signal.SIGCONT)
        procs.close()
        store.close()


def test_a_lease_ttl_that_is_not_a_number_is_refused_in_one_line(tmp_path: Path) -> None:
    file = write_json(
        tmp_path / "w.json", {"name": "w", "steps": [{"id": "a", "tool": "echo", "input": 1}]}
    )
    done = subprocess.run(
        plait_argv("run", file, "--store", tmp_path / "p.db"),
        env={**child_env(), "PLAIT_LEASE_TTL": "soon"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "PLAIT_LEASE_TTL must be a number of seconds from 1 to 86400, not 'soon'" in (
        done.stderr
    )


class _StaleFirstRead:
    """A store whose first ``get_run`` answers with the record as it was before another
    process resumed the run: what a resume read just before that other one ran."""

    def __init__(self, store: Store, stale: RunRecord) -> None:
        self._store = store
        self._stale: RunRecord | None = stale

    def get_run(self, run_id: str) -> RunRecord:
        stale, self._stale = self._stale, None
        return stale if stale is not None else self._store.get_run(run_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_a_resume_refuses_a_run_another_resume_ran_since_it_was_read(tmp_path: Path) -> None:
    url = str(tmp_path / "plait.db")
    wf = plait.Workflow.from_dict(
        {
            "name": "fails",
            "steps": [
                {"id": "a", "tool": "echo", "input": 1},
                {"id": "b", "tool": "fail", "input": {"message": "no"}, "dependsOn": ["a"]},
            ],
        }
    )
    failed = asyncio.run(wf.run(store=url))
    assert failed.status.value == "failed"
    store = open_store(url)
    try:
        read_first = store.get_run(failed.run_id)
        # Another resume runs it (b fails again) and gives the lease back.
        again = asyncio.run(plait.resume(failed.run_id, store=url, workflow=wf, from_failure=True))
        assert again.status.value == "failed"
        attempts = len(store.get_steps(failed.run_id))

        with pytest.raises(WorkflowError, match="was resumed by another process meanwhile"):
            prepare_resume(
                failed.run_id,
                cast(Store, _StaleFirstRead(store, read_first)),
                from_failure=True,
                plan=wf.plan,
            )
        assert len(store.get_steps(failed.run_id)) == attempts  # b did not run a third time
        assert store.get_run(failed.run_id).lease_owner is None  # the lease was given back
    finally:
        store.close()
