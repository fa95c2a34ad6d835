"""``--store`` and ``--limit`` that plait cannot use: one line, exit 2, no traceback,
never a hang (issue 19). Each case is tried on ``runs list`` (and a few on ``run``)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import Invoke, Marker


@pytest.fixture
def unix_socket(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "store.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    try:
        yield path
    finally:
        server.close()


def _one_line(outcome, *needles: str) -> str:  # type: ignore[no-untyped-def]
    assert outcome.exit_code == 2, (outcome.stdout, outcome.stderr)
    assert "Traceback" not in outcome.stderr
    assert outcome.stdout == ""
    lines = outcome.stderr.strip().splitlines()
    assert len(lines) == 1, outcome.stderr
    assert lines[0].startswith("error: "), outcome.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return str(lines[0])


def test_a_folder_as_the_store_is_refused(plait_cli: Invoke, tmp_path: Path) -> None:
    folder = tmp_path / "runs"
    folder.mkdir()
    for url in (str(folder), f"sqlite:///{folder}"):
        _one_line(
            plait_cli("runs", "list", "--store", url),
            f"store {folder}: this is a folder, not an SQLite database file",
        )


def test_a_fifo_as_the_store_is_refused_without_waiting(plait_cli: Invoke, tmp_path: Path) -> None:
    fifo = tmp_path / "plait.db"
    os.mkfifo(fifo)
    _one_line(plait_cli("runs", "list", "--store", fifo), "this is a FIFO (a named pipe)")


def test_a_device_or_socket_as_the_store_is_refused(plait_cli: Invoke, unix_socket: Path) -> None:
    _one_line(plait_cli("runs", "list", "--store", "/dev/null"), "this is a character device")
    _one_line(plait_cli("runs", "list", "--store", unix_socket), "this is a socket")


def test_a_file_that_is_not_a_database_is_refused(plait_cli: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello\n", encoding="utf-8")
    _one_line(plait_cli("runs", "list", "--store", path), "the file is not an SQLite database")
    assert path.read_text(encoding="utf-8") == "hello\n"


def test_a_path_that_cannot_be_used_is_refused(plait_cli: Invoke, tmp_path: Path) -> None:
    loop = tmp_path / "loop.db"
    loop.symlink_to(tmp_path / "other.db")
    (tmp_path / "other.db").symlink_to(loop)
    _one_line(plait_cli("runs", "list", "--store", loop), "too many levels of symbolic links")
    _one_line(plait_cli("runs", "list", "--store", "x" * 5000), "cannot use this path")
    _one_line(plait_cli("runs", "list", "--store", "/proc/self/mem"), "store /proc/self/mem")
    _one_line(
        plait_cli("runs", "list", "--store", "/proc/no-such-folder/plait.db"),
        "cannot create its folder",
    )


def test_an_unwritable_place_is_refused(plait_cli: Invoke) -> None:
    # /proc/self is a folder no one may create files in, root included.
    _one_line(plait_cli("runs", "list", "--store", "/proc/self/plait.db"), "store /proc/self/")


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("bogus://x", "unknown store 'bogus://x'"),
        ("http://example.com/db", "unknown store"),
        ("postgresql://x:secret@h:notaport/db", "not a PostgreSQL URL plait can use"),
        ("postgres://[::1", "not a PostgreSQL URL plait can use"),
        ("postgresql+nodriver://x/db", "not a PostgreSQL URL plait can use"),
        ("", "--store is empty"),
        ("   ", "--store is empty"),
    ],
)
def test_a_url_plait_cannot_use_is_refused(plait_cli: Invoke, url: str, needle: str) -> None:
    line = _one_line(plait_cli("runs", "list", "--store", url), needle)
    assert "secret" not in line  # a password is never printed


def test_run_on_a_bad_store_runs_nothing(plait_cli: Invoke, tmp_path: Path, marker: Marker) -> None:
    workflow = tmp_path / "wf.yaml"
    workflow.write_text(f"name: w\nsteps:\n{marker.step}", encoding="utf-8")
    _one_line(plait_cli("run", workflow, "--store", tmp_path), "this is a folder")
    assert not marker.ran


@pytest.mark.parametrize(
    ("limit", "needle"),
    [
        ("0", "greater than or equal to 1"),
        ("-5", "greater than or equal to 1"),
        (str(10**30), "less than or equal to 1000000"),
        ("abc", "valid integer"),
        ("1e3", "valid integer"),
        ("", "valid integer"),
    ],
)
def test_a_limit_out_of_range_is_one_line(
    plait_cli: Invoke, tmp_path: Path, limit: str, needle: str
) -> None:
    line = _one_line(
        plait_cli("runs", "list", "--limit", limit, "--store", tmp_path / "p.db"),
        "Invalid value for '--limit'",
        needle,
    )
    assert line.endswith("--help')")


def test_usage_errors_are_one_line(plait_cli: Invoke) -> None:
    _one_line(plait_cli("runs", "list", "--bogus"), "No such option: --bogus")
    _one_line(plait_cli("frob"), "No such command 'frob'")
    _one_line(plait_cli("run"), "Missing argument 'file'")
    _one_line(plait_cli("runs", "list", "--status", "weird"), "'weird' is not one of")


@pytest.mark.parametrize("name", ["A B", "1X", "A=B", "", "x" * 201])
def test_allow_env_must_name_a_variable(
    plait_cli: Invoke, tmp_path: Path, marker: Marker, name: str
) -> None:
    workflow = tmp_path / "wf.yaml"
    workflow.write_text(f"name: w\nsteps:\n{marker.step}", encoding="utf-8")
    outcome = plait_cli("run", workflow, "--allow-env", name, "--store", "memory://")
    _one_line(outcome, "--allow-env: ", "environment variable name")
    assert not marker.ran
