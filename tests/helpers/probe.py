"""A probe tool for engine tests: steps that wait on events the test controls, and a
record of what started, ended, was cancelled, and how many ran at once.

    probe = Probe()                       # a fixture
    {"id": "a", "tool": "probe", "input": {"name": "a", "wait": "go-a"}}
    task = asyncio.create_task(wf.run())
    await probe.started("a")              # a is running now
    probe.release("go-a")                 # let it finish
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest

import plait
from plait.errors import ToolError


class Probe:
    def __init__(self) -> None:
        self.events: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self.log: list[tuple[str, str]] = []
        self.active = 0
        self.peak = 0
        self.started_names: list[str] = []
        self.finished: list[str] = []
        self.cancelled: list[str] = []

    async def started(self, name: str) -> None:
        await asyncio.wait_for(self.events[f"started:{name}"].wait(), 10)

    async def ended(self, name: str) -> None:
        await asyncio.wait_for(self.events[f"ended:{name}"].wait(), 10)

    def release(self, *names: str) -> None:
        for name in names:
            self.events[name].set()

    def order(self) -> list[str]:
        return [f"{kind}:{name}" for kind, name in self.log]


_current: Probe | None = None


@plait.tool("probe")
async def probe_tool(
    name: str,
    wait: str | None = None,
    output: Any = None,
    fail: str | None = None,
    sleep: float = 0.0,
) -> Any:
    """A step the test drives: waits for event ``wait``, sleeps, fails or returns."""
    probe = _current
    assert probe is not None, "use the probe fixture"
    probe.log.append(("start", name))
    probe.started_names.append(name)
    probe.active += 1
    probe.peak = max(probe.peak, probe.active)
    probe.events[f"started:{name}"].set()
    try:
        if wait is not None:
            await probe.events[wait].wait()
        if sleep:
            await asyncio.sleep(sleep)
        if fail is not None:
            raise ToolError(fail, type="Boom")
        # A side effect after the cancel points: it must never happen for a cancelled step.
        probe.log.append(("end", name))
        probe.finished.append(name)
        return name if output is None else output
    except asyncio.CancelledError:
        probe.cancelled.append(name)
        raise
    finally:
        probe.active -= 1
        probe.events[f"ended:{name}"].set()


@plait.tool("thread_name")
def thread_name() -> str:
    """A sync tool: reports the thread it ran in."""
    return threading.current_thread().name


@pytest.fixture
def probe() -> Iterator[Probe]:
    global _current
    _current = Probe()
    yield _current
    _current = None


def step(id: str, **keys: Any) -> dict[str, Any]:
    """A probe step named after its id."""
    inp = {"name": id}
    for key in ("wait", "output", "fail", "sleep"):
        if key in keys:
            inp[key] = keys.pop(key)
    return {"id": id, "tool": "probe", "input": inp, **keys}


def workflow(*steps: dict[str, Any], **settings: Any) -> plait.Workflow:
    return plait.Workflow.from_dict({"name": "test", "steps": list(steps), **settings})


def group(id: str, members: list[str], **keys: Any) -> dict[str, Any]:
    extra = {k: keys.pop(k) for k in list(keys) if k in ("dependsOn", "id_", "output")}
    return {"id": id, "parallelGroup": {"steps": members, **keys}, **extra}


def statuses(result: plait.RunResult) -> dict[str, str]:
    return {sid: s.status.value for sid, s in result.steps.items()}
