"""``plait stats [WORKFLOW]``: metrics across recorded runs, as a table or a document,
from an SQLite file or a PostgreSQL database."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from .conftest import Invoke, Write

WORKFLOW = """
    name: {name}
    steps:
      - id: fan
        parallelGroup: {{steps: [a, b], waitStrategy: allSettled}}
      - {{id: a, tool: echo, input: 1}}
      - {{id: b, tool: {tool}}}
      - id: each
        parallel: {{count: 3, steps: [{{id: t, tool: noop}}]}}
"""


def record_runs(plait_cli: Invoke, write: Write, store: str) -> None:
    good = write("good.yaml", WORKFLOW.format(name="good", tool="noop"))
    bad = write("bad.yaml", WORKFLOW.format(name="bad", tool="fail"))
    for path in (good, good, bad):
        ran = plait_cli("run", path, "--json", "--store", store)
        assert ran.exit_code == 0, ran.stderr


def test_stats_json_per_workflow_and_group(plait_cli: Invoke, write: Write) -> None:
    record_runs(plait_cli, write, "runs.db")
    shown = plait_cli("stats", "--store", "runs.db", "--json")
    assert shown.exit_code == 0, shown.stderr
    workflows = shown.json()["workflows"]
    assert sorted(workflows) == ["bad", "good"]
    good = workflows["good"]
    assert good["runs"]["executions"] == 2
    assert sorted(good["groups"]) == ["each", "fan"]
    assert good["groups"]["fan"]["executions"] == 2
    assert good["groups"]["fan"]["failureRate"] == 0.0
    assert isinstance(good["groups"]["fan"]["averageDuration"], float)
    # allSettled: the group succeeds though a member failed
    assert workflows["bad"]["groups"]["fan"]["failures"] == 0
    one = plait_cli("stats", "good", "--store", "runs.db", "--json").json()
    assert list(one["workflows"]) == ["good"]


def test_stats_table(plait_cli: Invoke, write: Write) -> None:
    record_runs(plait_cli, write, "runs.db")
    shown = plait_cli("stats", "--store", "runs.db")
    assert shown.exit_code == 0, shown.stderr
    for text in ("workflow", "executions", "failure rate", "(runs)", "fan", "each", "good"):
        assert text in shown.stdout
    empty = plait_cli("stats", "nope", "--store", "runs.db")
    assert empty.exit_code == 0
    assert "no finished runs of workflow 'nope' recorded" in empty.stdout


def test_stats_of_a_store_that_cannot_be_opened_is_exit_2(plait_cli: Invoke) -> None:
    shown = plait_cli("stats", "--store", "nosuch://x")
    assert shown.exit_code == 2
    assert "unknown store" in shown.stderr


ADMIN_URL = os.environ.get("PLAIT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def postgres_store() -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards."""
    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        pytest.skip(f"PostgreSQL at {ADMIN_URL} cannot be reached: {exc}")
    name = f"plait_stats_{uuid.uuid4().hex[:10]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{ADMIN_URL.rpartition('/')[0]}/{name}"
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_stats_from_postgresql(plait_cli: Invoke, write: Write, postgres_store: str) -> None:
    record_runs(plait_cli, write, postgres_store)
    shown = plait_cli("stats", "bad", "--store", postgres_store, "--json")
    assert shown.exit_code == 0, shown.stderr
    bad = shown.json()["workflows"]["bad"]
    assert bad["runs"]["executions"] == 1
    assert bad["groups"]["each"]["executions"] == 1
