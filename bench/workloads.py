"""The four benchmark workloads, each as a plait workflow and as plain asyncio.

Every workload is split in two: *setup* (build the plait ``Plan``, or the asyncio
inputs), timed once and reported apart, and *run*, the coroutine that is timed
repeatedly. The asyncio baselines create one task per step, as a hand-written
program would.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import plait
from bench.memory import max_rss_kib
from plait.compiler import bind_inputs, compile_loaded
from plait.definition.loader import parse_definition, read_document

Runner = Callable[[], Awaitable[None]]

CHAIN_SEED_VALUE = 7  # what W2's first step echoes; every later step passes it on


@dataclass(frozen=True)
class Prepared:
    """A workload ready to run: ``run`` is what gets timed."""

    run: Runner
    setup_s: float


# -- definitions -------------------------------------------------------------------------


def fan_definition(n: int) -> dict[str, Any]:
    """W1: ``n`` no-op steps in one group, then a join reading ``${fan.output}``."""
    members = [{"id": f"s{i}", "tool": "noop"} for i in range(n)]
    group = {"steps": [m["id"] for m in members], "maxConcurrent": n}
    return {
        "name": "w1-fan-out-fan-in",
        "parallelConfig": {"maxConcurrent": n},
        "steps": [
            {"id": "fan", "parallelGroup": group},
            *members,
            {"id": "join", "tool": "echo", "input": "${fan.output}"},
        ],
    }


def chain_definition(n: int) -> dict[str, Any]:
    """W2: ``n`` echo steps, each echoing the previous one's output."""
    steps: list[dict[str, Any]] = [{"id": "s0", "tool": "echo", "input": CHAIN_SEED_VALUE}]
    steps += [
        {"id": f"s{i}", "tool": "echo", "input": f"${{s{i - 1}.output}}"} for i in range(1, n)
    ]
    return {"name": "w2-chain", "steps": steps}


def sleep_definition(n: int, window: int, sleep_s: float) -> dict[str, Any]:
    """W3: ``n`` sleeps of ``sleep_s`` in one group, at most ``window`` at a time."""
    duration = f"{sleep_s * 1000:g}ms"
    members = [{"id": f"s{i}", "tool": "sleep", "input": {"duration": duration}} for i in range(n)]
    group = {"steps": [m["id"] for m in members], "maxConcurrent": window}
    return {
        "name": "w3-bounded-sleep",
        "parallelConfig": {"maxConcurrent": window},
        "steps": [{"id": "fan", "parallelGroup": group}, *members],
    }


def dag_layers(n: int, width: int, edges: int, seed: int) -> list[list[int]]:
    """A random layered DAG: ``deps[i]`` lists node ``i``'s parents, ``edges`` distinct
    nodes drawn from the previous layer (the first layer has none)."""
    rng = random.Random(seed)
    deps: list[list[int]] = []
    for i in range(n):
        layer_start = i - i % width
        if layer_start == 0:
            deps.append([])
            continue
        previous = range(layer_start - width, layer_start)
        deps.append(sorted(rng.sample(previous, min(edges, width))))
    return deps


def dag_definition(deps: list[list[int]], max_concurrent: int) -> dict[str, Any]:
    """W4: one no-op step per node, its parents as ``dependsOn``."""
    steps: list[dict[str, Any]] = []
    for i, parents in enumerate(deps):
        step: dict[str, Any] = {"id": f"n{i}", "tool": "noop"}
        if parents:
            step["dependsOn"] = [f"n{p}" for p in parents]
        steps.append(step)
    return {
        "name": "w4-random-dag",
        "parallelConfig": {"maxConcurrent": max_concurrent},
        "steps": steps,
    }


def write_definition(definition: dict[str, Any], path: Path) -> Path:
    """Write a workflow file as JSON (``.json``) or YAML (any other suffix)."""
    if path.suffix == ".json":
        path.write_text(json.dumps(definition), encoding="utf-8")
    else:
        import yaml

        path.write_text(yaml.safe_dump(definition, sort_keys=False), encoding="utf-8")
    return path


# -- plait -----------------------------------------------------------------------------------

Check = Callable[[plait.RunResult], None]


def plait_prepared(definition: dict[str, Any], check: Check) -> Prepared:
    """Compile once (timed as setup); each run is one ``await wf.run()``."""
    started = time.perf_counter()
    wf = plait.Workflow.from_dict(definition)
    wf.validate()
    setup_s = time.perf_counter() - started

    async def run() -> None:
        check(await wf.run())

    return Prepared(run, setup_s)


def require_success(result: plait.RunResult) -> None:
    if result.status is not plait.RunStatus.SUCCEEDED:
        raise RuntimeError(f"run ended {result.status.value}: {result.error}")


def check_fan(n: int) -> Check:
    def check(result: plait.RunResult) -> None:
        require_success(result)
        joined = result.steps["join"].output
        if not isinstance(joined, dict) or len(joined) != n:
            raise RuntimeError("the join step did not see every member's output")

    return check


def check_chain(n: int) -> Check:
    def check(result: plait.RunResult) -> None:
        require_success(result)
        if result.steps[f"s{n - 1}"].output != CHAIN_SEED_VALUE:
            raise RuntimeError("the chain's last step did not echo the first value")

    return check


def check_count(n: int) -> Check:
    def check(result: plait.RunResult) -> None:
        require_success(result)
        if len(result.steps) < n:
            raise RuntimeError(f"expected {n} step results, got {len(result.steps)}")

    return check


@dataclass
class DagPass:
    """One W4 pass: each phase's duration, and the peak RSS (KiB) after it."""

    times: dict[str, float] = field(default_factory=dict)
    peaks_kib: dict[str, int] = field(default_factory=dict)
    _mark: float = field(default_factory=time.perf_counter)

    def done(self, phase: str) -> None:
        now = time.perf_counter()
        self.times[phase] = now - self._mark
        self.peaks_kib[phase] = max_rss_kib()
        self._mark = time.perf_counter()


async def plait_dag_phases(path: Path, n: int) -> DagPass:
    """W4 through plait, one phase at a time: load (read and parse the file), validate
    (schema → definition models), compile (Plan: DAG, reference and cycle checks), run."""
    timing = DagPass()
    data, text = read_document(path)
    timing.done("load")
    loaded = parse_definition(data, file=str(path), source=text)
    del data  # as plait.load does: only the definition (and the text) outlive loading
    if loaded.problems:
        raise RuntimeError(f"invalid workflow: {loaded.problems[0]}")
    timing.done("validate")
    plan = compile_loaded(loaded)
    del loaded
    timing.done("compile")
    result = await plait.Run(plan, bind_inputs(plan, {})).execute()
    timing.done("run")
    check_count(n)(result)
    return timing


# -- plain asyncio -----------------------------------------------------------------------


async def _noop(_: Any) -> None:
    return None


async def _echo(value: Any) -> Any:
    return value


def asyncio_fan(n: int) -> Prepared:
    """W1: gather ``n`` no-op tasks, then one task joins their outputs by id."""
    ids = [f"s{i}" for i in range(n)]

    async def run() -> None:
        tasks = [asyncio.create_task(_noop(i)) for i in range(n)]
        outputs = await asyncio.gather(*tasks)
        joined = await asyncio.create_task(_echo(dict(zip(ids, outputs, strict=True))))
        if len(joined) != n:
            raise RuntimeError("join lost outputs")

    return Prepared(run, 0.0)


def asyncio_chain(n: int) -> Prepared:
    """W2: ``n`` tasks, each started with the previous one's result."""

    async def run() -> None:
        value: Any = CHAIN_SEED_VALUE
        for _ in range(n):
            value = await asyncio.create_task(_echo(value))
        if value != CHAIN_SEED_VALUE:
            raise RuntimeError("chain lost its value")

    return Prepared(run, 0.0)


def asyncio_sleep(n: int, window: int, sleep_s: float) -> Prepared:
    """W3: ``n`` tasks sleeping ``sleep_s`` behind a ``Semaphore(window)``."""

    async def one(sem: asyncio.Semaphore) -> None:
        async with sem:
            await asyncio.sleep(sleep_s)

    async def run() -> None:
        sem = asyncio.Semaphore(window)
        await asyncio.gather(*[asyncio.create_task(one(sem)) for _ in range(n)])

    return Prepared(run, 0.0)


async def _dag_node(parents: list[asyncio.Task[None]]) -> None:
    for parent in parents:
        await parent
    await _noop(None)


async def asyncio_dag_run(deps: list[list[int]]) -> None:
    """One task per node, created in topological order, awaiting its parents' tasks."""
    tasks: list[asyncio.Task[None]] = []
    for parents in deps:
        tasks.append(asyncio.create_task(_dag_node([tasks[p] for p in parents])))
    await asyncio.gather(*tasks)


def _load_deps(path: Path) -> list[list[int]]:
    """Read the W4 file with ``json``/``yaml`` and index each node's parents."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        data = json.loads(text)
    else:
        import yaml

        data = yaml.safe_load(text)
    position = {step["id"]: i for i, step in enumerate(data["steps"])}
    return [[position[d] for d in step.get("dependsOn", ())] for step in data["steps"]]


async def asyncio_dag_phases(path: Path) -> DagPass:
    """W4 by hand: load the same file, then run one task per node."""
    timing = DagPass()
    deps = _load_deps(path)
    timing.done("load")
    await asyncio_dag_run(deps)
    timing.done("run")
    return timing
