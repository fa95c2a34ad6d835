"""An instrumented tool for the property tests, and the checks made with what it saw.

    gauge = Gauge(run, limits)            # one per example; install() makes it current
    {"tool": "gauge", "input": {"pool": "p0", "group": "g1", "sleep": 0.004}}

Every call of the ``gauge`` tool (and of ``gauge_sync``) notes, at its first line, the
run's view of its dependencies (each must have ended; a live one's call must have
returned), its enclosing group or map (still running), and how many calls are in each
pool, group window and map window at once. A broken rule is written down, never
raised: the tool's exception would only fail its step, and the run would go on.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import plait
from plait.engine.ready import Edge
from plait.engine.run import Run
from plait.engine.state import StepState
from plait.errors import ToolError
from plait.status import StepStatus


@dataclass
class Limits:
    """What the generated workflow promised: slots per pool, per group, per map."""

    pools: dict[str, int]
    groups: dict[str, int] = field(default_factory=dict)
    maps: dict[str, int] = field(default_factory=dict)


class Gauge:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.run: Run | None = None
        self.seq = 0
        self.log: list[tuple[int, str, str]] = []  # (seq, "start"|"end", node id)
        self.running: Counter[str] = Counter()  # node id -> calls in progress
        self.active: Counter[str] = Counter()  # "pool:p0", "group:g1", "map:m0" -> calls
        self.peak: Counter[str] = Counter()
        self.violations: list[str] = []
        self.starts = 0
        self.on_start: Any = None  # called with the number of calls started so far

    # -- what the tool calls ----------------------------------------------------------

    def enter(self, node_id: str, keys: list[str]) -> None:
        self._check_start(node_id)
        self.seq += 1
        self.log.append((self.seq, "start", node_id))
        self.running[node_id] += 1
        for key in keys:
            self.active[key] += 1
            self.peak[key] = max(self.peak[key], self.active[key])
        self.starts += 1
        if self.on_start is not None:
            self.on_start(self.starts)

    def leave(self, node_id: str, keys: list[str], how: str) -> None:
        self.seq += 1
        self.log.append((self.seq, how, node_id))
        self.running[node_id] -= 1
        for key in keys:
            self.active[key] -= 1

    # -- the rules at a start ---------------------------------------------------------

    def _check_start(self, node_id: str) -> None:
        run = self.run
        if run is None:
            self.violations.append(f"{node_id} started with no run")
            return
        me = state_of(run, node_id)
        if me is None:
            self.violations.append(f"{node_id} started but the run has no such node")
            return
        if me.done:
            self.violations.append(f"{node_id} started after it was ended ({me.status.value})")
        plan = me.frame.plan if me.frame is not None else run.plan
        suffix = me.frame.suffix if me.frame is not None else ""
        for dep_index in me.node.deps:
            dep_id = plan.nodes[dep_index].id + suffix
            dep = state_of(run, dep_id)
            if dep is None or not dep.done:
                status = dep.status.value if dep is not None else "missing"
                self.violations.append(
                    f"{node_id} started before its dependency {dep_id} ended ({status})"
                )
            elif dep.edge is Edge.LIVE and self.running[dep_id]:
                self.violations.append(
                    f"{node_id} started while its live dependency {dep_id} was still in its tool"
                )
        if me.node.group is not None:
            group = state_of(run, plan.nodes[me.node.group].id + suffix)
            if group is None or group.done or group.status is not StepStatus.RUNNING:
                self.violations.append(f"{node_id} started outside its running group")
        if me.frame is not None:
            owner = state_of(run, me.frame.parent_id)
            if owner is None or owner.done:
                self.violations.append(f"{node_id} started after its map/loop ended")


def state_of(run: Run, node_id: str) -> StepState | None:
    """A node of the workflow or of a body graph still running (the engine's own
    records: a test looks inside)."""
    for st in live_states(run):
        if st.node_id == node_id:
            return st
    return None


def live_states(run: Run) -> Iterator[StepState]:
    """The states of the workflow's nodes and of every body graph still running."""
    graphs: list[Any] = [run._graph]
    while graphs:
        graph = graphs.pop()
        yield from graph.states
        for body in graph.bodies.values():
            graphs.extend(body.live.values())


@dataclass(frozen=True)
class Ended:
    """A node of a body graph that ended, as the run keeps it (engine/finished.py)."""

    node_id: str
    node: Any
    status: StepStatus
    done: bool = True
    task: None = None


def all_states(run: Run) -> Iterator[StepState | Ended]:
    yield from live_states(run)
    for node_id, node, status in run._session.records.rows():
        yield Ended(node_id, node, status)


_current: Gauge | None = None


def install(gauge: Gauge | None) -> None:
    global _current
    _current = gauge


def _keys(pool: str, group: str | None, map_id: str | None) -> list[str]:
    keys = [f"pool:{pool}"]
    if group is not None:
        keys.append(f"group:{group}")
    if map_id is not None:
        keys.append(f"map:{map_id}")
    return keys


@plait.tool("gauge")
async def gauge_tool(
    ctx: plait.StepContext,
    pool: str = "default",
    group: str | None = None,
    map: str | None = None,
    sleep: float = 0.0,
    outcome: str = "ok",
) -> str:
    """Counted while it runs; sleeps (cancellably), then succeeds, fails, or fails on
    its first attempt only (``flaky``)."""
    gauge = _current
    assert gauge is not None, "install a Gauge first"
    keys = _keys(pool, group, map)
    gauge.enter(ctx.node_id, keys)
    how = "cancelled"
    try:
        if sleep:
            await asyncio.sleep(sleep)
        if outcome == "fail" or (outcome == "flaky" and ctx.attempt < 2):
            how = "failed"
            raise ToolError(f"{ctx.node_id} failed on purpose", type="Boom")
        how = "end"
        return ctx.node_id
    finally:
        gauge.leave(ctx.node_id, keys, how)


@plait.tool("gauge_sync")
def gauge_sync_tool(ctx: plait.StepContext, outcome: str = "ok") -> str:
    """A plain function: it runs in one of the run's threads. Not counted (a thread
    whose step was cancelled may outlive its slot, by design); it only returns."""
    if outcome == "fail":
        raise ToolError(f"{ctx.node_id} failed on purpose", type="Boom")
    return threading.current_thread().name


def child_processes() -> list[int]:
    """Pids of this process's children (Linux /proc), zombies included: a child that
    was killed but never reaped is a leak too."""
    me = os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses; split after it
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == me:
            found.append(int(entry.name))
    return found
