"""Functions the executor tests run in worker processes (imported there by name:
``executors.work:spin``). Synchronisation across processes goes through files."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import plait
from plait.errors import ToolError
from plait.tools.context import StepContext

PATIENCE = 30.0  # seconds a hanging function waits before it gives up on its own


def spin(ms: float = 5, i: int = 0) -> dict[str, int]:
    """Burn the CPU for ``ms`` milliseconds."""
    end = time.perf_counter() + ms / 1000
    while time.perf_counter() < end:
        pass
    return {"i": i, "pid": os.getpid()}


def pid() -> int:
    return os.getpid()


async def async_pid() -> int:
    """A coroutine function: stays on the event loop, whatever the executor."""
    return os.getpid()


def hang(pid_file: str, stop_file: str | None = None) -> None:
    """Write the pid, then burn the CPU until ``stop_file`` exists (or for PATIENCE)."""
    _write_atomically(pid_file, str(os.getpid()))
    end = time.monotonic() + PATIENCE
    while time.monotonic() < end:
        if stop_file is not None and os.path.exists(stop_file):
            return
        for _ in range(10_000):
            pass


def _write_atomically(path: str, text: str) -> None:
    """The file exists only with its content: a reader never sees it empty."""
    partial = f"{path}.partial"
    Path(partial).write_text(text, encoding="ascii")
    os.replace(partial, path)


def fail(message: str) -> None:
    raise ValueError(message)


def fail_typed(kind: str) -> None:
    raise ToolError(f"failed as {kind}", type=kind)


def fail_chained(key: str) -> None:
    try:
        {}[key]
    except KeyError as exc:
        raise RuntimeError(f"no {key}") from exc


def die(code: int = 3) -> None:
    os._exit(code)


def give_lock() -> Any:
    return threading.Lock()


def count(file: str, fail_unless: str | None = None) -> int:
    """Append a line to ``file`` (how many times it ran); fail unless ``fail_unless``
    exists."""
    with open(file, "a", encoding="ascii") as f:
        f.write("x\n")
    if fail_unless is not None and not os.path.exists(fail_unless):
        raise RuntimeError("not yet")
    return len(Path(file).read_text(encoding="ascii").splitlines())


@plait.tool("exec_sync")
def exec_sync(x: int, ctx: StepContext) -> dict[str, Any]:
    """A sync user tool that takes the step's context."""
    return {"x": x * 2, "pid": os.getpid(), "step": ctx.step_id, "node": ctx.node_id}


@plait.tool("exec_async")
async def exec_async() -> int:
    """An async user tool: stays on the event loop."""
    return os.getpid()


def wait_files(*paths: str) -> int:
    """Return once every file exists (or after PATIENCE)."""
    end = time.monotonic() + PATIENCE
    while time.monotonic() < end and not all(os.path.exists(p) for p in paths):
        time.sleep(0.01)
    return os.getpid()
