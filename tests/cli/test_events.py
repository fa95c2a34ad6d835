"""``plait runs events`` and ``--events FILE``: a run's event log, live and afterwards."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from plait.cli.events import event_line
from plait.store import open_store
from plait.store.records import EventRecord, RunRecord

from .conftest import Invoke, Write

PLAIT = [sys.executable, "-m", "plait"]


def _strict(text: str) -> Any:
    """JSON as RFC 8259 has it: a bare NaN or Infinity is an error."""

    def refuse(name: str) -> Any:
        raise ValueError(f"not JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def _table_rows(db: Path, run_id: str) -> list[dict[str, Any]]:
    """The events table itself, read with sqlite3 (not through plait)."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT seq, time, kind, node_id, payload FROM events WHERE run_id = ? ORDER BY seq",
            (run_id,),
        ).fetchall()
    return [
        {
            "seq": seq,
            "at": at,
            "kind": kind,
            "node_id": node,
            "payload": None if payload is None else json.loads(payload),
        }
        for seq, at, kind, node, payload in rows
    ]


def _gated_workflow(write: Write, gates: Path) -> Path:
    """Three steps one after the other, each waiting until the test creates its file."""
    steps = "\n".join(
        f"  - {{id: {name}, tool: shell, {'dependsOn: [' + after + '], ' if after else ''}"
        f"input: {{command: [sh, -c, 'while [ ! -e {gates / name} ]; do sleep 0.01; done']}}}}"
        for name, after in (("a", ""), ("b", "a"), ("c", "b"))
    )
    return write("gated.yaml", f"name: gated\nsteps:\n{steps}\n")


@pytest.fixture
def watchdog() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes to kill if the test has not ended in 90 s (a bug must not hang CI)."""
    procs: list[subprocess.Popen[str]] = []

    def kill_all() -> None:
        for proc in procs:
            proc.kill()

    timer = threading.Timer(90, kill_all)
    timer.start()
    yield procs
    timer.cancel()
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _wait_for_run(db: Path, runner: subprocess.Popen[str]) -> str:
    """The run's id, once the other process has recorded it."""
    store = open_store(str(db)) if db.exists() else None
    while True:
        if store is None and db.exists():
            store = open_store(str(db))
        if store is not None and (found := store.list_runs(limit=1)):
            store.close()
            return found[0].id
        assert runner.poll() is None, runner.communicate()
        time.sleep(0.01)


def test_follow_prints_each_start_and_end_of_a_live_run_in_order(
    write: Write, tmp_path: Path, watchdog: list[subprocess.Popen[str]]
) -> None:
    gates = tmp_path / "gates"
    gates.mkdir()
    wf = _gated_workflow(write, gates)
    db = tmp_path / "runs.db"
    events_file = tmp_path / "events.jsonl"
    runner = subprocess.Popen(
        [*PLAIT, "run", wf, "--store", db, "--events", events_file, "--json"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog.append(runner)
    run_id = _wait_for_run(db, runner)
    follower = subprocess.Popen(
        [*PLAIT, "runs", "events", run_id[:8], "--follow", "--jsonl", "--store", db],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog.append(follower)
    assert follower.stdout is not None
    seen: list[dict[str, Any]] = []
    for line in follower.stdout:  # the test moves the run on as the follower reports it
        event = _strict(line)
        seen.append(event)
        if event["kind"] == "step_running":
            (gates / event["node_id"]).touch()
    assert follower.wait() == 0, follower.stderr.read() if follower.stderr else ""
    out, errors = runner.communicate()
    assert runner.returncode == 0, errors
    assert json.loads(out)["status"] == "succeeded"

    assert [(e["kind"], e["node_id"]) for e in seen] == [
        ("run_started", None),
        ("step_running", "a"),
        ("step_ended", "a"),
        ("step_running", "b"),
        ("step_ended", "b"),
        ("step_running", "c"),
        ("step_ended", "c"),
        ("run_finished", None),
    ]
    assert [e["seq"] for e in seen] == list(range(1, len(seen) + 1))
    assert seen[-1]["payload"] == {"status": "succeeded"}
    assert seen[2]["payload"] == {"status": "succeeded", "attempt": 1}
    # Row for row the events table; the same as --jsonl afterwards and as --events FILE.
    assert seen == _table_rows(db, run_id)
    after = subprocess.run(
        [*PLAIT, "runs", "events", run_id, "--jsonl", "--store", db],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert [_strict(line) for line in after.stdout.splitlines()] == seen
    assert events_file.read_text(encoding="utf-8") == after.stdout


def test_ctrl_c_ends_a_follow_quietly(
    tmp_path: Path, watchdog: list[subprocess.Popen[str]]
) -> None:
    db = tmp_path / "runs.db"
    store = open_store(str(db))
    # A run recorded running whose lease holds for an hour: the follow waits for more.
    store.write([RunRecord("live", "wf", "running", lease_owner="x", lease_expires_at=2e10)])
    store.write([EventRecord("live", 1, "t1", "run_started")])
    store.close()
    follower = subprocess.Popen(
        [*PLAIT, "runs", "events", "live", "--follow", "--store", db],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog.append(follower)
    assert follower.stdout is not None
    assert follower.stdout.readline().split() == ["seq", "at", "kind", "node", "payload"]
    assert follower.stdout.readline().split() == ["1", "t1", "run_started", "-"]
    follower.send_signal(signal.SIGINT)
    out, errors = follower.communicate()
    assert follower.returncode == 130
    assert (out, errors) == ("", "")


def test_events_file_equals_runs_events_jsonl(
    plait_cli: Invoke, write: Write, tmp_path: Path
) -> None:
    wf = write(
        "wf.yaml",
        """
        name: fan
        steps:
          - id: g
            parallelGroup: {steps: [x, y], waitStrategy: any}
          - {id: x, tool: echo, input: 1}
          - {id: y, tool: sleep, input: {duration: 5s}}
          - id: bad
            tool: fail
            continueOnError: true
            retry: {maxAttempts: 2, backoff: {initial: 1ms}}
        """,
    )
    db = tmp_path / "runs.db"
    events_file = tmp_path / "events.jsonl"
    ran = plait_cli("run", wf, "--store", db, "--events", events_file, "--json")
    assert ran.exit_code == 0, ran.stderr
    run_id = ran.json()["run_id"]
    listed = plait_cli("runs", "events", run_id, "--jsonl", "--store", db)
    assert listed.exit_code == 0
    assert events_file.read_text(encoding="utf-8") == listed.stdout
    events = [_strict(line) for line in listed.stdout.splitlines()]
    assert events == _table_rows(db, run_id)
    by_kind = {(e["kind"], e["node_id"]): e["payload"] for e in events}
    # The group's decision is in its step_ended: how it ended, and which member won.
    assert by_kind[("step_ended", "g")] == {"status": "succeeded", "attempt": 1, "winner": "x"}
    assert by_kind[("step_retrying", "bad")]["attempt"] == 1
    # The readable table: a header, then one line per event.
    table = plait_cli("runs", "events", run_id[:6], "--store", db)
    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    assert len(lines) == len(events) + 1
    assert lines[1].split()[:3] == ["1", events[0]["at"], "run_started"]


def test_events_file_without_a_store_that_keeps_anything(
    plait_cli: Invoke, write: Write, tmp_path: Path
) -> None:
    wf = write("wf.yaml", "name: m\nsteps:\n  - {id: a, tool: echo, input: 1}\n")
    events_file = tmp_path / "events.jsonl"
    events_file.write_text('{"earlier": "line"}\n', encoding="utf-8")  # appended to
    ran = plait_cli("run", wf, "--store", "memory://", "--events", events_file)
    assert ran.exit_code == 0, ran.stderr
    lines = [_strict(line) for line in events_file.read_text(encoding="utf-8").splitlines()]
    assert lines[0] == {"earlier": "line"}
    assert [(e["seq"], e["kind"], e["node_id"]) for e in lines[1:]] == [
        (1, "run_started", None),
        (2, "step_ended", "a"),
        (3, "run_finished", None),
    ]


def test_a_paused_run_is_followed_to_its_end(
    plait_cli: Invoke, write: Write, tmp_path: Path
) -> None:
    wf = write("wf.yaml", "name: p\nsteps:\n  - {id: gate, wait: {signal: go}}\n")
    db = tmp_path / "runs.db"
    ran = plait_cli("run", wf, "--store", db, "--json")
    assert ran.exit_code == 0, ran.stderr
    run_id = ran.json()["run_id"]
    followed = plait_cli("runs", "events", run_id, "--follow", "--jsonl", "--store", db)
    assert followed.exit_code == 0
    kinds = [_strict(line)["kind"] for line in followed.stdout.splitlines()]
    assert kinds == ["run_started", "step_waiting", "run_paused", "run_finished"]
    resumed_file = tmp_path / "resumed.jsonl"
    resumed = plait_cli(
        "resume", run_id, "--input", "go=1", "--store", db, "--events", resumed_file
    )
    assert resumed.exit_code == 0, resumed.stderr
    resumed_lines = [_strict(line) for line in resumed_file.read_text().splitlines()]
    assert resumed_lines[0]["kind"] == "run_resumed"
    assert resumed_lines[0]["seq"] == 5  # the run's sequence goes on
    assert resumed_lines == _table_rows(db, run_id)[4:]


def test_a_run_not_found_is_one_line_and_exit_2(plait_cli: Invoke, tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    for args in ((), ("--follow",), ("--jsonl",)):
        got = plait_cli("runs", "events", "nope", *args, "--store", db)
        assert got.exit_code == 2
        assert got.stdout == ""
        assert got.problems() == [f"no run 'nope' in {db}"]


def test_a_dead_runs_follow_ends_saying_so(plait_cli: Invoke, tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    store = open_store(str(db))
    store.write([RunRecord("dead", "wf", "running", lease_owner="x", lease_expires_at=1.0)])
    store.write([EventRecord("dead", 1, "t1", "run_started")])
    store.close()
    got = plait_cli("runs", "events", "dead", "--follow", "--jsonl", "--store", db)
    assert got.exit_code == 1
    assert [_strict(line)["kind"] for line in got.stdout.splitlines()] == ["run_started"]
    assert got.problems() == [
        "run dead is recorded running, but its process stopped (its lease expired); "
        "plait resume dead goes on with it"
    ]


def test_payloads_are_json_without_nan_and_damaged_ones_are_kept_as_text(
    plait_cli: Invoke, tmp_path: Path
) -> None:
    db = tmp_path / "runs.db"
    store = open_store(str(db))
    store.write([RunRecord("r", "wf", "succeeded")])
    store.write(
        [
            EventRecord("r", 1, "t1", "custom", "a", '{"x": NaN, "y": [Infinity, 1.5]}'),
            EventRecord("r", 2, "t2", "custom", None, "not json {"),
        ]
    )
    store.close()
    got = plait_cli("runs", "events", "r", "--jsonl", "--store", db)
    assert got.exit_code == 0
    assert [_strict(line)["payload"] for line in got.stdout.splitlines()] == [
        {"x": None, "y": [None, 1.5]},
        "not json {",
    ]
    assert _strict(event_line(EventRecord("r", 3, "t3", "k"))) == {
        "seq": 3,
        "at": "t3",
        "kind": "k",
        "node_id": None,
        "payload": None,
    }


def test_events_file_that_cannot_be_written_is_one_line_and_nothing_runs(
    plait_cli: Invoke, write: Write, tmp_path: Path
) -> None:
    wf = write("wf.yaml", "name: m\nsteps:\n  - {id: a, tool: echo, input: 1}\n")
    for target, words in (
        (tmp_path, "this is a folder"),
        (tmp_path / "missing" / "e.jsonl", "cannot open it"),
    ):
        got = plait_cli("run", wf, "--store", tmp_path / "runs.db", "--events", target)
        assert got.exit_code == 2
        [problem] = got.problems()
        assert problem.startswith(f"--events {target}: {words}")
    assert (
        not (tmp_path / "runs.db").exists() or not open_store(str(tmp_path / "runs.db")).list_runs()
    )
