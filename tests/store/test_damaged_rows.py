"""A store row plait cannot read as recorded is shown as damaged, and the rest of the
store stays readable (issue 19).

Two runs are recorded; one row of one of them is damaged with raw SQL (as an old or
new plait, someone's UPDATE or a failing disk might leave it), in SQLite and in the
real PostgreSQL. Then every command that reads the store (``runs list``, ``runs show``,
``resume``, ``cancel``, ``stats``, each with and without ``--json``) and
``plait.get_run`` answer without a traceback: the damaged row reads as status
``damaged`` with a note naming its column, the other run as it was, and ``resume``
refuses the damaged run in one line, exit status 2.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import plait
from plait.cli.app import app
from plait.store import RunRecord, StepRecord, open_store
from plait.store.records import damage_of

runner = CliRunner()

WORKFLOW = """
name: {name}
steps:
  - {{id: a, tool: echo, input: {{x: 1}}}}
  - {{id: b, tool: echo, input: "${{a.output}}"}}
  - id: g
    parallelGroup: {{steps: [c, d]}}
  - {{id: c, tool: noop}}
  - {{id: d, tool: noop}}
"""


@dataclass(frozen=True)
class Damage:
    """One damaged row: ``table.column = value`` where the row is the damaged run's (a
    step row: that of node ``node``); ``running`` first makes the run resumable."""

    table: str
    column: str
    value: Any
    node: str | None = None
    running: bool = False
    sqlite_only: bool = False
    # the note's words about the column (after "column '<column>' ")
    says: str = ""


RUN_DAMAGE = {
    "unknown status": Damage("runs", "status", "bogus", says="holds 'bogus', not a run status"),
    "outputs not JSON": Damage("runs", "outputs", "{bad", says="holds '{bad', not valid JSON"),
    "error not an object": Damage("runs", "error", '"boom"', says="not an object"),
    "inputs not an object": Damage("runs", "inputs", "[1, 2]", running=True, says="not an object"),
    "outline not an outline": Damage(
        "runs", "outline", '{"nodes": 5}', says="not a plan's outline"
    ),
    "started_at not a time": Damage("runs", "started_at", "yesterday", says="not a timestamp"),
    "finished_at without zone": Damage(
        "runs", "finished_at", "2026-01-01T00:00:00", says="without its time zone"
    ),
    "status not UTF-8": Damage(
        "runs", "status", b"\xff\xfe", sqlite_only=True, says="is not UTF-8 text"
    ),
    "definition a blob": Damage(
        "runs", "definition", "BLOB", running=True, sqlite_only=True, says="not text"
    ),
    "lease expiry not a number": Damage(
        "runs", "lease_expires_at", "soon", sqlite_only=True, says="not a number"
    ),
}
STEP_DAMAGE = {
    "step status unknown": Damage(
        "step_executions", "status", "weird", node="g", says="not a step status"
    ),
    "step output not JSON": Damage(
        "step_executions", "output", "{bad", node="a", says="not valid JSON"
    ),
    "step error not an error": Damage(
        "step_executions", "error", '{"type": 5}', node="c", says="an error whose 'type' is 5"
    ),
    # (a step's input is only type-checked: plait never reads it back)
    "step input a blob": Damage(
        "step_executions", "input", "BLOB", node="b", sqlite_only=True, says="not text"
    ),
    "step detail not an object": Damage(
        "step_executions", "detail", "[]", node="g", says="not an object"
    ),
    "step started_at not a time": Damage(
        "step_executions", "started_at", "noon", node="d", says="not a timestamp"
    ),
    "step attempt not a number": Damage(
        "step_executions", "attempt", "one", node="a", sqlite_only=True, says="not a whole number"
    ),
    "step output not UTF-8": Damage(
        "step_executions", "output", b"\x80", node="a", sqlite_only=True, says="not UTF-8 text"
    ),
}


def _apply_sqlite(url: str, sql: str, params: dict[str, Any]) -> None:
    db = sqlite3.connect(url)
    try:
        if isinstance(params["value"], bytes):  # as TEXT: what sqlite3 refuses to decode
            sql = sql.replace(":value", "CAST(:value AS TEXT)")
        elif params["value"] == "BLOB":  # a BLOB where text belongs
            params = {**params, "value": b"\x00\x01binary"}
        db.execute(sql, params)
        db.commit()
    finally:
        db.close()


def _apply_postgres(url: str, sql: str, params: dict[str, Any]) -> None:
    import psycopg

    for name in ("value", "run", "node"):
        sql = sql.replace(f":{name}", f"%({name})s")
    with psycopg.connect(url) as db:
        db.execute(sql, params)


def damage(url: str, run_id: str, what: Damage) -> None:
    """Write the damage with raw SQL, as something other than plait would."""
    where = "id = :run" if what.table == "runs" else "run_id = :run AND node_id = :node"
    params: dict[str, Any] = {"run": run_id, "node": what.node, "value": what.value}
    statements = [(f"UPDATE {what.table} SET {what.column} = :value WHERE {where}", params)]
    if what.running:
        statements.insert(0, ("UPDATE runs SET status = 'running' WHERE id = :run", params))
    apply = _apply_postgres if url.startswith("postgresql://") else _apply_sqlite
    for sql, args in statements:
        apply(url, sql, args)


def cli(*args: object) -> tuple[int, str, str]:
    result = runner.invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    text = result.stdout + result.stderr
    assert "Traceback" not in text, text
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(params=["sqlite", "postgres"])
def recorded(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str, str, str]:
    """A store URL, a workflow name, and two runs of it: (url, name, victim, bystander)."""
    if request.param == "sqlite":
        url = str(tmp_path / "plait.db")
    else:
        url = str(request.getfixturevalue("postgres_url"))
    name = f"damaged-{uuid.uuid4().hex[:10]}"
    path = tmp_path / "wf.yaml"
    path.write_text(WORKFLOW.format(name=name), encoding="utf-8")
    ids = []
    for _ in range(2):
        code, out, err = cli("run", path, "--store", url, "--json")
        assert code == 0, err
        ids.append(json.loads(out)["run_id"])
    return url, name, ids[0], ids[1]


def _cases() -> list[Any]:
    found = []
    for label, what in {**RUN_DAMAGE, **STEP_DAMAGE}.items():
        found.append(pytest.param(what, id=label))
    return found


@pytest.mark.parametrize("what", _cases())
def test_a_damaged_row_reads_as_damaged_and_the_rest_as_recorded(
    recorded: tuple[str, str, str, str], what: Damage
) -> None:
    url, name, victim, bystander = recorded
    if what.sqlite_only and url.startswith("postgresql://"):
        pytest.skip("PostgreSQL's column types cannot hold this value")
    damage(url, victim, what)
    column = f"column '{what.column}' "

    # runs list: both runs; the damaged one says so (with --json too).
    code, out, err = cli("runs", "list", "--workflow", name, "--store", url, "--json")
    assert code == 0, err
    rows = {row["run_id"]: row for row in json.loads(out)}
    assert rows[bystander]["status"] == "succeeded"
    assert rows[bystander]["damage"] is None
    code, text, err = cli("runs", "list", "--workflow", name, "--store", url)
    assert code == 0, err
    if what.table == "runs":
        assert rows[victim]["status"] == "damaged"
        assert column in rows[victim]["damage"]
        assert what.says in rows[victim]["damage"]
        assert f"run {victim[:12]}: the store's row of this run is damaged" in text
    else:
        assert rows[victim]["status"] == "succeeded"

    # runs show: the damaged row is shown as damaged; the document is valid JSON.
    code, out, err = cli("runs", "show", victim, "--store", url, "--json")
    assert code == 0, err
    doc = json.loads(out)
    if what.table == "runs":
        assert doc["status"] == "damaged"
        assert doc["error"]["type"] == "DamagedRecord"
        assert column in doc["error"]["message"]
        assert what.says in doc["error"]["message"]
    else:
        step = doc["steps"][what.node]
        assert step["status"] == "damaged"
        assert column in step["error"]["message"]
        assert what.says in step["error"]["message"]
        assert f"step '{what.node}'" in step["error"]["message"]
    code, text, err = cli("runs", "show", victim, "--store", url)
    assert code == 0, err
    assert "damaged" in text
    code, out, err = cli("runs", "show", bystander, "--store", url, "--json")
    assert code == 0, err
    assert json.loads(out)["status"] == "succeeded"

    # resume: refused in one line naming the column; the run is left as it was.
    code, out, err = cli("resume", victim, "--store", url, "--from-failure")
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error: run {victim} cannot be resumed: ")
    assert column in lines[0]
    assert what.says in lines[0]

    # cancel: a damaged run row is refused in one line; a damaged step is left alone.
    code, out, err = cli("cancel", victim, "--store", url)
    assert code == 2, (out, err)
    assert len(err.strip().splitlines()) == 1, err

    # stats: counts, never a crash.
    code, out, err = cli("stats", name, "--store", url, "--json")
    assert code == 0, err
    runs = json.loads(out)["workflows"][name]["runs"]
    assert runs["executions"] + runs["damaged"] == (1 if what.running else 2)
    code, out, err = cli("stats", "--store", url)
    assert code == 0, err

    # the Python API rebuilds both runs.
    damaged = plait.get_run(victim, store=url)
    assert plait.get_run(bystander, store=url).status is plait.RunStatus.SUCCEEDED
    if what.table == "runs":
        assert damaged.status is plait.RunStatus.DAMAGED
    else:
        assert damaged.steps[what.node].status is plait.StepStatus.DAMAGED


def test_only_damaged_runs_are_listed_with_status_damaged(
    recorded: tuple[str, str, str, str],
) -> None:
    url, name, victim, _ = recorded
    damage(url, victim, RUN_DAMAGE["unknown status"])
    code, out, err = cli(
        "runs", "list", "--status", "damaged", "--workflow", name, "--store", url, "--json"
    )
    assert code == 0, err
    assert [row["run_id"] for row in json.loads(out)] == [victim]


def test_a_damaged_definition_is_refused_by_resume_in_one_line(
    recorded: tuple[str, str, str, str],
) -> None:
    url, _name, victim, _ = recorded
    for text in ("{{{ not a workflow", '{"steps": 5, "name": 3}'):
        damage(url, victim, Damage("runs", "definition", text, running=True))
        damage(url, victim, Damage("runs", "file", None))
        code, out, err = cli("resume", victim, "--store", url)
        assert code == 2, (out, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert lines[0].startswith(f"error: run {victim} cannot be resumed: its workflow: ")
    damage(url, victim, Damage("runs", "definition", None))
    code, out, err = cli("resume", victim, "--store", url)
    assert code == 2, (out, err)
    assert "has no recorded definition" in err


# -- the memory store: records handed to it are read back through the same checks ------


@pytest.mark.parametrize(
    ("make", "column"),
    [
        (lambda r: RunRecord(r, "w", "bogus"), "status"),
        (lambda r: RunRecord(r, "w", "succeeded", outputs="{"), "outputs"),
        (lambda r: RunRecord(r, "w", "succeeded", started_at="noon"), "started_at"),
    ],
)
def test_the_memory_store_reads_damaged_records_as_damaged(
    make: Callable[[str], RunRecord], column: str
) -> None:
    store = open_store("memory://")
    store.write([make("r1"), RunRecord("r2", "w", "succeeded")])
    run = store.get_run("r1")
    assert run.status == "damaged"
    assert f"column '{column}'" in (damage_of(run) or "")
    assert store.get_run("r2").status == "succeeded"
    assert [r.id for r in store.list_runs(status="damaged")] == ["r1"]


def test_a_damaged_step_record_in_memory() -> None:
    store = open_store("memory://")
    store.write(
        [
            RunRecord("r1", "w", "succeeded"),
            StepRecord("r1", "a", 1, "a", "succeeded", output="{"),
            StepRecord("r1", "b", 1, "b", "succeeded", output="1"),
        ]
    )
    steps = {s.node_id: s for s in store.get_steps("r1")}
    assert steps["a"].status == "damaged"
    assert steps["a"].output is None
    assert "column 'output' holds '{', not valid JSON" in (damage_of(steps["a"]) or "")
    assert steps["b"].status == "succeeded"
    assert steps["b"].output == "1"


def test_json_that_another_writer_spaced_is_not_damage() -> None:
    store = open_store("memory://")
    store.write(
        [
            RunRecord("r1", "w", "succeeded", outputs=' {"a": [1, 2]} \n'),
            StepRecord("r1", "a", 1, "a", "succeeded", output=" 1 ", detail=' {"x": 1}'),
        ]
    )
    assert store.get_run("r1").status == "succeeded"
    assert [s.status for s in store.get_steps("r1")] == ["succeeded"]
