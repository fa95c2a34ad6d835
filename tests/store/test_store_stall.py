"""A stalled PostgreSQL: a run whose writes cannot get through ends, within its
``statement_timeout``, with one line naming the timeout (never a silent hang).

The stall is real: another connection holds a table in ACCESS EXCLUSIVE mode, in an
open transaction, while the run writes; it lets go only after the run's process has
ended. The run writes with ``?statement_timeout=1s`` in its store URL.

- ``step_executions`` locked: the batch recording ``b``'s end times out; the run's
  row is still writable, so the run is recorded ``failed`` with the store's error.
- ``runs`` locked: nothing can be written, not even the failure; the line says the run
  is still recorded running, and ``plait resume`` goes on with it once the lock is gone.
"""

from __future__ import annotations

import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from e2e_support import (
    DEADLINE,
    Processes,
    document,
    log_lines,
    new_run_id,
    python_step,
    run_ids,
    step_status,
    wait_until,
    write_json,
)

from plait.errors import StoreError
from plait.store import Store, open_store
from plait.store.records import loads

HELPER = """
import os
import time
from pathlib import Path


def step(name, log, gate=None):
    with open(log, "a", encoding="utf-8") as f:
        f.write(name + "\\n")
        f.flush()
        os.fsync(f.fileno())
    deadline = time.monotonic() + 60
    while gate is not None and not Path(gate).exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return name
"""


class Stalled:
    def __init__(self, folder: Path, url: str) -> None:
        (folder / "stall_steps.py").write_text(textwrap.dedent(HELPER), encoding="utf-8")
        log, gate = "${inputs.log}", "${inputs.gate}"
        self.file = write_json(
            folder / "stall.json",
            {
                "name": "stall",
                "inputs": {"log": {"type": "string"}, "gate": {"type": "string"}},
                "steps": [
                    python_step("a", "stall_steps:step", {"name": "a", "log": log}),
                    python_step(
                        "b", "stall_steps:step", {"name": "b", "log": log, "gate": gate},
                        dependsOn=["a"],
                    ),
                    python_step(
                        "c", "stall_steps:step", {"name": "c", "log": log}, dependsOn=["b"]
                    ),
                ],
            },
        )  # fmt: skip
        self.log, self.gate = folder / "steps.log", folder / "gate"
        self.url = url
        self.store: Store = open_store(url)
        self.procs = Processes(folder)

    def run_until_b_waits(self) -> tuple[subprocess.Popen[str], str]:
        known = run_ids(self.store)
        proc = self.procs.start(
            "run", self.file, "--store", f"{self.url}?statement_timeout=1s", "--json",
            "--input", f"log={self.log}", "--input", f"gate={self.gate}",
        )  # fmt: skip
        run_id = new_run_id(self.store, known, proc)
        wait_until(
            "b to be recorded running",
            lambda: step_status(self.store, run_id, "b") == "running",
            alive=proc,
        )
        return proc, run_id

    def ended_while_locked(self, table: str) -> tuple[subprocess.Popen[str], str, str]:
        """Lock ``table``, let ``b`` end, and wait (the lock still held) for the run's
        process to end: its exit status and stderr."""
        proc, run_id = self.run_until_b_waits()
        with psycopg.connect(self.url, connect_timeout=5) as locker:
            locker.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
            self.gate.touch()
            try:
                _, err = proc.communicate(timeout=DEADLINE)
            except subprocess.TimeoutExpired:
                pytest.fail(f"the run still hangs {DEADLINE:.0f} s into the stall")
            locker.rollback()
        return proc, run_id, err


@pytest.fixture
def stalled(postgres_url: str, tmp_path: Path) -> Iterator[Stalled]:
    setup = Stalled(tmp_path, postgres_url)
    try:
        yield setup
    finally:
        setup.procs.close()
        setup.store.close()


def _one_line_timeout(proc: subprocess.Popen[str], err: str) -> str:
    assert proc.returncode == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "canceling statement due to statement timeout" in lines[0]
    assert "statement_timeout=1s" in lines[0]
    return lines[0]


def test_a_stalled_step_write_fails_the_run_within_the_timeout(stalled: Stalled) -> None:
    proc, run_id, err = stalled.ended_while_locked("step_executions")
    line = _one_line_timeout(proc, err)
    assert line.endswith(f"run {run_id} is recorded failed")
    record = stalled.store.get_run(run_id)
    assert record.status == "failed"
    assert record.lease_owner is None
    error = loads(record.error)
    assert error["type"] == "StoreError"
    assert "statement timeout" in error["message"]
    assert log_lines(stalled.log) == ["a", "b"]  # c never started


def test_a_store_that_takes_no_write_at_all_leaves_a_run_resume_can_finish(
    stalled: Stalled,
) -> None:
    proc, run_id, err = stalled.ended_while_locked("runs")
    line = _one_line_timeout(proc, err)
    assert line.endswith(
        f"run {run_id} is still recorded running: plait resume {run_id} goes on with it"
    )
    assert stalled.store.get_run(run_id).status == "running"

    resumed = stalled.procs.run("resume", run_id, "--store", stalled.url, "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert document(resumed)["status"] == "succeeded"
    assert log_lines(stalled.log) == ["a", "b", "b", "c"]  # b's end was never recorded


def test_the_timeouts_in_the_url_reach_the_server(postgres_url: str) -> None:
    url = f"{postgres_url}?statement_timeout=250ms&connect_timeout=3&application_name=plait_probe"
    store = open_store(url)
    try:
        with store.reader.connect() as conn:  # type: ignore[attr-defined]
            assert conn.exec_driver_sql("SHOW statement_timeout").scalar_one() == "250ms"
            assert conn.exec_driver_sql("SHOW application_name").scalar_one() == "plait_probe"
    finally:
        store.close()
    store = open_store(postgres_url)  # the defaults
    try:
        with store.reader.connect() as conn:  # type: ignore[attr-defined]
            assert conn.exec_driver_sql("SHOW statement_timeout").scalar_one() == "10s"
    finally:
        store.close()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("statement_timeout=soon", "statement_timeout must be milliseconds or a duration"),
        ("connect_timeout=1.5", "connect_timeout must be a whole number of seconds, not '1.5'"),
        ("statement_timeout=1s&statement_timeout=2s", "statement_timeout is given 2 times"),
    ],
)
def test_a_bad_timeout_in_the_url_is_one_line(postgres_url: str, query: str, message: str) -> None:
    with pytest.raises(StoreError, match=message) as info:
        open_store(f"{postgres_url}?{query}")
    assert "\n" not in str(info.value)
