"""Helpers for executor tests: workflows of ``python`` steps, and waiting on files that
worker processes write."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import plait

WORK = "executors.work"


def py(id: str, fn: str, args: Any = None, **keys: Any) -> dict[str, Any]:
    """A ``python`` step calling ``executors.work:<fn>``."""
    return {
        "id": id,
        "tool": "python",
        "input": {"function": f"{WORK}:{fn}", "args": args if args is not None else {}},
        **keys,
    }


def failing_steps() -> list[dict[str, Any]]:
    """A plain failure and a typed one retried once: what an executor must report as the
    local executor does (type, message, attempts)."""
    return [
        py("plain", "fail", {"message": "bad input"}, continueOnError=True),
        py(
            "typed",
            "fail_typed",
            {"kind": "Flaky"},
            continueOnError=True,
            retry={"maxAttempts": 2, "backoff": {"initial": 0}, "retryOn": ["Flaky"]},
        ),
    ]


def workflow(*steps: dict[str, Any], **settings: Any) -> plait.Workflow:
    return plait.Workflow.from_dict({"name": "executors", "steps": list(steps), **settings})


def statuses(result: plait.RunResult) -> dict[str, str]:
    return {sid: s.status.value for sid, s in result.steps.items()}


async def until_exists(path: Path, timeout: float = 30.0) -> None:
    """Wait for a file a worker writes (a cross-process event)."""
    async with asyncio.timeout(timeout):
        # Another process writes it: there is no event to await, so poll.
        while not os.path.exists(path):  # noqa: ASYNC110, ASYNC240
            await asyncio.sleep(0.01)


def pid_in(path: Path) -> int:
    return int(path.read_text(encoding="ascii"))


def alive(pid: int) -> bool:
    """Whether a process exists (a zombie counts: it was not reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
