"""Helpers for CLI tests: run ``plait`` in-process, write workflow files, spot side effects."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from plait.cli.app import app


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def problems(self) -> list[str]:
        """The problem lines of stderr, without the ``error: `` prefix."""
        return [
            line.removeprefix("error: ")
            for line in self.stderr.splitlines()
            if line.startswith("error: ")
        ]


Invoke = Callable[..., Outcome]
Write = Callable[[str, str], Path]


@pytest.fixture
def plait_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """``plait_cli("run", path, "--json")``: the exit code, stdout and stderr.

    Runs in tmp_path, so nothing a run records lands in the working tree. An exception
    other than the CLI's own exit is re-raised: the user would have seen a traceback, and
    the test should fail with it.
    """
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def invoke(*args: object) -> Outcome:
        result = runner.invoke(app, [str(a) for a in args])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Outcome(result.exit_code, result.stdout, result.stderr)

    return invoke


@dataclass(frozen=True)
class Marker:
    """A ``python`` tool step that creates ``path`` when it runs."""

    path: Path
    step: str

    @property
    def ran(self) -> bool:
        return self.path.exists()


@pytest.fixture
def marker(tmp_path: Path) -> Marker:
    """A step (YAML text, indented for a step list) whose function creates a marker file."""
    module = f"marker_{uuid.uuid4().hex}"
    (tmp_path / f"{module}.py").write_text(
        "from pathlib import Path\n\n\n"
        "def touch(path):\n"
        "    Path(path).write_text('ran')\n"
        "    return 'ran'\n",
        encoding="utf-8",
    )
    path = tmp_path / "ran.marker"
    step = (
        "  - id: side_effect\n"
        "    tool: python\n"
        f"    input: {{function: '{module}:touch', args: {{path: {json.dumps(str(path))}}}}}\n"
    )
    return Marker(path, step)
