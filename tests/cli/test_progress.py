"""What `plait run` shows while a run goes: plain lines off a terminal, the live view
on one (rendered into a recording console), and the folded summary."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from rich.console import Console

import plait
from plait.cli.progress import Progress, render_summary
from plait.tools.registry import tool

SRC = str(Path(__file__).resolve().parents[2] / "src")

MAP_200 = """
name: fanout
steps:
  - {id: prep, tool: echo, input: hi}
  - id: resize
    parallel:
      count: 200
      maxConcurrent: 20
      continueOnError: true
      steps:
        - id: thumb
          tool: shell
          input:
            command: 'if [ "$I" -eq 7 ]; then exit 3; fi; until [ -e go ]; do sleep 0.02; done'
            shell: true
            env: {I: "${parallel.index}"}
"""

_LINE = re.compile(r"fanout: (\d+)/(\d+) steps")


def _start(tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    (tmp_path / "wf.yaml").write_text(MAP_200)
    env = {**os.environ, "PYTHONPATH": SRC, "PLAIT_PROGRESS_INTERVAL": "0.2"}
    return subprocess.Popen(
        [sys.executable, "-m", "plait", "run", "wf.yaml", *extra],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,  # not a terminal: plain lines
        text=True,
    )


def test_off_a_terminal_plain_lines_move_and_name_each_failure(tmp_path: Path) -> None:
    proc = _start(tmp_path)
    lines: list[str] = []
    failed = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if "failed: thumb<7>" in line:
                failed.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    # Every branch but one waits for `go`: the run cannot end before the test says so.
    assert failed.wait(60), "".join(lines)
    (tmp_path / "go").touch()
    proc.wait(60)
    reader.join(10)
    text = "".join(lines)
    assert proc.returncode == 0, text
    assert "\x1b" not in text
    assert "\r" not in text
    ended = [int(m.group(1)) for m in map(_LINE.search, lines) if m]
    assert len(ended) >= 2, text
    assert ended[-1] > ended[0]
    assert ended == sorted(ended)
    assert ended[-1] == 202  # the top count includes every branch's step
    assert "resize: " in text
    assert "/200 branches" in text
    assert "failed: thumb<7>: CommandFailed" in text


def test_quiet_prints_no_progress(tmp_path: Path) -> None:
    (tmp_path / "go").touch()
    proc = _start(tmp_path, "--quiet")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert not _LINE.search(err)
    assert "failed: thumb" not in err


def test_the_summary_folds_a_map_of_1000_branches_and_lists_its_failures_first() -> None:
    wf = plait.Workflow.from_dict(
        {
            "name": "big",
            "steps": [
                {
                    "id": "resize",
                    "parallel": {
                        "count": 1000,
                        "continueOnError": True,
                        "steps": [
                            {
                                "id": "thumb",
                                "tool": "fail",
                                "when": "${parallel.index in [5, 500, 999]}",
                                "input": {"message": "bad image"},
                            }
                        ],
                    },
                },
            ],
        }
    )
    the_run = wf.create_run({})
    result = asyncio.run(the_run.execute())
    console = Console(record=True, width=120)
    render_summary(console, result, plan=the_run.plan)
    text = console.export_text()
    assert "1,000 branches: ✓ 997 ✗ 3" in text
    for i in (5, 500, 999):
        assert f"thumb<{i}>" in text
    assert "thumb<6>" not in text
    assert len(text.split("outputs:")[0].splitlines()) < 15  # not 1,000 rows


def test_the_live_view_nests_each_map_under_its_parent() -> None:
    async def go() -> str:
        gate, all_started = asyncio.Event(), asyncio.Event()
        started = []

        @tool("progress_test_waiter")
        async def wait(_: object = None) -> str:
            started.append(1)
            if len(started) == 8:  # (the default pool runs 10 at once)
                all_started.set()
            await gate.wait()
            return "ok"

        wf = plait.Workflow.from_dict(
            {
                "name": "nested",
                "steps": [
                    {
                        "id": "outer",
                        "parallel": {
                            "count": 2,
                            "steps": [
                                {
                                    "id": "inner",
                                    "parallel": {
                                        "count": 4,
                                        "steps": [{"id": "work", "tool": "progress_test_waiter"}],
                                    },
                                }
                            ],
                        },
                    }
                ],
            }
        )
        the_run = wf.create_run({})
        task = asyncio.create_task(the_run.execute())
        await all_started.wait()
        console = Console(record=True, force_terminal=True, width=100)
        view = Progress(console, the_run)
        console.print(view.view(the_run.progress(), 1.0))
        gate.set()
        await task
        return console.export_text()

    text = asyncio.run(go())
    lines = text.splitlines()
    outer = next(i for i, line in enumerate(lines) if line.lstrip().startswith("outer"))
    inner = lines[outer + 1]
    assert "0/2 branches" in lines[outer]
    assert "2 running" in lines[outer]
    assert inner.startswith("    inner")
    assert "0/8 branches" in inner
    assert "8 running" in inner


TMUX_MAP = """
name: tmuxed
steps:
  - id: resize
    parallel:
      count: 200
      steps:
        - id: thumb
          tool: shell
          input:
            command: >-
              if [ "$I" -ge 150 ]; then until [ -e b ]; do sleep 0.02; done;
              elif [ "$I" -ge 100 ]; then until [ -e a ]; do sleep 0.02; done; fi
            shell: true
            env: {I: "${parallel.index}"}
"""
_TMUX_LINE = re.compile(r"resize\s+\S+ (\d+)/200 branches")


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_a_map_of_200_branches_in_tmux_shows_progress_that_moves(tmp_path: Path) -> None:
    """The issue's check, for real: `plait run` in a tmux pane (a terminal), the pane
    captured twice; branches 100-149 wait for file `a`, 150-199 for `b`."""
    (tmp_path / "wf.yaml").write_text(TMUX_MAP)
    socket = f"plait-progress-{os.getpid()}"
    tmux = ["tmux", "-L", socket]
    command = (
        f"cd {shlex.quote(str(tmp_path))} && PYTHONPATH={shlex.quote(SRC)} "
        f"{shlex.quote(sys.executable)} -m plait run wf.yaml; sleep 60"
    )
    subprocess.run(
        [*tmux, "new-session", "-d", "-x", "150", "-y", "50", command],
        check=True,
        env={k: v for k, v in os.environ.items() if k != "TMUX"},
    )

    def ended_when(wanted: int) -> str:
        deadline = time.monotonic() + 60  # a bound on a hang, not a timing assertion
        screen = ""
        while time.monotonic() < deadline:
            screen = subprocess.run(
                [*tmux, "capture-pane", "-p"], capture_output=True, text=True, check=True
            ).stdout
            found = _TMUX_LINE.search(screen)
            if found and int(found.group(1)) == wanted:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"the pane never showed {wanted}/200 branches:\n{screen}")

    try:
        first = ended_when(100)  # the first half ended; the rest waits for `a` and `b`
        (tmp_path / "a").touch()
        second = ended_when(150)  # it moved
        assert "tmuxed" in first
        assert "running" in second
        (tmp_path / "b").touch()
    finally:
        (tmp_path / "a").touch()
        (tmp_path / "b").touch()
        subprocess.run([*tmux, "kill-server"], check=False, capture_output=True)
