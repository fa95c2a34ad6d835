"""``plait runs list`` / ``plait runs show``: recorded runs, read back from the store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import Invoke, Write

WORKFLOW = """
    name: {name}
    steps:
      - id: g
        parallelGroup: {{steps: [a, b], waitStrategy: any}}
      - {{id: a, tool: echo, input: {{n: 1}}}}
      - {{id: b, tool: sleep, input: {{duration: 5s}}}}
      - {{id: after, tool: {tool}, input: "${{g.output}}", dependsOn: [g]}}
"""


def test_runs_show_json_is_the_document_run_printed(plait_cli: Invoke, write: Write) -> None:
    path = write("wf.yaml", WORKFLOW.format(name="shown", tool="echo"))
    ran = plait_cli("run", path, "--json", "--store", "runs.db")
    assert ran.exit_code == 0, ran.stderr
    document = ran.json()
    shown = plait_cli("runs", "show", document["run_id"][:10], "--store", "runs.db", "--json")
    assert shown.exit_code == 0, shown.stderr
    assert shown.json() == document


def test_runs_list_newest_first_with_filters(plait_cli: Invoke, write: Write) -> None:
    good = write("good.yaml", WORKFLOW.format(name="good", tool="echo"))
    bad = write("bad.yaml", WORKFLOW.format(name="bad", tool="fail"))
    ids = []
    for path in (good, bad, good):
        ran = plait_cli("run", path, "--json", "--store", "runs.db")
        ids.append(ran.json()["run_id"])
    listed = plait_cli("runs", "list", "--store", "runs.db", "--json")
    assert listed.exit_code == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [r["run_id"] for r in rows] == ids[::-1]
    assert {"workflow", "status", "started_at", "duration_ms"} <= set(rows[0])
    # one way to compute a duration: the list says what runs show says
    shown = plait_cli("runs", "show", ids[0], "--store", "runs.db", "--json").json()
    assert rows[-1]["duration_ms"] == shown["duration_ms"]
    failed = json.loads(
        plait_cli("runs", "list", "--store", "runs.db", "--json", "--status", "failed").stdout
    )
    assert [r["run_id"] for r in failed] == [ids[1]]
    good_only = json.loads(
        plait_cli(
            "runs", "list", "--store", "runs.db", "--json", "--workflow", "good", "--limit", "1"
        ).stdout
    )
    assert [r["run_id"] for r in good_only] == [ids[2]]
    table = plait_cli("runs", "list", "--store", "runs.db")
    assert ids[0][:12] in table.stdout


def test_runs_show_of_an_unknown_run_is_one_line_exit_2(plait_cli: Invoke) -> None:
    shown = plait_cli("runs", "show", "nope", "--store", "runs.db")
    assert shown.exit_code == 2
    assert shown.stderr.strip().splitlines() == ["error: no run 'nope' in runs.db"]


def test_run_records_in_the_default_store_file(
    plait_cli: Invoke, write: Write, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("PLAIT_STORE")
    path = write("wf.yaml", WORKFLOW.format(name="default", tool="echo"))
    ran = plait_cli("run", path, "--json")
    assert ran.exit_code == 0, ran.stderr
    listed = json.loads(plait_cli("runs", "list", "--json").stdout)
    assert [r["run_id"] for r in listed] == [ran.json()["run_id"]]
    assert (tmp_path / ".plait" / "plait.db").exists()  # the working directory's store
