"""Helpers for the end-to-end durability tests: ``plait`` as real processes on a real store.

Every process is started through ``Processes``, which kills and reaps whatever is still
running when the test ends. Waiting is done on files and store records, polled with a
deadline; a time bound is only ever a generous upper limit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from plait.store import Store

POLL = 0.01  # seconds between two looks at a file or the store
DEADLINE = 30.0  # the longest any wait may take before the test fails


def store_for(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The ``--store`` URL of a backend: a SQLite file in tmp_path, or a database on the
    real PostgreSQL made for this test session (the ``postgres_url`` fixture of this
    folder's conftest; it skips, saying why, when no server can be reached)."""
    if backend == "sqlite":
        return str(tmp_path / "plait.db")
    assert backend == "postgres", backend
    return str(request.getfixturevalue("postgres_url"))


def child_env() -> dict[str, str]:
    """The environment of every ``plait`` process: ours, without ``PLAIT_STORE`` (each
    command names its store with ``--store``); its streams are pipes, so no progress
    display is drawn."""
    env = {k: v for k, v in os.environ.items() if k != "PLAIT_STORE"}
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def plait_argv(*args: object) -> list[str]:
    return [sys.executable, "-m", "plait", *map(str, args)]


class Processes:
    """Starts ``plait`` processes in one folder and reaps every one of them at the end."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self._started: list[subprocess.Popen[str]] = []

    def start(self, *args: object, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        """Start ``plait ARGS`` (``env``: variables to add to ``child_env()``)."""
        proc = subprocess.Popen(
            plait_argv(*args),
            cwd=self.cwd,
            env={**child_env(), **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._started.append(proc)
        return proc

    def run(self, *args: object, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run a command to its end (``subprocess.run`` kills it on timeout)."""
        return subprocess.run(
            plait_argv(*args),
            cwd=self.cwd,
            env=child_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def close(self) -> None:
        for proc in self._started:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()  # reaps it and closes its pipes


def kill_9(proc: subprocess.Popen[str]) -> None:
    """SIGKILL, as a crash would, then reap the process (a dead holder is then gone)."""
    if proc.poll() is not None:
        _, err = proc.communicate()
        pytest.fail(f"the process ended (exit {proc.returncode}) before the crash\n{err}")
    proc.kill()
    proc.communicate()


def wait_until(
    what: str,
    check: Callable[[], Any],
    *,
    alive: subprocess.Popen[str] | None = None,
    timeout: float = DEADLINE,
    interval: float = POLL,
) -> Any:
    """Poll ``check`` until it gives something true, and return that. Fail naming
    ``what`` at the deadline, or as soon as ``alive`` (a process the wait depends on)
    has ended."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if alive is not None and alive.poll() is not None:
            out, err = alive.communicate()
            pytest.fail(
                f"waiting for {what}: the process ended (exit {alive.returncode})\n"
                f"stdout: {out}\nstderr: {err}"
            )
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout:.0f} s for {what}")
        time.sleep(interval)


def log_lines(path: Path) -> list[str]:
    """The step ids a helper appended to its log file, in order."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [line for line in text.split("\n")[:-1] if line]  # a partial last line is not yet one


def new_run_id(store: Store, known: set[str], proc: subprocess.Popen[str]) -> str:
    """The id of the one run that appeared in the store since ``known`` was taken."""

    def appeared() -> list[str]:
        return [r.id for r in store.list_runs(limit=10_000) if r.id not in known]

    ids = wait_until("the run to be recorded", appeared, alive=proc)
    assert len(ids) == 1, ids
    return str(ids[0])


def run_ids(store: Store) -> set[str]:
    return {r.id for r in store.list_runs(limit=10_000)}


def step_status(store: Store, run_id: str, node_id: str) -> str | None:
    """The status of the latest recorded attempt of a step, or None if none is."""
    rows = [s for s in store.get_steps(run_id) if s.node_id == node_id]
    return max(rows, key=lambda s: s.attempt).status if rows else None


def document(proc: subprocess.CompletedProcess[str] | tuple[str, str]) -> Any:
    """The run document a ``--json`` command printed on stdout."""
    out = proc[0] if isinstance(proc, tuple) else proc.stdout
    return json.loads(out)


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return path


def python_step(step_id: str, function: str, args: dict[str, Any], **keys: Any) -> dict[str, Any]:
    """A task step of the built-in ``python`` tool."""
    return {
        "id": step_id,
        "tool": "python",
        "input": {"function": function, "args": args},
        **keys,
    }
