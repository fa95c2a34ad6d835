"""The ``sql`` tool on SQLite files and on the real PostgreSQL server."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import plait
from plait.status import StepStatus
from plait.tools.builtin.sql import Database
from plait.tools.context import StepContext

INJECTION = "'; DROP TABLE users; --"


def _wf(*steps: dict[str, Any], file: Path | None = None) -> plait.Workflow:
    data = {"name": "sql", "steps": list(steps)}
    return plait.Workflow.from_dict(data, file=str(file) if file else None)


def _sql(
    id: str, url: str, query: str | list[str], params: Any = None, **keys: Any
) -> dict[str, Any]:
    step: dict[str, Any] = {"id": id, "tool": "sql", "input": {"url": url, "query": query}}
    if params is not None:
        step["input"]["params"] = params
    return {**step, **keys}


def _error(result: plait.RunResult, step: str) -> dict[str, Any]:
    error = result.steps[step].error
    assert error is not None, f"step {step} did not fail: {result.steps[step]}"
    return error


def _chain(*steps: dict[str, Any]) -> list[dict[str, Any]]:
    """Each step after the first depends on the one before."""
    return [s if i == 0 else {**s, "dependsOn": [steps[i - 1]["id"]]} for i, s in enumerate(steps)]


# -- SQLite ------------------------------------------------------------------------------


async def test_sqlite_rows_rowcounts_and_the_three_kinds_of_params(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    result = await _wf(
        *_chain(
            _sql("create", url, "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, n INT)"),
            _sql(
                "one", url, "INSERT INTO items (name, n) VALUES (:name, :n)", {"name": "a", "n": 1}
            ),
            _sql(
                "many",
                url,
                "INSERT INTO items (name, n) VALUES (:name, :n)",
                [{"name": "b", "n": 2}, {"name": "c", "n": 3}],
            ),
            _sql("select", url, "SELECT name, n FROM items WHERE n >= :1 AND name <> :2", [2, "c"]),
            _sql("none", url, "SELECT name FROM items WHERE n > :n", {"n": 99}),
        )
    ).run()
    assert result.status == "succeeded", result.error
    assert result.steps["create"].output == {"rowcount": -1}
    assert result.steps["one"].output == {"rowcount": 1}
    assert result.steps["many"].output == {"rowcount": 2}
    assert result.steps["select"].output == [{"name": "b", "n": 2}]
    assert result.steps["none"].output == []


async def test_a_parameter_is_data_never_sql_on_sqlite(tmp_path: Path) -> None:
    url = str(tmp_path / "users.db")  # a plain path is a SQLite file
    result = await _wf(
        *_chain(
            _sql("create", url, "CREATE TABLE users (name TEXT)"),
            _sql("insert", url, "INSERT INTO users (name) VALUES (:name)", {"name": INJECTION}),
            _sql("find", url, "SELECT name FROM users WHERE name = :name", {"name": INJECTION}),
        )
    ).run()
    assert result.status == "succeeded", result.error
    assert result.steps["find"].output == [{"name": INJECTION}]
    with sqlite3.connect(tmp_path / "users.db") as conn:
        assert conn.execute("SELECT name FROM users").fetchall() == [(INJECTION,)]


async def test_a_relative_sqlite_path_is_relative_to_the_workflow_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "flows"
    folder.mkdir()
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    wf = _wf(
        _sql("url", "sqlite:///by_url.db", "CREATE TABLE t (x INT)"),
        _sql("path", "by_path.db", "CREATE TABLE t (x INT)"),
        file=folder / "wf.yaml",
    )
    assert (await wf.run()).status == "succeeded"
    assert (folder / "by_url.db").exists()
    assert (folder / "by_path.db").exists()
    assert not list(elsewhere.iterdir())

    # Without a workflow file, the working directory.
    assert (await _wf(_sql("cwd", "in_cwd.db", "CREATE TABLE t (x INT)")).run()).status == (
        "succeeded"
    )
    assert (elsewhere / "in_cwd.db").exists()


async def test_in_memory_sqlite_is_one_database_for_the_whole_run() -> None:
    result = await _wf(
        *_chain(
            _sql("create", "sqlite://", "CREATE TABLE t (x INT)"),
            _sql("insert", "sqlite://", "INSERT INTO t VALUES (:1), (:2)", [1, 2]),
            _sql("sum", "sqlite://", "SELECT sum(x) AS total FROM t"),
        )
    ).run()
    assert result.steps["sum"].output == [{"total": 3}]


async def test_a_list_of_queries_is_a_script_in_one_transaction(tmp_path: Path) -> None:
    url = str(tmp_path / "script.db")
    script = [
        "CREATE TABLE t (x INT)",
        "INSERT INTO t VALUES (:a), (:b)",
        "SELECT sum(x) AS total FROM t",
    ]
    broken = ["INSERT INTO t VALUES (:a)", "INSERT INTO nope VALUES (1)"]
    result = await _wf(
        *_chain(
            _sql("script", url, script, {"a": 1, "b": 2}),
            _sql("broken", url, broken, {"a": 100}, continueOnError=True),
            _sql("after", url, "SELECT sum(x) AS total FROM t"),
        )
    ).run()
    assert result.steps["script"].output == [{"total": 3}]
    assert _error(result, "broken")["message"] == "sql: no such table: nope"
    assert result.steps["after"].output == [{"total": 3}]  # the broken script left nothing


async def test_a_bad_query_fails_with_the_drivers_message_on_one_line(tmp_path: Path) -> None:
    url = str(tmp_path / "x.db")
    result = await _wf(
        _sql("missing", url, "SELECT * FROM nope"),
        _sql("syntax", url, "SELEC 1"),
        _sql("unbound", url, "SELECT :x AS x"),
    ).run()
    missing = _error(result, "missing")
    assert (missing["type"], missing["message"], missing["step"]) == (
        "SqlError",
        "sql: no such table: nope",
        "missing",
    )
    assert missing["details"] == {"sqlite_errorcode": 1, "sqlite_errorname": "SQLITE_ERROR"}
    assert _error(result, "syntax")["type"] == "SqlError"
    assert "\n" not in _error(result, "syntax")["message"]
    unbound = _error(result, "unbound")
    assert "bind parameter 'x'" in unbound["message"]
    assert "\n" not in unbound["message"]


async def test_a_constraint_violation_is_SqlIntegrityError(tmp_path: Path) -> None:
    url = str(tmp_path / "x.db")
    result = await _wf(
        *_chain(
            _sql("create", url, "CREATE TABLE t (x INT PRIMARY KEY)"),
            _sql("twice", url, "INSERT INTO t VALUES (1), (1)"),
        )
    ).run()
    error = _error(result, "twice")
    assert error["type"] == "SqlIntegrityError"
    assert "UNIQUE constraint failed" in error["message"]


@pytest.mark.parametrize(
    ("input", "kind", "says"),
    [
        ({"url": "x.db"}, "InputError", "'query' is required"),
        ({"query": "SELECT 1"}, "InputError", "'url' is required"),
        ({"url": "x.db", "query": "SELECT :1", "params": [1, {"a": 1}]}, "InputError", "params"),
        ({"url": "://nothing", "query": "SELECT 1"}, "InputError", "bad 'url'"),
        ({"url": "mysql://u@127.0.0.1/db", "query": "SELECT 1"}, "MissingDependency", "mysql"),
    ],
)
async def test_bad_input(
    input: dict[str, Any], kind: str, says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = await _wf({"id": "bad", "tool": "sql", "input": input}).run()
    error = _error(result, "bad")
    assert error["type"] == kind
    assert says in error["message"]


@pytest.mark.parametrize(
    ("input", "says"),
    [
        ({"url": "x.db", "query": "SELECT 1", "sql": "x"}, "the sql tool has no input 'sql'"),
        ({"url": "x.db", "query": "SELECT 1", "params": "a"}, "'params' is a mapping or a list"),
    ],
)
def test_bad_input_written_in_the_workflow_is_refused_at_validation(
    input: dict[str, Any], says: str
) -> None:
    with pytest.raises(plait.ValidationError) as raised:
        _wf({"id": "bad", "tool": "sql", "input": input}).validate()
    [problem] = raised.value.problems
    assert problem.step == "bad"
    assert says in problem.message


async def test_the_seed_name_database_query_is_the_same_tool() -> None:
    input = {"url": "sqlite://", "query": "SELECT 2 AS n"}
    result = await _wf({"id": "q", "tool": "database_query", "input": input}).run()
    assert result.steps["q"].output == [{"n": 2}]


async def test_one_engine_per_url_per_run_disposed_at_the_end(tmp_path: Path) -> None:
    seen: list[Database] = []

    def engines(ctx: StepContext) -> list[str]:
        found = {k: v for k, v in ctx.resources.items() if k.startswith("plait.sql.engine:")}
        seen.extend(found.values())
        return sorted(found)

    a, b = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    result = await _wf(
        _sql("a1", a, "SELECT 1 AS x"),
        _sql("a2", f"sqlite:///{a}", "SELECT 2 AS x"),  # the same file by URL: the same engine
        _sql("b1", b, "SELECT 3 AS x"),
        {"id": "look", "tool": engines, "dependsOn": ["a1", "a2", "b1"]},
    ).run()
    assert result.steps["look"].output == [
        f"plait.sql.engine:sqlite:///{a}",
        f"plait.sql.engine:sqlite:///{b}",
    ]
    assert len(seen) == 2
    for db in seen:  # disposed of: the pool it had (with a connection checked in) is gone
        assert db.engine.pool.checkedin() == 0


def _until(condition: Callable[[], bool]) -> bool:
    """Poll another process's state (a lock in the database) until it holds; False after a
    generous bound, so that a broken test fails instead of hanging."""
    deadline = time.monotonic() + 20
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def _sqlite_has_a_reader(path: Path) -> bool:
    """True while another connection holds a read lock (an exclusive lock is refused)."""
    conn = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        conn.close()


async def test_a_cancelled_statement_is_interrupted_in_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x INT)")
        conn.execute("INSERT INTO t VALUES (1)")
    conn.close()
    endless = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c, t"
    )

    async def statement_running() -> bool:
        return await asyncio.to_thread(_until, lambda: _sqlite_has_a_reader(path))

    result = await _wf(
        {"id": "race", "parallelGroup": {"steps": ["endless", "seen"], "waitStrategy": "any"}},
        _sql("endless", str(path), endless),
        {"id": "seen", "tool": statement_running},
    ).run()
    assert result.steps["seen"].output is True
    assert result.groups["race"].winner == "seen"
    assert result.steps["endless"].status == StepStatus.CANCELLED
    # The endless statement let go of the file: a writer gets in (waiting if it must).
    writer = sqlite3.connect(path, timeout=10, isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")
    writer.execute("ROLLBACK")
    writer.close()


# -- PostgreSQL --------------------------------------------------------------------------


async def test_postgres_rows_and_a_parameter_that_is_data(postgres_url: str, pg_table: str) -> None:
    table = f'"{pg_table}"'
    result = await _wf(
        *_chain(
            _sql("create", postgres_url, f"CREATE TABLE {table} (id SERIAL, name TEXT)"),
            _sql(
                "insert",
                postgres_url,
                f"INSERT INTO {table} (name) VALUES (:name)",
                [{"name": INJECTION}, {"name": "Ada"}],
            ),
            _sql(
                "find", postgres_url, f"SELECT id, name FROM {table} WHERE name = :1", [INJECTION]
            ),
            _sql("count", postgres_url, f"SELECT count(*) AS n FROM {table}"),
        )
    ).run()
    assert result.status == "succeeded", result.error
    assert result.steps["insert"].output == {"rowcount": 2}
    assert result.steps["find"].output == [{"id": 1, "name": INJECTION}]
    assert result.steps["count"].output == [{"n": 2}]  # the table survived


async def test_postgres_values_json_cannot_hold_are_converted(postgres_url: str) -> None:
    query = (
        "SELECT 1.50::numeric AS d, 3::numeric AS whole, "
        "TIMESTAMPTZ '2026-01-02 03:04:05.123456+00' AS ts, DATE '2026-01-02' AS day, "
        "'\\x0102'::bytea AS b, 'a8098c1a-f86e-11da-bd1a-00112444be1e'::uuid AS u, "
        "INTERVAL '90 seconds' AS i, '{\"a\": [1, 2.5]}'::jsonb AS j, ARRAY[1, 2] AS arr, "
        "NULL AS n"
    )
    result = await _wf(_sql("q", postgres_url, query)).run()
    assert result.status == "succeeded", result.error
    (row,) = result.steps["q"].output
    assert row == {
        "d": 1.5,
        "whole": 3,
        "ts": "2026-01-02T03:04:05.123456+00:00",
        "day": "2026-01-02",
        "b": "AQI=",
        "u": "a8098c1a-f86e-11da-bd1a-00112444be1e",
        "i": 90.0,
        "j": {"a": [1, 2.5]},
        "arr": [1, 2],
        "n": None,
    }


async def test_a_postgres_error_is_one_line_from_the_driver(postgres_url: str) -> None:
    result = await _wf(_sql("bad", postgres_url, "SELECT * FROM plait_no_such_table")).run()
    error = _error(result, "bad")
    assert error["type"] == "SqlError"
    assert error["message"] == 'sql: relation "plait_no_such_table" does not exist'
    assert error["details"] == {"sqlstate": "42P01"}  # undefined_table


async def test_a_postgres_connection_failure_is_SqlOperationalError() -> None:
    result = await _wf(_sql("down", "postgresql://postgres@127.0.0.1:1/test", "SELECT 1")).run()
    error = _error(result, "down")
    assert error["type"] == "SqlOperationalError"
    assert "\n" not in error["message"]


async def test_a_cancelled_statement_is_cancelled_in_postgres(postgres_url: str) -> None:
    import psycopg

    lock = random.randrange(1, 2**31)
    holds = "WITH l AS MATERIALIZED (SELECT pg_advisory_xact_lock(:k)) SELECT pg_sleep(60) FROM l"

    def lock_held() -> bool:
        with psycopg.connect(postgres_url) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s "
                "AND granted",
                [lock],
            ).fetchone()
            return bool(row and row[0])

    async def statement_running() -> bool:
        return await asyncio.to_thread(_until, lock_held)

    result = await _wf(
        {"id": "race", "parallelGroup": {"steps": ["sleeper", "seen"], "waitStrategy": "any"}},
        _sql("sleeper", postgres_url, holds, {"k": lock}),
        {"id": "seen", "tool": statement_running},
    ).run()
    assert result.steps["seen"].output is True
    assert result.groups["race"].winner == "seen"
    assert result.steps["sleeper"].status == StepStatus.CANCELLED
    # The server cancelled the statement and rolled back its transaction, releasing the
    # lock: taking it here waits for that (and would fail after 10 s if it never came).
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("SET lock_timeout = '10s'")
        conn.execute("BEGIN")
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [lock])
        conn.execute("ROLLBACK")
