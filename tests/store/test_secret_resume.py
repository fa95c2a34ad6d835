"""A resumed run gives its steps the real secrets, never the ``***`` the store holds.

A step whose output holds a secret is recorded masked. After a crash (``kill -9`` of a
``plait run`` process) and on every pause → resume, the steps that consume that output
get the real value back, from the environment the resume reads: a ``check`` step
compares what it receives with the variable and fails otherwise. Meanwhile the secret
(in any form plait writes it) appears nowhere in the store, the documents or the
terminal. Outputs inside a map and a group are restored the same way, whether their
container ended before the interruption or not.
"""

from __future__ import annotations

import json
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_support import (
    Processes,
    document,
    kill_9,
    log_lines,
    new_run_id,
    run_ids,
    step_status,
    store_for,
    wait_until,
    write_json,
)
from typer.testing import CliRunner

from helpers.leaks import assert_hidden, sqlite_bytes, stored_rows
from plait.cli.app import app
from plait.store import open_store

# Quotes, a backslash, non-ASCII, and the characters URL-encoding changes.
TOKEN = 'Zq7"tok\\en+/=é-' + uuid.uuid4().hex[:10]

HELPER = '''
"""Steps that put the secret into their outputs, in several forms, and a step that
checks it got the real thing back."""

import base64
import json
import os
import time
import urllib.parse


def shapes(token):
    return {
        "header": "Bearer " + token,
        "query": "key=" + urllib.parse.quote_plus(token),
        "basic": base64.b64encode(("user:" + token).encode()).decode(),
        "doc": json.dumps({"token": token}),
        "list": [token, {token: token}],
    }


def _note(log, name):
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(name + "\\n")
            f.flush()
            os.fsync(f.fileno())


def _wait(gate):
    deadline = time.monotonic() + 60  # an upper bound: the test opens the gate
    while not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.005)


def give(token, log=None):
    _note(log, "give")
    return shapes(token)


def item(token, name, log=None, gate=None, hold=None):
    _note(log, "item" + str(name))
    if gate and str(name) == str(hold):
        _wait(gate)
    return token + "#" + str(name)


def check(give, items, group):
    token = os.environ["API_TOKEN"]
    if give != shapes(token):
        raise ValueError("give's output is not what give returned")
    if items != [token + "#1", token + "#2", token + "#3"]:
        raise ValueError("the map's outputs are not what its branches returned")
    if group != {"ga": token + "#a", "gb": token + "#b"}:
        raise ValueError("the group's output is not what its members returned")
    return "real"
'''


def _task(step_id: str, function: str, args: dict[str, Any], **keys: Any) -> dict[str, Any]:
    return {
        "id": step_id,
        "tool": "python",
        "input": {"function": f"secret_steps:{function}", "args": args},
        **keys,
    }


def _steps(log: str | None = None, gate: str | None = None) -> list[dict[str, Any]]:
    """give; a map of three branches; a group of two (with ``gate``, branch 3 and
    member gb wait for it); check, after them all."""
    token = "${env.API_TOKEN}"
    held = {"log": log, "gate": gate}
    branch = {"token": token, "name": "${parallel.item}", **held, "hold": 3}
    return [
        _task("give", "give", {"token": token, "log": log}),
        {
            "id": "m",
            "parallel": {
                "items": [1, 2, 3],
                "steps": [_task("b", "item", branch)],
            },
        },
        {"id": "grp", "parallelGroup": {"steps": ["ga", "gb"]}},
        _task("ga", "item", {"token": token, "name": "a", "log": log}),
        _task("gb", "item", {"token": token, "name": "b", **held, "hold": "b"}),
    ]


def _check(step_id: str, **keys: Any) -> dict[str, Any]:
    args = {"give": "${give.output}", "items": "${m.output}", "group": "${grp.output}"}
    return _task(step_id, "check", args, **keys)


def _workflow(folder: Path, name: str, steps: list[dict[str, Any]], env: Any) -> Path:
    (folder / "secret_steps.py").write_text(textwrap.dedent(HELPER), encoding="utf-8")
    return write_json(folder / f"{name}.json", {"name": name, "env": env, "steps": steps})


def _assert_nowhere(url: str, run_id: str, *outputs: str) -> None:
    assert_hidden("the store's rows", stored_rows(url, run_id), TOKEN)
    if "://" not in url:  # a SQLite file: every byte of it, journals included
        assert_hidden("the SQLite file", sqlite_bytes(Path(url)), TOKEN)
    for i, output in enumerate(outputs):
        assert_hidden(f"output {i}", output, TOKEN)


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return store_for(request.param, request, tmp_path)


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    started = Processes(tmp_path)
    try:
        yield started
    finally:
        started.close()


def test_after_kill_9_the_resumed_run_gets_the_real_secret_back(
    url: str, tmp_path: Path, procs: Processes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_TOKEN", TOKEN)  # the plait processes inherit it
    log, gate = tmp_path / "steps.log", tmp_path / "gate"
    steps = [*_steps(str(log), str(gate)), _check("check", dependsOn=["give", "m", "grp"])]
    path = _workflow(tmp_path, "crash-secret", steps, ["API_TOKEN"])
    store = open_store(url)
    try:
        known = run_ids(store)
        running = procs.start("run", path, "--store", url, "--json")
        run_id = new_run_id(store, known, running)

        def at_the_gate() -> bool:
            started = set(log_lines(log))
            done = ("give", "b<0>", "b<1>", "ga")
            return {"item3", "itemb"} <= started and all(
                step_status(store, run_id, node) == "succeeded" for node in done
            )

        # give, two branches of the map and one member of the group succeeded (their
        # outputs are on disk, masked); branch 3 and member gb are running.
        wait_until("the steps before the gate to succeed", at_the_gate, alive=running)
        kill_9(running)
        assert store.get_run(run_id).status == "running"
        _assert_nowhere(url, run_id)
        gate.touch()

        resumed = procs.run("resume", run_id, "--store", url, "--json")
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        doc = document(resumed)
        assert doc["status"] == "succeeded"
        assert doc["steps"]["check"]["output"] == "real"  # it compared with the variable
        assert doc["steps"]["give"]["output"]["header"] == "Bearer ***"  # still masked
        # What succeeded before the crash did not run again; what was running did.
        ran = sorted(log_lines(log))
        assert ran == sorted(["give", "item1", "item2", "itema", *["item3", "itemb"] * 2])
        shown = procs.run("runs", "show", run_id, "--store", url)
        shown_json = procs.run("runs", "show", run_id, "--store", url, "--json")
        assert shown.returncode == shown_json.returncode == 0
        _assert_nowhere(
            url,
            run_id,
            resumed.stdout,
            resumed.stderr,
            shown.stdout,
            shown.stderr,
            shown_json.stdout,
        )
    finally:
        store.close()


def _cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_every_pause_and_resume_gives_the_real_secret(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_TOKEN", TOKEN)
    monkeypatch.chdir(tmp_path)
    steps = [
        *_steps(),
        {"id": "first", "wait": "go1", "dependsOn": ["give", "m", "grp"]},
        _check("check1", dependsOn=["first"]),
        {"id": "second", "wait": "go2", "dependsOn": ["check1"]},
        _check("check2", dependsOn=["second"]),
    ]
    path = _workflow(tmp_path, "pause-secret", steps, ["API_TOKEN"])
    ran = _cli("run", str(path), "--store", url, "--json")
    assert ran.exit_code == 0, ran.output
    run_id = json.loads(ran.stdout)["run_id"]
    assert json.loads(ran.stdout)["status"] == "paused"
    # The map and the group ended before the pause: restored whole, twice.
    once = _cli("resume", run_id, "--input", "go1=yes", "--store", url, "--json")
    assert once.exit_code == 0, once.output
    assert json.loads(once.stdout)["status"] == "paused"
    assert json.loads(once.stdout)["steps"]["check1"]["output"] == "real"
    twice = _cli("resume", run_id, "--input", "go2=yes", "--store", url, "--json")
    assert twice.exit_code == 0, twice.output
    doc = json.loads(twice.stdout)
    assert doc["status"] == "succeeded"
    assert doc["steps"]["check2"]["output"] == "real"
    shown = _cli("runs", "show", run_id, "--store", url)
    shown_json = _cli("runs", "show", run_id, "--store", url, "--json")
    _assert_nowhere(
        url, run_id, ran.output, once.output, twice.output, shown.output, shown_json.output
    )


def test_a_resume_that_cannot_read_the_secret_stops_and_says_which(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_TOKEN", TOKEN)
    monkeypatch.chdir(tmp_path)
    steps = [
        *_steps(),
        {"id": "gate", "wait": "go", "dependsOn": ["give", "m", "grp"]},
        _check("check", dependsOn=["gate"]),
    ]
    env = {"API_TOKEN": {"required": False}}
    path = _workflow(tmp_path, "unset-secret", steps, env)
    db = str(tmp_path / "runs.db")
    ran = _cli("run", str(path), "--store", db, "--json")
    run_id = json.loads(ran.stdout)["run_id"]
    monkeypatch.delenv("API_TOKEN")
    refused = _cli("resume", run_id, "--input", "go=yes", "--store", db)
    assert refused.exit_code == 2
    message = refused.output.strip()
    assert len(message.splitlines()) == 1, message
    # The step (give, a branch of m, or ga: whichever row comes first) and the key.
    assert "key 'env.API_TOKEN'" in message
    assert "held ${env.API_TOKEN} when it succeeded" in message
    assert "set it (and give the same --allow-env)" in message
    # Nothing was resumed: with the variable set, the same signal is taken.
    monkeypatch.setenv("API_TOKEN", TOKEN)
    resumed = _cli("resume", run_id, "--input", "go=yes", "--store", db, "--json")
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.stdout)["steps"]["check"]["output"] == "real"
