"""Ctrl-C on ``plait run``, for real: a process, a terminal's SIGINT, a store to read.

The first Ctrl-C cancels the run: running steps are cancelled (a shell step's process
group killed), the rest skipped, everything recorded, exit status 1. A second Ctrl-C
exits at once, even when a step ignores its cancellation.

Each wait is for an event (a file a step writes, a process ending) with a generous
deadline; the time from SIGINT to exit is measured by ``python -m bench.interrupt``,
not asserted here.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import Write

DEADLINE = 30.0  # seconds any one wait may take before the test fails (never reached)
EXIT_BOUND = 20.0  # seconds from SIGINT to exit: a generous bound; measured: ~0.1 s

HELPERS = '''
"""Steps for the interrupt tests: each notes on disk that it started."""

import asyncio
import os
import threading
from pathlib import Path


def block_in_thread(started):
    Path(started).write_text(str(os.getpid()))
    threading.Event().wait()  # nothing ever sets it: only the process's end stops this


async def ignore_cancel(started, seen):
    Path(started).write_text(str(os.getpid()))
    while True:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            Path(seen).write_text("cancel ignored")
'''


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PLAIT_STORE"}
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Plait:
    """``plait`` processes in one folder, each in a session of its own (SIGINT goes to
    its whole process group, as a terminal's Ctrl-C does); all reaped at the end."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.store = str(folder / "plait.db")
        self.procs: list[subprocess.Popen[str]] = []

    def start(self, *args: object) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "plait", *map(str, args), "--store", self.store],
            cwd=self.folder,
            env=_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def show(self, run_id: str) -> Any:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "plait",
                "runs",
                "show",
                run_id,
                "--json",
                "--store",
                self.store,
            ],
            cwd=self.folder,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()


@pytest.fixture
def plait(tmp_path: Path) -> Iterator[Plait]:
    (tmp_path / "interrupt_steps.py").write_text(HELPERS, encoding="utf-8")
    made = Plait(tmp_path)
    try:
        yield made
    finally:
        made.close()


def wait_for(what: str, check: Callable[[], Any], proc: subprocess.Popen[str]) -> Any:
    deadline = time.monotonic() + DEADLINE
    while not (value := check()):
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"waiting for {what}: plait ended ({proc.returncode})\n{out}\n{err}")
        if time.monotonic() > deadline:
            pytest.fail(f"waited {DEADLINE:.0f} s for {what}")
        time.sleep(0.01)
    return value


def ctrl_c(proc: subprocess.Popen[str]) -> None:
    os.killpg(proc.pid, signal.SIGINT)


def exited(proc: subprocess.Popen[str]) -> tuple[int, str, str, float]:
    """Wait for the process to end: its status, streams, and seconds it took."""
    started = time.monotonic()
    try:
        out, err = proc.communicate(timeout=EXIT_BOUND)
    except subprocess.TimeoutExpired:
        pytest.fail(f"plait was still running {EXIT_BOUND:.0f} s after Ctrl-C")
    return proc.returncode, out, err, time.monotonic() - started


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_ctrl_c_cancels_the_run_kills_its_processes_and_records_everything(
    plait: Plait, write: Write, tmp_path: Path
) -> None:
    pid_file = tmp_path / "sleep.pid"
    path = write(
        "wf.yaml",
        f"""
        name: interrupted
        steps:
          - id: long
            tool: shell
            input:
              command: "echo $$ > {pid_file}.tmp && mv {pid_file}.tmp {pid_file} && exec sleep 60"
              shell: true
          - {{id: after, tool: echo, input: "${{long.output}}"}}
          - id: fan
            parallel:
              count: 3
              steps:
                - {{id: nap, tool: sleep, input: {{duration: 60s}}}}
          - id: both
            parallelGroup: {{steps: [left, right], waitStrategy: all}}
          - {{id: left, tool: sleep, input: {{duration: 60s}}}}
          - {{id: right, tool: sleep, input: {{duration: 60s}}}}
        """,
    )
    proc = plait.start("run", path, "--json")
    wait_for("the shell step's process", pid_file.exists, proc)
    sleep_pid = int(pid_file.read_text())
    ctrl_c(proc)
    code, out, err, _ = exited(proc)
    assert code == 1, err
    assert "Traceback" not in err
    assert "cancelling the run" in err
    assert gone(sleep_pid), "the shell step's process outlived the run"
    doc = json.loads(out)
    assert doc["status"] == "cancelled"
    recorded = plait.show(doc["run_id"])
    assert recorded["status"] == "cancelled"
    steps = {sid: s["status"] for sid, s in recorded["steps"].items()}
    assert steps["long"] == "cancelled"
    assert steps["after"] == "skipped"
    assert steps["fan"] == "cancelled"
    assert steps["both"] == "cancelled"
    assert steps["left"] == steps["right"] == "cancelled"
    assert {steps[f"nap<{i}>"] for i in range(3)} == {"cancelled"}
    assert all(s["finished_at"] is not None for s in recorded["steps"].values())


def test_ctrl_c_ends_a_run_whose_step_blocks_in_a_thread(
    plait: Plait, write: Write, tmp_path: Path
) -> None:
    # A thread cannot be stopped: its step is cancelled at once, its result would be
    # discarded, and the process exits without waiting for it.
    started = tmp_path / "started"
    path = write(
        "wf.yaml",
        f"""
        name: blocked
        steps:
          - id: stuck
            tool: python
            input: {{function: "interrupt_steps:block_in_thread", args: {{started: "{started}"}}}}
        """,
    )
    proc = plait.start("run", path, "--json")
    wait_for("the step to start", started.exists, proc)
    ctrl_c(proc)
    code, out, err, _ = exited(proc)
    assert code == 1, err
    doc = json.loads(out)
    assert doc["steps"]["stuck"]["status"] == "cancelled"
    assert plait.show(doc["run_id"])["status"] == "cancelled"


def test_a_second_ctrl_c_exits_at_once_when_a_step_ignores_the_first(
    plait: Plait, write: Write, tmp_path: Path
) -> None:
    started, seen = tmp_path / "started", tmp_path / "seen"
    path = write(
        "wf.yaml",
        f"""
        name: stubborn
        steps:
          - id: stubborn
            tool: python
            input:
              function: "interrupt_steps:ignore_cancel"
              args: {{started: "{started}", seen: "{seen}"}}
        """,
    )
    proc = plait.start("run", path, "--json")
    wait_for("the step to start", started.exists, proc)
    ctrl_c(proc)
    wait_for("the step to ignore its cancellation", seen.exists, proc)
    assert proc.poll() is None  # the run waits for the step to stop, which it never will
    ctrl_c(proc)
    code, out, err, _ = exited(proc)
    assert code == 130, err
    assert out == ""
    assert "Traceback" not in err


# -- SIGTERM: what a container runtime, systemd or Kubernetes sends ----------------------


def terminate(proc: subprocess.Popen[str]) -> None:
    """SIGTERM to plait's own process only, as ``docker stop`` or a kubelet sends it: the
    shell step's process (in a process group of its own) must be stopped by plait."""
    os.kill(proc.pid, signal.SIGTERM)


def _shell_workflow(write: Write, pid_file: Path, *, wait_first: bool = False) -> Path:
    """A shell step that notes its pid and sleeps, a step after it, a sleep beside it;
    with ``wait_first``, both wait for the signal ``go`` (the run pauses first)."""
    command = f"echo $$ > {pid_file}.tmp && mv {pid_file}.tmp {pid_file} && exec sleep 60"
    gate = ", dependsOn: [gate]" if wait_first else ""
    lines = [
        "name: terminated",
        "steps:",
        *(["  - {id: gate, wait: go}"] if wait_first else []),
        f"  - {{id: long, tool: shell{gate},",
        f"      input: {{command: {json.dumps(command)}, shell: true}}}}",
        '  - {id: after, tool: echo, input: "${long.output}"}',
        f"  - {{id: nap, tool: sleep, input: {{duration: 60s}}{gate}}}",
    ]
    return write("wf.yaml", "\n".join(lines) + "\n")


def _assert_cancelled_by_sigterm(
    plait: Plait, proc: subprocess.Popen[str], sleep_pid: int
) -> dict[str, Any]:
    code, out, err, _ = exited(proc)
    assert code == 143, err
    assert "Traceback" not in err
    assert "SIGTERM: cancelling the run" in err
    assert gone(sleep_pid), "the shell step's process outlived the run"
    doc = json.loads(out)
    assert doc["status"] == "cancelled"
    assert doc["error"]["message"] == "cancelled by SIGTERM"
    recorded: dict[str, Any] = plait.show(doc["run_id"])
    assert recorded["status"] == "cancelled"
    steps = {sid: s["status"] for sid, s in recorded["steps"].items()}
    assert steps["long"] == steps["nap"] == "cancelled"
    assert steps["after"] == "skipped"
    assert all(s["finished_at"] is not None for s in recorded["steps"].values())
    return recorded


def test_sigterm_cancels_the_run_kills_its_processes_records_it_and_exits_143(
    plait: Plait, write: Write, tmp_path: Path
) -> None:
    pid_file = tmp_path / "sleep.pid"
    proc = plait.start("run", _shell_workflow(write, pid_file), "--json")
    wait_for("the shell step's process", pid_file.exists, proc)
    terminate(proc)
    _assert_cancelled_by_sigterm(plait, proc, int(pid_file.read_text()))


def test_sigterm_cancels_a_resumed_run_too(plait: Plait, write: Write, tmp_path: Path) -> None:
    pid_file = tmp_path / "sleep.pid"
    path = _shell_workflow(write, pid_file, wait_first=True)
    first = plait.start("run", path, "--json")
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    run_id = json.loads(out)["run_id"]
    proc = plait.start("resume", run_id, "--input", "go=1", "--json")
    wait_for("the shell step's process", pid_file.exists, proc)
    terminate(proc)
    recorded = _assert_cancelled_by_sigterm(plait, proc, int(pid_file.read_text()))
    assert recorded["steps"]["gate"]["status"] == "succeeded"


@pytest.mark.parametrize("second", [signal.SIGTERM, signal.SIGINT])
def test_a_second_signal_after_sigterm_exits_at_once(
    plait: Plait, write: Write, tmp_path: Path, second: signal.Signals
) -> None:
    started, seen = tmp_path / "started", tmp_path / "seen"
    path = write(
        "wf.yaml",
        f"""
        name: stubborn
        steps:
          - id: stubborn
            tool: python
            input:
              function: "interrupt_steps:ignore_cancel"
              args: {{started: "{started}", seen: "{seen}"}}
        """,
    )
    proc = plait.start("run", path, "--json")
    wait_for("the step to start", started.exists, proc)
    terminate(proc)
    wait_for("the step to ignore its cancellation", seen.exists, proc)
    assert proc.poll() is None  # the run waits for the step to stop, which it never will
    os.kill(proc.pid, second)
    code, out, err, _ = exited(proc)
    assert code == 128 + second, err
    assert out == ""
    assert "Traceback" not in err
