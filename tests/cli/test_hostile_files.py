"""What is not a workflow file is refused in one line, exit 2: never a traceback, never
a hang (issue 19). Only a regular file is read, at most 16 MiB of it, as UTF-8 text."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from plait.definition import loader

from .conftest import Invoke, Marker

OK = "name: fine\nsteps:\n  - {id: a, tool: noop}\n"


def _fifo(folder: Path) -> Path:
    path = folder / "wf.yaml"
    os.mkfifo(path)  # nobody ever writes to it: reading it would wait forever
    return path


def _folder(folder: Path) -> Path:
    path = folder / "wf.yaml"
    path.mkdir()
    return path


def _binary(folder: Path) -> Path:
    path = folder / "wf.yaml"
    path.write_bytes(b"name: x\nsteps: []\n\x00\x01\x02\x03")
    return path


def _latin1(folder: Path) -> Path:
    path = folder / "wf.yaml"
    path.write_bytes("name: café\nsteps: []\n".encode("latin-1"))
    return path


def _control_character(folder: Path) -> Path:
    path = folder / "wf.yaml"
    path.write_bytes(b"name: x\x07\nsteps: []\n")
    return path


def _symlink_loop(folder: Path) -> Path:
    path = folder / "wf.yaml"
    path.symlink_to(folder / "other.yaml")
    (folder / "other.yaml").symlink_to(path)
    return path


def _too_large(folder: Path) -> Path:
    path = folder / "wf.yaml"
    with path.open("wb") as f:
        f.write(OK.encode())
        f.write(b"#" * loader.MAX_FILE_BYTES)
    return path


@pytest.fixture
def unix_socket(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "wf.yaml"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    try:
        yield path
    finally:
        server.close()


CASES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "fifo": (_fifo, "this is a FIFO (a named pipe), not a file plait can read"),
    "folder": (_folder, "this is a folder, not a file plait can read"),
    "binary": (
        _binary,
        "the file is binary, not YAML or JSON text: a NUL byte at line 3, column 1",
    ),
    "latin-1": (_latin1, "the file is not UTF-8 text: byte 0xe9 at line 1, column 10"),
    "control character": (
        _control_character,
        ":1:8: invalid YAML: the character U+0007 is not allowed in YAML",
    ),
    "symlink loop": (_symlink_loop, "cannot read the file: too many levels of symbolic links"),
    "too large": (_too_large, "the file is larger than 16 MiB"),
    "missing": (lambda folder: folder / "wf.yaml", "no such file"),
}


def _refused(outcome, path: Path | str, expected: str) -> None:  # type: ignore[no-untyped-def]
    assert outcome.exit_code == 2, outcome.stderr
    assert outcome.stdout == ""
    assert "Traceback" not in outcome.stderr
    # (an expected text starting with ':' is the line and column after the file's name)
    sep = "" if expected.startswith(":") else ": "
    assert outcome.problems() == [f"{path}{sep}{expected}"]


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("command", ["validate", "run", "graph"])
def test_a_file_that_is_not_a_workflow_is_refused_in_one_line(
    plait_cli: Invoke, tmp_path: Path, case: str, command: str
) -> None:
    make, expected = CASES[case]
    path = make(tmp_path)
    _refused(plait_cli(command, path), path, expected)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null", "/dev/urandom"])
def test_a_device_is_refused_not_read_until_memory_runs_out(plait_cli: Invoke, device: str) -> None:
    if not Path(device).exists():
        pytest.skip(f"{device} does not exist here")
    _refused(
        plait_cli("validate", device),
        device,
        "this is a character device, not a file plait can read",
    )


def test_a_socket_is_refused(plait_cli: Invoke, unix_socket: Path) -> None:
    _refused(
        plait_cli("validate", unix_socket),
        unix_socket,
        "this is a socket, not a file plait can read",
    )


def test_proc_self_mem_is_refused(plait_cli: Invoke) -> None:
    outcome = plait_cli("validate", "/proc/self/mem")
    assert outcome.exit_code == 2
    assert "Traceback" not in outcome.stderr
    assert outcome.problems()[0].startswith("/proc/self/mem: cannot read the file: ")


def test_an_unreadable_file_is_refused(plait_cli: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(OK, encoding="utf-8")
    path.chmod(0)
    if os.access(path, os.R_OK):
        pytest.skip("running as root, which file permissions do not bind")
    _refused(plait_cli("validate", path), path, "cannot read the file: permission denied")


def test_an_input_file_that_is_a_fifo_is_refused_and_nothing_runs(
    plait_cli: Invoke, tmp_path: Path, marker: Marker
) -> None:
    workflow = tmp_path / "wf.yaml"
    workflow.write_text(f"name: w\nsteps:\n{marker.step}", encoding="utf-8")
    inputs = tmp_path / "inputs.yaml"
    os.mkfifo(inputs)
    outcome = plait_cli("run", workflow, "--input-file", inputs, "--store", "memory://")
    _refused(outcome, inputs, "this is a FIFO (a named pipe), not a file plait can read")
    assert not marker.ran


def test_a_file_of_exactly_the_cap_is_read(tmp_path: Path) -> None:
    path = tmp_path / "wf.yaml"
    path.write_bytes(OK.encode() + b"#" * (loader.MAX_FILE_BYTES - len(OK)))
    assert loader.read_text_file(path).startswith(OK)


def test_a_file_the_os_will_not_open_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Root reads any file, so an unreadable one is made by the OS call failing as it
    # would for another user.
    path = tmp_path / "wf.yaml"
    path.write_text(OK, encoding="utf-8")

    def denied(*_args: object, **_kwargs: object) -> int:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(loader.os, "open", denied)
    with pytest.raises(loader.LoadError) as caught:
        loader.read_text_file(path)
    assert str(caught.value) == f"{path}: cannot read the file: permission denied"
