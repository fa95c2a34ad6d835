"""``plait`` as a real process: exit codes and streams end to end, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .conftest import Marker, Write


def plait(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "plait", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        check=False,
    )


def test_successful_run_exits_0_with_one_json_document(write: Write, tmp_path: Path) -> None:
    path = write(
        "wf.yaml",
        """
        name: sub
        inputs: {n: {type: integer}}
        steps:
          - {id: show, tool: echo, input: "${inputs.n}"}
        """,
    )
    proc = plait("run", path, "--json", "--input", "n=5", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["status"] == "succeeded"
    assert doc["steps"]["show"]["output"] == 5


def test_failed_run_exits_1(write: Write, tmp_path: Path) -> None:
    path = write("wf.yaml", "name: f\nsteps:\n  - {id: boom, tool: fail, input: {type: Kaboom}}\n")
    proc = plait("run", path, "--json", cwd=tmp_path)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert json.loads(proc.stdout)["error"]["type"] == "Kaboom"


def test_invalid_file_exits_2_runs_nothing_and_prints_no_traceback(
    write: Write, marker: Marker, tmp_path: Path
) -> None:
    path = write(
        "wf.yaml",
        "name: w\nsteps:\n" + marker.step + '  - {id: a, tool: teleport, dependsOn: ["[/x]"]}\n',
    )
    for command in ("validate", "run"):
        proc = plait(command, path, cwd=tmp_path)
        assert proc.returncode == 2, (command, proc.stderr)
        assert proc.stdout == ""
        assert "Traceback" not in proc.stderr
        line = len(marker.step.splitlines()) + 3  # the line of step 'a'
        assert f"{path}:{line}:13: step 'a': key 'tool': unknown tool 'teleport'" in proc.stderr
        assert f"{path}:{line}:41: step 'a': key 'dependsOn': unknown step '[/x]'" in proc.stderr
        assert "2 problems found; nothing was run." in proc.stderr
    assert not marker.ran


def test_bad_input_exits_2(write: Write, tmp_path: Path) -> None:
    path = write("wf.yaml", "name: w\ninputs: {n: {type: integer}}\nsteps: []\n")
    proc = plait("run", path, "--input", "n=abc", cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "input 'n' must be an integer, not 'abc'" in proc.stderr
