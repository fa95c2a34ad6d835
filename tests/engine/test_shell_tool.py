"""The ``shell`` built-in tool: real processes, argv without a shell, killed groups."""

from __future__ import annotations

import os
import time
from pathlib import Path

import plait
from plait.tools.builtin.shell import OUTPUT_LIMIT


def _run(*steps: dict[str, object]) -> plait.RunResult:
    return plait.run_sync(plait.Workflow.from_dict({"name": "sh", "steps": list(steps)}))


def test_argv_runs_without_a_shell_so_values_cannot_inject(tmp_path: Path) -> None:
    marker = tmp_path / "injected"
    result = _run(
        {"id": "v", "tool": "echo", "input": f"x; touch {marker}"},
        {"id": "s", "tool": "shell", "input": {"command": ["echo", "${v.output}"]}},
    )
    assert result.steps["s"].output == {
        "exit_code": 0,
        "stdout": f"x; touch {marker}\n",
        "stderr": "",
    }
    assert not marker.exists()


def test_shell_true_cwd_env_and_stdin(tmp_path: Path) -> None:
    result = _run(
        {
            "id": "s",
            "tool": "shell",
            "input": {
                "command": 'cat; echo "$GREETING from $(pwd)"',
                "shell": True,
                "cwd": str(tmp_path),
                "env": {"GREETING": "hello"},
                "stdin": "in\n",
            },
        }
    )
    assert result.steps["s"].output["stdout"] == f"in\nhello from {tmp_path}\n"


def test_a_string_command_without_shell_true_is_refused() -> None:
    result = _run({"id": "s", "tool": "shell", "input": {"command": "echo hi"}})
    error = result.steps["s"].error
    assert error is not None
    assert error["type"] == "InputError"


def test_non_zero_exit_fails_with_the_stderr_tail() -> None:
    result = _run(
        {
            "id": "s",
            "tool": "shell",
            "input": {"command": "echo doing; echo went wrong >&2; exit 3", "shell": True},
        }
    )
    error = result.steps["s"].error
    assert error is not None
    assert error["type"] == "CommandFailed"
    assert "status 3" in error["message"]
    assert error["message"].endswith("went wrong")
    assert error.details == {"exit_code": 3, "stderr": "went wrong"}


def test_missing_program_is_a_clear_error() -> None:
    result = _run({"id": "s", "tool": "shell", "input": {"command": ["no-such-program-xyz"]}})
    error = result.steps["s"].error
    assert error is not None
    assert error["type"] == "CommandNotFound"


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    # The command starts a grandchild, reports both pids, and would outlive a plain kill.
    script = f"sleep 60 & echo $! >> {pids}; echo $$ >> {pids}; wait"
    result = _run(
        {
            "id": "s",
            "tool": "shell",
            "timeout": "500ms",
            "input": {"command": script, "shell": True},
        }
    )
    assert result.steps["s"].status is plait.StepStatus.TIMED_OUT
    started = [int(line) for line in pids.read_text().split()]
    assert len(started) == 2
    deadline = time.monotonic() + 10
    alive = started
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in started if _alive(pid)]
        time.sleep(0.05)
    assert alive == [], "a process of the timed-out command is still running"


def test_output_is_capped_with_a_note() -> None:
    limit = OUTPUT_LIMIT
    result = _run(
        {
            "id": "s",
            "tool": "shell",
            "input": {"command": f"head -c {limit + 5000} /dev/zero | tr '\\0' a", "shell": True},
        }
    )
    stdout = result.steps["s"].output["stdout"]
    assert stdout.startswith("a" * 100)
    assert stdout.endswith(f"[plait: stdout cut at {limit} of {limit + 5000} bytes]")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
