"""Run the workflows of examples/ as their header comments say (``plait run FILE --json``),
and keep the list of examples that a test runs.

Every test that runs an example says which with ``@runs("name.yaml")``; the test
``test_every_example_is_run_by_a_test`` compares that list with the files in examples/,
so a new example without a test fails the suite.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar
from unittest import mock

from typer.testing import CliRunner, Result

from plait.cli.app import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
WORKFLOW_SUFFIXES = (".yaml", ".yml", ".json")

RUN_BY_TESTS: set[str] = set()

F = TypeVar("F", bound=Callable[..., Any])


def runs(*names: str) -> Callable[[F], F]:
    """Mark a test as one that runs these example files (names in examples/)."""
    for name in names:
        assert (EXAMPLES / name).is_file(), f"no example {name!r} in {EXAMPLES}"
    RUN_BY_TESTS.update(names)

    def mark(test: F) -> F:
        return test

    return mark


def example_files() -> list[str]:
    return sorted(p.name for p in EXAMPLES.iterdir() if p.suffix in WORKFLOW_SUFFIXES)


def _exit_command(code: int) -> None:
    raise SystemExit(code)


@contextmanager
def _os_exit_ends_the_command() -> Iterator[None]:
    """``plait run`` ends with ``os._exit`` when a step thread the run left busy (a plain
    function whose step timed out) is still alive. In this process that would stop
    pytest part-way with status 0; here it ends the command, as ``SystemExit`` does."""
    with mock.patch.object(os, "_exit", _exit_command):
        yield


def _invoke(args: list[str]) -> Result:
    with _os_exit_ends_the_command():
        result = CliRunner().invoke(app, args)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def plait_run(path: Path | str, *inputs: str, exit_code: int = 0) -> dict[str, Any]:
    """``plait run PATH --json --input K=V ...``: the run document. ``path`` may be a name
    in examples/."""
    full = EXAMPLES / path if isinstance(path, str) else path
    args = ["run", str(full), "--json"]
    for given in inputs:
        args += ["--input", given]
    result = _invoke(args)
    assert result.exit_code == exit_code, result.stderr or result.stdout
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def plait_validate(path: Path) -> tuple[int, str]:
    result = _invoke(["validate", str(path)])
    return result.exit_code, result.stdout + result.stderr


def load_example_module(filename: str) -> ModuleType:
    """Import a helper module of examples/ (a server) under a name of its own."""
    spec = importlib.util.spec_from_file_location(
        f"example_{filename.removesuffix('.py')}", EXAMPLES / filename
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- reading a run document -----------------------------------------------------------


def statuses(doc: dict[str, Any], ids: Iterable[str]) -> dict[str, str]:
    return {node: doc["steps"][node]["status"] for node in ids}


def interval(doc: dict[str, Any], node: str) -> tuple[datetime, datetime]:
    step = doc["steps"][node]
    return datetime.fromisoformat(step["started_at"]), datetime.fromisoformat(step["finished_at"])


def ended(doc: dict[str, Any], node: str) -> datetime:
    return interval(doc, node)[1]


def started_before_end_of(doc: dict[str, Any], first: str, second: str) -> bool:
    """``first`` started before ``second`` ended (they overlapped, or first came first)."""
    return interval(doc, first)[0] < interval(doc, second)[1]


def ran_after(doc: dict[str, Any], later: str, earlier: str) -> bool:
    return interval(doc, earlier)[1] <= interval(doc, later)[0]


def most_at_once(doc: dict[str, Any], nodes: Iterable[str]) -> int:
    """The most of these nodes that were running at the same moment."""
    events: list[tuple[datetime, int]] = []
    for node in nodes:
        start, end = interval(doc, node)
        events += [(start, 1), (end, -1)]
    running = peak = 0
    for _, change in sorted(events):  # at equal times an end (-1) sorts before a start
        running += change
        peak = max(peak, running)
    return peak
