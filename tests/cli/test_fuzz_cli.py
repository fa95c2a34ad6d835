"""Every ``plait`` command, every argument, a corpus of hostile values: the command
answers with exit status 0, 1 or 2, never a traceback, and returns (pytest-timeout
guards a hang) (issue 19).

The values: huge and negative numbers, empty and blank strings, a NUL byte (in
process: no OS passes one in argv), very long strings, unicode and a lone surrogate,
option-like text, and paths to what is no workflow file or store: /dev/null,
/dev/zero, /proc/self/mem, a FIFO, a socket, a symlink loop, a folder. Each pair runs
in process through typer's CliRunner; a few run as real processes too.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from plait.cli.app import app

OK_WORKFLOW = "name: fuzzed\nsteps:\n  - {id: a, tool: noop}\n"

# Values that do not depend on the test's folder.
PLAIN = {
    "empty": "",
    "blank": "   ",
    "zero": "0",
    "negative": "-1",
    "huge": "9" * 400,
    "huge float": "1e309",
    "not a number": "NaN",
    "long": "x" * 100_000,
    "unicode": "ñ日本🙂\u202e",
    "lone surrogate": "\udcff",
    "nul": "a\x00b",
    "newline": "a\nb",
    "markup": "[bold]x[/]",
    "option": "--json",
    "equals": "A=B=C",
    "dash": "-",
    "pair of long": "K" * 10_000 + "=" + "V" * 10_000,
    "dev null": "/dev/null",
    "dev zero": "/dev/zero",
    "proc mem": "/proc/self/mem",
    "root": "/",
    "like wildcards": "%_%",
    "sql": "'; DROP TABLE runs; --",
    "url": "bogus://x",
    "sqlite url to a folder": "sqlite:////",
    "postgres garbage": "postgresql://u:p@h:notaport/db",
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("fuzz")
    (path / "ok.yaml").write_text(OK_WORKFLOW, encoding="utf-8")
    os.mkfifo(path / "fifo")
    (path / "dir").mkdir()
    (path / "loop").symlink_to(path / "loop2")
    (path / "loop2").symlink_to(path / "loop")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path / "sock"))
    try:
        yield path
    finally:
        server.close()


def hostile(folder: Path) -> dict[str, str]:
    return {
        **PLAIN,
        "fifo": str(folder / "fifo"),
        "folder": str(folder / "dir"),
        "symlink loop": str(folder / "loop"),
        "socket": str(folder / "sock"),
    }


# Each command line with one hostile value in place of "{}".
COMMANDS = [
    ("run", "{}", "--store", "memory://"),
    ("run", "ok.yaml", "--input", "{}", "--store", "memory://"),
    ("run", "ok.yaml", "--input-file", "{}", "--store", "memory://"),
    ("run", "ok.yaml", "--allow-env", "{}", "--store", "memory://"),
    ("run", "ok.yaml", "--executor", "{}", "--store", "memory://"),
    ("run", "ok.yaml", "--store", "{}"),
    ("validate", "{}"),
    ("graph", "{}"),
    ("graph", "ok.yaml", "--format", "{}"),
    ("runs", "list", "--status", "{}"),
    ("runs", "list", "--workflow", "{}"),
    ("runs", "list", "--limit", "{}"),
    ("runs", "list", "--store", "{}", "--json"),
    ("runs", "show", "{}"),
    ("runs", "show", "{}", "--json"),
    ("resume", "{}"),
    ("resume", "{}", "--input", "{}", "--from-failure"),
    ("cancel", "{}"),
    ("stats", "{}"),
    ("stats", "--store", "{}", "--json"),
]

runner = CliRunner()


def _argv(command: tuple[str, ...], value: str) -> list[str]:
    return [value if part == "{}" else part for part in command]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_every_command_answers_every_hostile_value(
    folder: Path, command: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(folder)
    monkeypatch.setenv("PLAIT_STORE", str(folder / "plait.db"))
    for label, value in hostile(folder).items():
        argv = _argv(command, value)
        result = runner.invoke(app, argv, input="")
        where = f"{label}: plait {' '.join(a[:40] for a in argv)!r}"
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"{where} raised {result.exception!r}") from result.exception
        assert result.exit_code in (0, 1, 2), (where, result.exit_code, result.stderr[-2000:])
        assert "Traceback" not in result.stdout + result.stderr, (where, result.stderr[-2000:])
        if result.exit_code == 2 and result.stderr:
            assert result.stderr.lstrip().startswith("error"), (where, result.stderr[-2000:])


# -- a few as real processes: what argv and a real terminal-less process do ------------


def _env(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PLAIT_STORE"}
    env["PLAIT_STORE"] = str(folder / "plait.db")
    return env


@pytest.mark.parametrize(
    "argv",
    [
        ("validate", "/dev/zero"),
        ("run", "fifo"),
        ("runs", "list", "--limit", str(10**30)),
        ("runs", "show", "ñ" * 5000),
        ("runs", "list", "--store", "dir"),
        ("stats", "--store", "loop"),
        ("graph", "sock"),
    ],
    ids=lambda a: " ".join(x[:20] for x in a),
)
def test_hostile_values_as_real_processes(folder: Path, argv: tuple[str, ...]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "plait", *argv],
        cwd=folder,
        env=_env(folder),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: "), proc.stderr
    assert proc.stdout == ""


def test_a_workflow_file_whose_name_is_not_utf8_runs_and_is_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Linux hands Python such a name with a lone surrogate (surrogateescape); a store
    # holds UTF-8 text, so the path is recorded with the odd byte written as \\xff.
    monkeypatch.chdir(tmp_path)
    name = os.fsdecode(b"odd\xffname.yaml")
    (tmp_path / name).write_text(OK_WORKFLOW, encoding="utf-8")
    store = str(tmp_path / "p.db")
    result = runner.invoke(app, ["run", name, "--store", store, "--json"])
    assert result.exit_code == 0, result.stderr
    listed = runner.invoke(app, ["runs", "list", "--store", store, "--json"])
    assert listed.exit_code == 0, listed.stderr
    assert '"workflow": "fuzzed"' in listed.stdout
