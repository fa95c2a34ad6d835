"""Where a failing step's traceback shows: ``plait run --json``, and ``plait runs show``
(the innermost frames in the summary, every frame with ``--json``)."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import plait

from .conftest import Invoke, Write

PLAIT_DIR = os.path.dirname(plait.__file__)

# Five user frames deep: level1 calls level2 ... level5 raises (line 14), from a KeyError.
CHAIN = """\
def level1(): return level2()
def level2(): return level3()
def level3(): return level4()
def level4(): return level5()


SETTINGS = {}


def level5():
    try:
        return SETTINGS["region"]
    except KeyError as exc:
        raise LookupError("no region configured") from exc
"""

WORKFLOW = """
name: chained
steps:
  - {id: ok, tool: echo, input: 1}
  - {id: deploy, tool: python, dependsOn: [ok], input: {function: "chain_cli:level1"}}
"""


def _failing_run(plait_cli: Invoke, write: Write, tmp_path: Path) -> tuple[str, dict[str, str]]:
    (tmp_path / "chain_cli.py").write_text(CHAIN, encoding="utf-8")
    path = write("wf.yaml", WORKFLOW)
    outcome = plait_cli("run", path, "--json", "--store", tmp_path / "runs.db")
    assert outcome.exit_code == 1
    doc = outcome.json()
    return doc["run_id"], doc["steps"]["deploy"]["error"]


def test_run_json_gives_the_users_traceback_and_cause(
    plait_cli: Invoke, write: Write, tmp_path: Path
) -> None:
    _, error = _failing_run(plait_cli, write, tmp_path)
    assert (error["type"], error["message"]) == ("LookupError", "no region configured")
    assert error["cause"] == {"type": "KeyError", "message": "'region'"}
    traceback = error["traceback"]
    for line, function in [(1, "level1"), (4, "level4"), (14, "level5")]:
        assert f'chain_cli.py", line {line}, in {function}' in traceback
    assert PLAIT_DIR not in traceback
    assert traceback.endswith("LookupError: no region configured")


def test_runs_show_prints_the_innermost_frames_and_json_gives_them_all(
    plait_cli: Invoke, write: Write, tmp_path: Path
) -> None:
    run_id, error = _failing_run(plait_cli, write, tmp_path)
    shown = plait_cli("runs", "show", run_id, "--store", tmp_path / "runs.db")
    assert shown.exit_code == 0
    text = shown.stdout
    assert "traceback of step 'deploy'" in text
    assert 'chain_cli.py", line 14, in level5' in text  # the innermost frames...
    assert 'chain_cli.py", line 3, in level3' in text
    assert "in level1" not in text  # ...not the outer ones
    assert "2 outer frames not shown" in text
    assert "LookupError: no region configured" in text
    assert "caused by KeyError: 'region'" in text
    as_json = plait_cli("runs", "show", run_id, "--json", "--store", tmp_path / "runs.db")
    assert as_json.json()["steps"]["deploy"]["error"] == error  # every frame
    assert "in level1" in as_json.json()["error"]["traceback"]


def test_the_run_summary_on_the_terminal_shows_the_traceback_too(
    plait_cli: Invoke, write: Write, tmp_path: Path
) -> None:
    (tmp_path / "chain_cli.py").write_text(CHAIN, encoding="utf-8")
    outcome = plait_cli("run", write("wf.yaml", WORKFLOW))
    assert outcome.exit_code == 1
    assert "error: LookupError: no region configured" in outcome.stdout
    assert 'chain_cli.py", line 14, in level5' in outcome.stdout


def test_a_short_traceback_is_shown_whole() -> None:
    from plait.cli.progress import traceback_tail

    text = textwrap.dedent(
        """\
        Traceback (most recent call last):
          File "a.py", line 1, in f
            g()
        ValueError: x"""
    )
    assert traceback_tail(text) == text
