"""A store plait cannot use is refused in one line, exit 2, and left exactly as it was.

For each bad store, ``plait run``, ``plait runs list`` and ``plait resume`` each print
one line on stderr, exit 2, print no traceback and run nothing; the store file's bytes
(and its folder's listing: no ``-wal``, ``-shm`` or ``-journal`` left beside it) are
unchanged afterwards.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from e2e_support import Processes

from plait.store import open_store

UNREACHABLE = "postgresql://postgres@127.0.0.1:1/x"

MARKER_STEP = """
def touch(path):
    with open(path, "w") as f:
        f.write("ran")
    return "ran"
"""


def _plait_store(path: Path) -> None:
    open_store(str(path)).close()


def _foreign(path: Path) -> None:
    with sqlite3.connect(path) as db:  # rollback-journal mode, as most databases are
        db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        db.execute("INSERT INTO notes (body) VALUES ('not plait')")
    db.close()


def _random_bytes(path: Path) -> None:
    path.write_bytes(os.urandom(16384))


def _damaged_sqlite(path: Path) -> None:
    path.write_bytes(b"SQLite format 3\x00" + os.urandom(16384))


def _newer(path: Path) -> None:
    _plait_store(path)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE plait_schema SET version = 999")
    db.close()


class ReadOnly:
    """Makes paths read-only in a way that binds even root: chmod, and where root
    bypasses permissions (as in these tests' container), ``chattr +i`` as well.
    ``undo`` gives every path its mode back, so the folder can be cleaned up."""

    def __init__(self) -> None:
        self._modes: list[tuple[Path, int]] = []
        self._immutable: list[Path] = []

    def __call__(self, path: Path, mode: int) -> None:
        self._modes.append((path, path.stat().st_mode))
        path.chmod(mode)
        if not os.access(path, os.W_OK):
            return
        chattr = shutil.which("chattr")
        flag = [chattr, "+i", str(path)] if chattr else None
        if flag is None or subprocess.run(flag, capture_output=True, check=False).returncode:
            pytest.skip(
                f"{path} stays writable after chmod: running as root, which file "
                "permissions do not bind, and chattr +i is not available here"
            )
        self._immutable.append(path)
        assert not os.access(path, os.W_OK)

    def undo(self) -> None:
        for path in reversed(self._immutable):
            subprocess.run(["chattr", "-i", str(path)], capture_output=True, check=False)
        for path, mode in reversed(self._modes):
            path.chmod(mode)
        self._immutable.clear()
        self._modes.clear()


@pytest.fixture
def read_only() -> Iterator[ReadOnly]:
    made = ReadOnly()
    try:
        yield made
    finally:
        made.undo()


def _read_only_file(path: Path, read_only: ReadOnly) -> None:
    _plait_store(path)
    read_only(path, 0o444)


def _read_only_folder(path: Path, read_only: ReadOnly) -> None:
    _plait_store(path)
    read_only(path.parent, 0o555)


CASES: dict[str, Callable[[Path, ReadOnly], None]] = {
    "foreign-database": lambda p, _: _foreign(p),
    "random-bytes": lambda p, _: _random_bytes(p),
    "damaged-sqlite": lambda p, _: _damaged_sqlite(p),
    "read-only-file": _read_only_file,
    "read-only-folder": _read_only_folder,
    "newer-schema": lambda p, _: _newer(p),
}
# Every command opens its store the same way: the cases beyond the usual five try one
# command, to keep the processes (each ~1 s of imports) few.
ONE_COMMAND = {"damaged-sqlite": ("runs list",), "read-only-folder": ("runs list",)}

EXPECTED = {
    "foreign-database": "is not a plait store (it has other tables: notes)",
    "random-bytes": "the file is not an SQLite database",
    "damaged-sqlite": "file is not a database",
    "read-only-file": "the file is not readable and writable",
    "read-only-folder": "its folder is not writable",
    "newer-schema": "has schema version 999, newer than this plait knows",
    "unreachable-postgres": f"store {UNREACHABLE}: cannot open: connection failed",
}


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file of the folder and a hash of its bytes."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


def _every_command_refuses(
    tmp_path: Path, url: str, expected: str, only: tuple[str, ...] | None = None
) -> None:
    folder = tmp_path / "workflow"
    folder.mkdir()
    (folder / "marker_step.py").write_text(MARKER_STEP, encoding="utf-8")
    marker = folder / "ran.marker"
    workflow = folder / "wf.yaml"
    workflow.write_text(
        "name: bad-store-e2e\nsteps:\n  - id: touch\n    tool: python\n"
        f"    input: {{function: 'marker_step:touch', args: {{path: '{marker}'}}}}\n",
        encoding="utf-8",
    )
    commands = {
        "run": ("run", workflow, "--store", url, "--json"),
        "runs list": ("runs", "list", "--store", url),
        "resume": ("resume", "0123abcd", "--store", url, "--json"),
    }
    if only is not None:
        commands = {name: commands[name] for name in only}
    procs = Processes(folder)
    try:
        started = {name: procs.start(*argv) for name, argv in commands.items()}
        ended = {name: proc.communicate(timeout=60) for name, proc in started.items()}
    finally:
        procs.close()
    for name, (out, err) in ended.items():
        assert started[name].returncode == 2, (name, err)
        assert "Traceback" not in err, (name, err)
        assert out == "", (name, out)
        lines = err.strip().splitlines()
        assert len(lines) == 1, (name, err)
        assert lines[0].startswith("error: "), (name, err)
        assert expected in lines[0], (name, err)
    assert not marker.exists(), "plait run ran a step on a store it cannot use"


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_sqlite_store_is_refused_in_one_line_and_left_unchanged(
    case: str, tmp_path: Path, read_only: ReadOnly
) -> None:
    folder = tmp_path / "store"
    folder.mkdir()
    path = folder / "plait.db"
    CASES[case](path, read_only)
    before = _snapshot(folder)
    assert list(before) == ["plait.db"]

    _every_command_refuses(tmp_path, str(path), EXPECTED[case], ONE_COMMAND.get(case))
    assert _snapshot(folder) == before


def test_an_unreachable_postgresql_is_refused_in_one_line(tmp_path: Path) -> None:
    _every_command_refuses(tmp_path, UNREACHABLE, EXPECTED["unreachable-postgres"])
