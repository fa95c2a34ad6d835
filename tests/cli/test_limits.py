"""``plait run`` and resource limits (issue 19): a limit hit is one line and exit 1,
never a traceback; a bad limit is one line and exit 2, nothing run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import plait

from .conftest import Invoke, Write

DOUBLING = "name: doubling\nsteps:\n  - {id: s0, tool: echo, input: xxxxxxxxxxxxxxxx}\n" + "".join(
    f'  - {{id: s{i}, tool: echo, input: "${{s{i - 1}.output}}${{s{i - 1}.output}}"}}\n'
    for i in range(1, 41)
)


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("error:")]


def test_the_doubling_attack_through_plait_run_is_one_line_and_exit_1(
    write: Write, tmp_path: Path
) -> None:
    path = write("doubling.yaml", DOUBLING)
    assert path.stat().st_size < 2600  # a 2 KB file
    store = tmp_path / "runs.db"
    proc = subprocess.run(
        [sys.executable, "-m", "plait", "run", path, "--store", store],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "MemoryError" not in proc.stdout + proc.stderr
    [line] = error_lines(proc.stdout)
    assert line.startswith("error: OutputTooLarge: step 's20' output is 16,777,218 bytes")
    assert line.endswith("(limits: in the workflow, --max-output-size, or max_output_size=)")
    run_id = proc.stdout.split()[2]  # "doubling  run ID": the summary's first line
    recorded = plait.get_run(run_id, store=store)  # as the store holds it, intact
    doc = recorded.to_document()
    assert doc["status"] == "failed"
    assert doc["steps"]["s20"]["error"]["type"] == "OutputTooLarge"
    assert doc["steps"]["s21"]["status"] == "skipped"
    assert doc["steps"]["s19"]["output"] == "x" * 2**23


def test_max_output_size_from_the_command_line(plait_cli: Invoke, write: Write) -> None:
    path = write("doubling.yaml", DOUBLING)
    outcome = plait_cli("run", path, "--max-output-size", "1KiB", "--json")
    assert outcome.exit_code == 1
    doc = outcome.json()
    assert doc["status"] == "failed"
    # s6 is 16 * 2**6 = 1,024 characters: 1,026 bytes as JSON
    assert doc["steps"]["s5"]["status"] == "succeeded"
    assert doc["steps"]["s6"]["error"]["type"] == "OutputTooLarge"
    assert "over the limit of 1 KiB" in doc["steps"]["s6"]["error"]["message"]
    assert doc["steps"]["s7"]["status"] == "skipped"


def test_max_run_size_from_the_command_line(plait_cli: Invoke, write: Write) -> None:
    path = write("doubling.yaml", DOUBLING)
    outcome = plait_cli("run", path, "--max-run-size", "100KB")
    assert outcome.exit_code == 1
    [line] = error_lines(outcome.stdout)
    assert line.startswith("error: RunTooLarge: step 's12' output (65,538 bytes) takes the run's")
    assert "over the limit of 100,000 B" in line
    assert "Traceback" not in outcome.stdout + outcome.stderr


def test_limits_in_the_file_and_the_flag_wins(plait_cli: Invoke, write: Write) -> None:
    text = DOUBLING.replace("name: doubling\n", "name: doubling\nlimits: {maxOutputSize: 1KiB}\n")
    path = write("limited.yaml", text)
    doc = plait_cli("run", path, "--json").json()
    assert doc["steps"]["s6"]["error"]["type"] == "OutputTooLarge"
    doc = plait_cli("run", path, "--json", "--max-output-size", "4KiB").json()
    assert doc["steps"]["s6"]["status"] == "succeeded"
    assert doc["steps"]["s8"]["error"]["type"] == "OutputTooLarge"


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        (
            "--max-output-size",
            "-5",
            "error: --max-output-size: a size limit must be at least 1 byte",
        ),
        ("--max-output-size", "lots", "error: --max-output-size: bad size 'lots'"),
        ("--max-run-size", "0", "error: --max-run-size: a size limit must be at least 1 byte"),
        ("--max-run-size", "100TiB", "error: --max-run-size: size '100TiB' is more than 1 TiB"),
    ],
)
def test_a_bad_limit_flag_is_one_line_and_exit_2(
    plait_cli: Invoke, write: Write, flag: str, value: str, message: str
) -> None:
    path = write("wf.yaml", DOUBLING)
    outcome = plait_cli("run", path, flag, value)
    assert outcome.exit_code == 2
    lines = outcome.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(message)
    assert outcome.stdout == ""


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ("{maxOutputSize: -1}", "key 'limits.maxOutputSize': a size limit must be at least 1"),
        ("{maxRunSize: 99999TiB}", "key 'limits.maxRunSize': size '99999TiB' is more than 1 TiB"),
        ("{maxOutputSize: big}", "key 'limits.maxOutputSize': bad size 'big'"),
    ],
)
def test_bad_limits_in_the_file_are_exit_2(
    plait_cli: Invoke, write: Write, limits: str, message: str
) -> None:
    path = write("wf.yaml", f"name: bad\nlimits: {limits}\nsteps:\n  - {{id: a, tool: noop}}\n")
    for command in ("run", "validate"):
        outcome = plait_cli(command, path)
        assert outcome.exit_code == 2
        [problem] = outcome.problems()
        assert problem.startswith("wf.yaml") or "wf.yaml" in problem
        assert message in problem
