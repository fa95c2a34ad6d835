"""Hypothesis strategies: small random workflows as the dicts a file would hold.

A workflow is a list of blocks: a task, a group of blocks (nested at most twice) or a
map whose body is one or two tasks. Laid out in preorder (a group just before its
members), a step may depend on any step laid out before it except the groups that
contain it, which keeps the graph acyclic without rejecting examples.

Tasks are ``gauge`` calls (counted, sleeping, failing or flaky), ``fail`` (the
built-in), ``gauge_sync`` (a thread) or, rarely, ``shell`` (a subprocess that only a
timeout ends). Any of them may carry a timeout, a retry policy, continueOnError and a
pool; named pools may have a rate; groups carry a strategy, a window, a timeout; the
run may carry a maxDuration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from properties.gauge import Limits

STRATEGIES = ["all", "any", "allSettled", "race"]
SLEEPS = [0, 0.001, 0.004, 0.01]


@dataclass
class Generated:
    data: dict[str, Any]
    limits: Limits
    kinds: dict[str, str] = field(default_factory=dict)  # step id -> task kind


@dataclass
class _Layout:
    draw: Any
    pools: list[str]
    limits: Limits
    steps: list[dict[str, Any]] = field(default_factory=list)
    order: list[str] = field(default_factory=list)  # ids in preorder
    ancestors: dict[str, set[str]] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    counter: int = 0

    def new_id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"


@st.composite
def workflows(draw: Any) -> Generated:
    pools = {"default": draw(st.integers(1, 4))}
    for i in range(draw(st.integers(0, 2))):
        pools[f"p{i}"] = draw(st.integers(1, 3))
    limits = Limits(pools=dict(pools))
    layout = _Layout(draw, list(pools), limits)
    for _ in range(draw(st.integers(1, 6))):
        _block(layout, depth=0, parents=set(), group=None)
    data: dict[str, Any] = {
        "name": "generated",
        "parallelConfig": {"maxConcurrent": pools["default"]},
        "pools": {name: _pool(draw, n) for name, n in pools.items() if name != "default"},
        "steps": layout.steps,
    }
    if draw(st.integers(0, 9)) == 0:
        data["parallelConfig"]["queueSize"] = draw(st.integers(0, 2))
    if draw(st.integers(0, 6)) == 0:
        data["maxDuration"] = draw(st.sampled_from(["3ms", "15ms"]))
    return Generated(data, limits, layout.kinds)


def _pool(draw: Any, limit: int) -> dict[str, Any]:
    """A named pool: a slot limit and, sometimes, a rate (a token bucket) on top."""
    pool: dict[str, Any] = {"maxConcurrent": limit}
    if draw(st.integers(0, 2)) == 0:
        pool["rate"] = draw(st.sampled_from(["500/s", "2000/s"]))
        if draw(st.booleans()):
            pool["burst"] = draw(st.integers(1, 3))
    return pool


def _block(layout: _Layout, depth: int, parents: set[str], group: str | None) -> str:
    draw = layout.draw
    kind = draw(st.sampled_from(["task"] * 6 + ["group"] * 2 + ["map"]))
    if kind == "group" and depth < 2:
        return _group(layout, depth, parents, group)
    if kind == "map":
        return _map(layout, parents, group)
    return _task(layout, parents, group)


def _place(layout: _Layout, step: dict[str, Any], parents: set[str]) -> None:
    """Add a step with dependencies on steps laid out before it (not its groups)."""
    draw = layout.draw
    candidates = [s for s in layout.order if s not in parents]
    if candidates:
        deps = draw(st.lists(st.sampled_from(candidates), max_size=2, unique=True))
        if deps:
            step["dependsOn"] = deps
    layout.steps.append(step)
    layout.order.append(step["id"])
    layout.ancestors[step["id"]] = set(parents)


def _common(layout: _Layout, step: dict[str, Any]) -> None:
    draw = layout.draw
    if draw(st.integers(0, 3)) == 0:
        step["continueOnError"] = True


def _task(layout: _Layout, parents: set[str], group: str | None) -> str:
    step = _task_step(layout, group, None)
    _place(layout, step, parents)
    return str(step["id"])


def _task_step(layout: _Layout, group: str | None, map_id: str | None) -> dict[str, Any]:
    draw = layout.draw
    step_id = layout.new_id("t")
    kind = draw(st.sampled_from(["gauge"] * 6 + ["fail", "sync", "shell"]))
    pool = draw(st.sampled_from(layout.pools))
    step: dict[str, Any] = {"id": step_id}
    if kind == "gauge":
        inp: dict[str, Any] = {
            "pool": pool,
            "sleep": draw(st.sampled_from(SLEEPS)),
            "outcome": draw(st.sampled_from(["ok"] * 4 + ["fail", "flaky"])),
        }
        if group is not None:
            inp["group"] = group
        if map_id is not None:
            inp["map"] = map_id
        step.update(tool="gauge", input=inp)
    elif kind == "fail":
        step.update(tool="fail", input={"after": draw(st.sampled_from(SLEEPS)), "type": "Boom"})
    elif kind == "sync":
        step.update(tool="gauge_sync", input={"outcome": draw(st.sampled_from(["ok", "fail"]))})
    else:
        # `sleep 30` ends only by its timeout (the process group is killed); `true` at once.
        command = draw(st.sampled_from([["sleep", "30"], ["true"]]))
        step.update(tool="shell", input={"command": command}, timeout="5ms")
    if pool != "default":
        step["pool"] = pool
    if kind != "shell" and draw(st.integers(0, 3)) == 0:
        step["timeout"] = draw(st.sampled_from(["2ms", "6ms"]))
    if draw(st.integers(0, 3)) == 0:
        step["retry"] = {
            "maxAttempts": draw(st.integers(2, 3)),
            "backoff": {"initial": "1ms", "multiplier": 1},
        }
    _common(layout, step)
    layout.kinds[step_id] = kind
    return step


def _group(layout: _Layout, depth: int, parents: set[str], group: str | None) -> str:
    draw = layout.draw
    step_id = layout.new_id("g")
    spec: dict[str, Any] = {"steps": [], "waitStrategy": draw(st.sampled_from(STRATEGIES))}
    if draw(st.booleans()):
        window = draw(st.integers(1, 2))
        spec["maxConcurrent"] = window
        layout.limits.groups[step_id] = window
    if draw(st.integers(0, 3)) == 0:
        spec["timeout"] = draw(st.sampled_from(["3ms", "8ms"]))
    step: dict[str, Any] = {"id": step_id, "parallelGroup": spec}
    _common(layout, step)
    _place(layout, step, parents)
    inner = parents | {step_id}
    for _ in range(draw(st.integers(1, 4))):
        spec["steps"].append(_block(layout, depth + 1, inner, step_id))
    return step_id


def _map(layout: _Layout, parents: set[str], group: str | None) -> str:
    draw = layout.draw
    step_id = layout.new_id("m")
    steps = [_task_step(layout, None, step_id)]
    if draw(st.booleans()):
        steps.append(_task_step(layout, None, step_id))
    if len(steps) == 2:
        steps[1]["dependsOn"] = [steps[0]["id"]]
    spec: dict[str, Any] = {
        "count": draw(st.integers(0, 4)),
        "steps": steps,
        "waitStrategy": draw(st.sampled_from(STRATEGIES)),
    }
    if draw(st.booleans()):
        window = draw(st.integers(1, 2))
        spec["maxConcurrent"] = window
        layout.limits.maps[step_id] = window
    if draw(st.integers(0, 3)) == 0:
        spec["continueOnError"] = True
    step: dict[str, Any] = {"id": step_id, "parallel": spec}
    _place(layout, step, parents)
    return step_id
