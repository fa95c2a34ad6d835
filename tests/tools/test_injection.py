"""Issue 19, end to end: the attacks that worked before (a canary deleted through a
``shell: true`` step, ``' OR '1'='1`` and a stacked ``DROP TABLE`` through a ``${...}``
in a query) are refused at validation, and the safe forms the refusals point to carry
the same hostile inputs as data, on real processes, SQLite files and PostgreSQL."""

from __future__ import annotations

import sqlite3
import textwrap
from pathlib import Path
from typing import Any

import pytest

import plait
from plait.errors import ValidationError
from plait.status import RunStatus

HOSTILE_SHELL = 'x"; rm -f {canary}; echo "$(rm -f {canary})`rm -f {canary}`\' ; rm -f {canary}'
OR_TRUE = "' OR '1'='1"
STACKED = "x'; DROP TABLE {table}; --"


def _file(tmp_path: Path, text: str, name: str = "wf.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# -- shell -----------------------------------------------------------------------------


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    path = tmp_path / "canary"
    path.write_text("alive")
    return path


def test_the_old_shell_attack_is_refused_and_deletes_nothing(tmp_path: Path, canary: Path) -> None:
    path = _file(
        tmp_path,
        """
        name: old
        inputs: {name: {type: string}}
        steps:
          - {id: greet, tool: shell, input: {command: "echo hello ${inputs.name}", shell: true}}
        """,
    )
    with pytest.raises(ValidationError, match="can inject commands"):
        plait.run_sync(path, {"name": f"; rm -f {canary}"})
    assert canary.read_text() == "alive"


@pytest.mark.parametrize(
    "step",
    [
        # the value in the step's environment, read as "$NAME" by the script
        """{id: s, tool: shell, input: {command: 'printf %s "$NAME"', shell: true,
            env: {NAME: "${inputs.name}"}}}""",
        # an argv list: exec'd without a shell, the value is one argument
        """{id: s, tool: shell, input: {command: [printf, '%s', "${inputs.name}"]}}""",
        # sh -c with the value after the script: "$1", never part of the script
        """{id: s, tool: shell,
            input: {command: [sh, -c, 'printf %s "$1"', sh, "${inputs.name}"]}}""",
    ],
    ids=["env", "argv", "sh-c-positional"],
)
def test_a_hostile_input_to_a_safe_shell_step_is_only_data(
    tmp_path: Path, canary: Path, step: str
) -> None:
    path = _file(
        tmp_path,
        f"""
        name: safe
        inputs: {{name: {{type: string}}}}
        steps:
          - {step}
        """,
    )
    hostile = HOSTILE_SHELL.format(canary=canary)
    result = plait.run_sync(path, {"name": hostile})
    assert result.status is RunStatus.SUCCEEDED, result.steps["s"].error
    assert result.steps["s"].output["stdout"] == hostile  # printed, verbatim
    assert canary.read_text() == "alive"


def test_the_argv_form_never_starts_a_shell(tmp_path: Path) -> None:
    """The argv list is exec'd: the process is the program itself, whose parent is
    plait (a shell in between would be the parent of ``sh -c 'echo $PPID'``)."""
    import os

    path = _file(
        tmp_path,
        """
        name: argv
        steps:
          - {id: s, tool: shell, input: {command: [sh, -c, 'echo $PPID; echo $0', 'argv0']}}
        """,
    )
    result = plait.run_sync(path)
    parent, zero = result.steps["s"].output["stdout"].split()
    assert int(parent) == os.getpid()  # started by plait, not by a /bin/sh -c wrapper
    assert zero == "argv0"


# -- sql ---------------------------------------------------------------------------------


def _users_sqlite(tmp_path: Path) -> str:
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE users (name TEXT, secret TEXT)")
        conn.executemany("INSERT INTO users VALUES (?, ?)", [("ada", "s1"), ("bob", "s2")])
    return f"sqlite:///{db}"


def _lookup(tmp_path: Path, url: str, table: str, params: str) -> Path:
    where = "name = :name" if "name:" in params else "name = :1"
    return _file(
        tmp_path,
        f"""
        name: lookup
        inputs: {{name: {{type: string}}}}
        steps:
          - id: find
            tool: database_query
            input:
              url: {url}
              query: SELECT name, secret FROM {table} WHERE {where}
              params: {params}
          - id: count
            tool: sql
            dependsOn: [find]
            input: {{url: "{url}", query: "SELECT count(*) AS n FROM {table}"}}
        """,
        name=f"lookup_{abs(hash(params))}.yaml",
    )


def _old_query(tmp_path: Path, url: str, table: str) -> Path:
    return _file(
        tmp_path,
        f"""
        name: old
        inputs: {{name: {{type: string}}}}
        steps:
          - {{id: find, tool: sql, input: {{url: "{url}",
              query: "SELECT * FROM {table} WHERE name = '${{inputs.name}}'"}}}}
        """,
        name="old.yaml",
    )


PARAMS = ['{name: "${inputs.name}"}', '["${inputs.name}"]']


@pytest.mark.parametrize("params", PARAMS, ids=["named", "positional"])
def test_sqlite_or_true_and_drop_table_are_data(tmp_path: Path, params: str) -> None:
    url = _users_sqlite(tmp_path)
    with pytest.raises(ValidationError, match="params:"):
        plait.load(_old_query(tmp_path, url, "users"))
    path = _lookup(tmp_path, url, "users", params)
    for hostile in (OR_TRUE, STACKED.format(table="users"), "ada' --"):
        result = plait.run_sync(path, {"name": hostile})
        assert result.status is RunStatus.SUCCEEDED
        assert result.steps["find"].output == []  # no rows: the text matched no name
        assert result.steps["count"].output == [{"n": 2}]  # the table is there, whole
    assert plait.run_sync(path, {"name": "ada"}).steps["find"].output == [
        {"name": "ada", "secret": "s1"}
    ]


@pytest.mark.parametrize("params", PARAMS, ids=["named", "positional"])
def test_postgres_or_true_and_drop_table_are_data(
    tmp_path: Path, postgres_url: str, pg_table: str, params: str
) -> None:
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {pg_table} (name TEXT, secret TEXT)")
        conn.execute(f"INSERT INTO {pg_table} VALUES ('ada', 's1'), ('bob', 's2')")
    with pytest.raises(ValidationError, match="params:"):
        plait.load(_old_query(tmp_path, postgres_url, pg_table))
    path = _lookup(tmp_path, postgres_url, pg_table, params)
    for hostile in (OR_TRUE, STACKED.format(table=pg_table), "ada' --"):
        result: Any = plait.run_sync(path, {"name": hostile})
        assert result.status is RunStatus.SUCCEEDED, result.steps["find"].error
        assert result.steps["find"].output == []
        assert result.steps["count"].output == [{"n": 2}]
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute(f"SELECT count(*) FROM {pg_table}").fetchone() == (2,)
    assert plait.run_sync(path, {"name": "bob"}).steps["find"].output == [
        {"name": "bob", "secret": "s2"}
    ]


# -- python ------------------------------------------------------------------------------


def test_the_old_eval_attack_is_refused(tmp_path: Path, canary: Path) -> None:
    path = _file(
        tmp_path,
        """
        name: old
        inputs: {fn: {type: string}, code: {type: string}}
        steps:
          - {id: call, tool: python, input: {function: "${inputs.fn}", args: ["${inputs.code}"]}}
        """,
    )
    code = f"__import__('os').remove({str(canary)!r})"
    with pytest.raises(ValidationError, match=r"choose the code to call \(builtins:eval\)"):
        plait.run_sync(path, {"fn": "builtins:eval", "code": code})
    assert canary.read_text() == "alive"


def test_dynamic_group_members_are_held_to_the_same_rules() -> None:
    """Members a group's callable gives while the run goes are compiled under the
    run's policy: the literal rule and ``allow_python`` hold for them too."""

    def members(ctx: Any) -> list[dict[str, Any]]:
        return [
            {"id": "ok", "tool": "python", "input": {"function": "json:dumps", "args": [[1]]}},
            {"id": "eval", "tool": "python", "input": {"function": "${inputs.fn}"}},
            {"id": "os", "tool": "python", "input": {"function": "os:getcwd"}},
        ]

    wf = plait.Workflow.from_dict(
        {
            "name": "dynamic",
            "inputs": {"fn": {"type": "string", "default": "builtins:eval"}},
            "steps": [{"id": "group", "parallelGroup": {"steps": members}}],
        }
    )
    result = plait.run_sync(wf, allow_python=["json"])
    error = result.steps["group"].error
    assert error is not None
    assert error["type"] == "DynamicGroupError"
    assert "'function' is written in the workflow: a ${...} in it" in error["message"]
    assert "module 'os' is not allowed: --allow-python" in error["message"]
    assert result.steps.get("ok") is None or result.steps["ok"].output is None  # none ran
