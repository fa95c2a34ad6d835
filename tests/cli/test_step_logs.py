"""Step logs (issue 13): what a step's code logs is kept with its attempt, masked, cut at
1 MiB, stored, and shown by ``plait runs logs``, ``plait runs show`` and the result."""

from __future__ import annotations

import asyncio
import logging
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from tests.cli.conftest import Invoke

import plait
from helpers.postgres import new_database
from plait.engine import steplogs
from plait.store import open_store
from plait.store.migrations import LATEST
from plait.store.records import RunRecord
from plait.store.schema import schema_version

MODULE = """
import asyncio
import logging
import threading

log = logging.getLogger("user.steps")


def three_then_fail(value):
    log.info("fetching %s", value)
    log.info("got 3 rows")
    log.warning("row 2 looks odd")
    raise ValueError("row 2 is broken")


async def async_step(value):
    log.info("async step %s", value)
    return value


def silent(value):
    return value


BARRIER = threading.Barrier(2, timeout=10)


def in_thread(name):
    log.info("%s one", name)
    BARRIER.wait()  # both steps are logging at once
    log.info("%s two", name)
    return name


EVENTS = {}


async def interleaved(name):
    other = "left" if name == "right" else "right"
    mine = EVENTS.setdefault(name, asyncio.Event())
    theirs = EVENTS.setdefault(other, asyncio.Event())
    log.info("%s one", name)
    mine.set()
    await asyncio.wait_for(theirs.wait(), 10)
    await asyncio.sleep(0)
    log.info("%s two", name)
    return name


def leak(token):
    log.info("using token %s", token)
    return "ok"


def flood(size):
    line = "x" * 1023
    for _ in range(size // 1024):
        log.info(line)
    return "flooded"


CALLS = {"n": 0}


def flaky(value):
    CALLS["n"] += 1
    log.info("attempt %d starting", CALLS["n"])
    if CALLS["n"] < 3:
        raise ConnectionError(f"attempt {CALLS['n']} lost the connection")
    return "third time"
"""


@pytest.fixture(autouse=True)
def info_level(caplog: pytest.LogCaptureFixture) -> None:
    """pytest configures logging (the root at WARNING): an application that did keeps
    its levels, so these tests let INFO through as such an application would."""
    caplog.set_level(logging.INFO)


@pytest.fixture
def module(tmp_path: Path) -> str:
    name = f"steps_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(MODULE)
    return name


def _workflow(tmp_path: Path, body: str) -> Path:
    path = tmp_path / f"wf_{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(textwrap.dedent(body))
    return path


def _run(path: Path, **kwargs: Any) -> plait.RunResult:
    wf = plait.Workflow.from_file(path)
    return asyncio.run(wf.run(**kwargs))


def _failing(tmp_path: Path, module: str) -> Path:
    return _workflow(
        tmp_path,
        f"""\
        name: logs
        steps:
          - id: fetch
            tool: python
            input: {{function: "{module}:three_then_fail", args: [orders]}}
        """,
    )


# -- the CLI ---------------------------------------------------------------------------


def test_runs_show_prints_the_failed_steps_logs_and_its_traceback(
    tmp_path: Path, module: str, plait_cli: Invoke
) -> None:
    store = f"sqlite:///{tmp_path / 'runs.db'}"
    ran = plait_cli("run", _failing(tmp_path, module), "--store", store, "--json")
    assert ran.exit_code == 1
    run_id = ran.json()["run_id"]
    assert (
        ran.json()["steps"]["fetch"]["logs"]
        .splitlines()[0]
        .endswith("INFO user.steps: fetching orders")
    )

    shown = plait_cli("runs", "show", run_id, "--store", store)
    assert shown.exit_code == 0, shown.stderr
    lines = shown.stdout.splitlines()
    at = lines.index("logs of step 'fetch':")
    assert lines[at + 1].endswith("INFO user.steps: fetching orders")
    assert lines[at + 2].endswith("INFO user.steps: got 3 rows")
    assert lines[at + 3].endswith("WARNING user.steps: row 2 looks odd")
    assert lines[at + 4] == "traceback of step 'fetch', innermost frames:"
    assert "ValueError: row 2 is broken" in shown.stdout

    logs = plait_cli("runs", "logs", run_id, "--store", store)
    assert logs.exit_code == 0, logs.stderr
    assert logs.stdout.splitlines()[0] == "── fetch  attempt 1  failed"
    assert [line.split(" ", 2)[2] for line in logs.stdout.splitlines()[1:]] == [
        "INFO user.steps: fetching orders",
        "INFO user.steps: got 3 rows",
        "WARNING user.steps: row 2 looks odd",
    ]
    as_json = plait_cli("runs", "logs", run_id, "fetch", "--store", store, "--json").json()
    assert [(e["step"], e["attempt"], e["status"]) for e in as_json] == [("fetch", 1, "failed")]
    assert as_json[0]["logs"].count("\n") == 2


def test_runs_logs_of_an_unknown_step_is_one_line_and_exit_2(
    tmp_path: Path, module: str, plait_cli: Invoke
) -> None:
    store = f"sqlite:///{tmp_path / 'runs.db'}"
    run_id = plait_cli("run", _failing(tmp_path, module), "--store", store, "--json").json()[
        "run_id"
    ]
    wrong = plait_cli("runs", "logs", run_id, "fetc", "--store", store)
    assert wrong.exit_code == 2
    assert wrong.problems() == [f"run {run_id} has no step 'fetc'; did you mean 'fetch'?"]


def test_a_shell_steps_output_is_shown_not_copied(tmp_path: Path, plait_cli: Invoke) -> None:
    path = _workflow(
        tmp_path,
        """\
        name: sh
        steps:
          - id: say
            tool: shell
            input: {command: [sh, -c, "echo hello; echo oops >&2"]}
        """,
    )
    store = f"sqlite:///{tmp_path / 'runs.db'}"
    run_id = plait_cli("run", path, "--store", store, "--json").json()["run_id"]
    entry = plait_cli("runs", "logs", run_id, "--store", store, "--json").json()[0]
    assert (entry["logs"], entry["stdout"], entry["stderr"]) == (None, "hello\n", "oops\n")
    assert open_store(store).get_steps(run_id)[0].logs is None  # kept once: in the output


# -- the stores ------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A SQLite file, or a database of its own on the real PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'logs.db'}"
        return
    yield from new_database("plait_logs")


def test_the_store_keeps_each_attempts_logs(tmp_path: Path, module: str, store_url: str) -> None:
    path = _workflow(
        tmp_path,
        f"""\
        name: retried
        steps:
          - id: flaky
            tool: python
            input: {{function: "{module}:flaky", args: [1]}}
            retry: {{maxAttempts: 3, backoff: {{initial: 1ms}}, retryOn: [ConnectionError]}}
          - id: quiet
            tool: python
            input: {{function: "{module}:silent", args: [1]}}
        """,
    )
    result = _run(path, store=store_url)
    assert result.steps["flaky"].status.value == "succeeded"
    assert result.steps["flaky"].logs is not None
    assert result.steps["flaky"].logs.endswith("INFO user.steps: attempt 3 starting")
    assert result.steps["quiet"].logs is None
    assert "logs" not in result.steps["quiet"].to_dict()

    store = open_store(store_url)
    try:
        rows = {(s.node_id, s.attempt): s for s in store.get_steps(result.run_id)}
    finally:
        store.close()
    for attempt in (1, 2, 3):
        logs = rows["flaky", attempt].logs
        assert logs is not None
        assert logs.endswith(f"attempt {attempt} starting"), logs
        assert logs.count("\n") == 0  # only its own attempt's line
    assert rows["flaky", 1].status == "failed"
    assert rows["quiet", 1].logs is None  # a step that logs nothing records nothing
    rebuilt = plait.get_run(result.run_id, store=store_url)
    assert rebuilt.steps["flaky"].logs == result.steps["flaky"].logs


def test_a_version_4_store_gets_the_logs_column(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    store = open_store(url)
    store.write([RunRecord("old-run", "wf", "succeeded")])
    with store.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(text("ALTER TABLE step_executions DROP COLUMN logs"))
        conn.execute(schema_version.update().values(version=LATEST - 1))
    store.close()
    reopened = open_store(url)
    try:
        assert reopened.get_run("old-run").status == "succeeded"
        assert reopened.get_steps("old-run") == []
        with reopened.engine.begin() as conn:  # type: ignore[attr-defined]
            columns = [row[1] for row in conn.execute(text("PRAGMA table_info(step_executions)"))]
            assert "logs" in columns
            assert conn.execute(text("SELECT version FROM plait_schema")).scalar() == LATEST
    finally:
        reopened.close()


# -- capture ---------------------------------------------------------------------------


def test_sync_steps_in_threads_and_async_steps_are_captured_apart(
    tmp_path: Path, module: str
) -> None:
    path = _workflow(
        tmp_path,
        f"""\
        name: apart
        steps:
          - id: t1
            tool: python
            input: {{function: "{module}:in_thread", args: [t1]}}
          - id: t2
            tool: python
            input: {{function: "{module}:in_thread", args: [t2]}}
          - id: left
            tool: python
            input: {{function: "{module}:interleaved", args: [left]}}
          - id: right
            tool: python
            input: {{function: "{module}:interleaved", args: [right]}}
          - id: solo
            tool: python
            input: {{function: "{module}:async_step", args: [7]}}
        """,
    )
    result = _run(path)
    assert result.status.value == "succeeded"

    def messages(step: str) -> list[str]:
        logs = result.steps[step].logs
        assert logs is not None
        return [line.split(": ", 1)[1] for line in logs.splitlines()]

    assert messages("t1") == ["t1 one", "t1 two"]
    assert messages("t2") == ["t2 one", "t2 two"]
    assert messages("left") == ["left one", "left two"]
    assert messages("right") == ["right one", "right two"]
    assert messages("solo") == ["async step 7"]


def test_a_secret_logged_is_masked(
    tmp_path: Path, module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_TOKEN", "s3cr3t-t0ken-value")
    path = _workflow(
        tmp_path,
        f"""\
        name: secret
        steps:
          - id: call
            tool: python
            input: {{function: "{module}:leak", args: ["${{env.API_TOKEN}}"]}}
        """,
    )
    store = f"sqlite:///{tmp_path / 's.db'}"
    result = _run(path, store=store, allow_env=["API_TOKEN"])
    logs = result.steps["call"].logs
    assert logs is not None
    assert logs.endswith("using token ***")
    stored = open_store(store).get_steps(result.run_id)[0].logs
    assert stored is not None
    assert "s3cr3t" not in stored
    assert stored.endswith("using token ***")


def test_a_flood_is_cut_at_1_mib_with_a_note(tmp_path: Path, module: str) -> None:
    path = _workflow(
        tmp_path,
        f"""\
        name: flood
        steps:
          - id: loud
            tool: python
            input: {{function: "{module}:flood", args: [{3 * 1024 * 1024}]}}
        """,
    )
    logs = _run(path).steps["loud"].logs
    assert logs is not None
    kept, note = logs.rsplit("\n", 1)
    assert len(kept) == steplogs.LIMIT
    assert note.startswith("[plait: logs cut at 1,048,576 characters; ")
    cut = int(note.split("; ")[1].split(" ")[0].replace(",", ""))
    line = len(logs.splitlines()[0]) + 1  # the formatted line and its newline
    assert cut == 3 * 1024 * line - 1 - steplogs.LIMIT  # every character is accounted for
    doc = _run(path).steps["loud"].to_dict()["logs"]
    assert doc["size"] == len(logs)
    assert doc["see"] == "plait runs logs RUN loud"


def test_records_outside_a_step_are_not_kept() -> None:
    steplogs.install()

    class State:
        logs: Any = None

    st = State()
    logging.getLogger("user.outside").warning("not in a step")
    assert st.logs is None
    token = steplogs.CURRENT.set(st)
    try:
        logging.getLogger("user.inside").info("in a step")
        logging.getLogger("user.inside").debug("below the level")
    finally:
        steplogs.CURRENT.reset(token)
    logging.getLogger("user.outside").warning("after it")
    assert steplogs.take(st) is not None
    assert st.logs is None
