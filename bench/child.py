"""Measure one (workload, implementation) pair in this fresh process.

    python -m bench.child '{"workload": "W1", "impl": "plait", "n": 10000, ...}'

For S1 the implementation is the store: none, memory, sqlite or postgres (see
bench/stores.py); an unreachable PostgreSQL gives ``{"skipped": reason}``. For T1 it
is the workload (W1 or W3), run with and without tracing and metrics (bench/tracing.py).

Prints one JSON line: the timings and this process's memory. The memory baseline is
the peak RSS after imports and a small warm-up run; the workload's cost is the peak RSS
at the end minus that baseline.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import stores, tracing
from bench import workloads as w
from bench.memory import max_rss_kib, ru_maxrss_kib

WARMUP_N = 200  # size of the small warm-up run done before the memory baseline


@dataclass(frozen=True)
class Spec:
    """What to measure; the parent sends it as JSON."""

    workload: str
    impl: str
    n: int
    repeat: int
    window: int = 100
    sleep_s: float = 0.01
    width: int = 1000
    edges: int = 3
    seed: int = 42
    file: str | None = None
    pg_url: str = stores.DEFAULT_PG_URL  # S1's PostgreSQL

    def resized(self, n: int) -> Spec:
        return Spec(**{**asdict(self), "n": n, "width": min(self.width, max(1, n // 4))})


def prepare(spec: Spec) -> w.Prepared:
    """Build a W1–W3 workload: plait compiles here, asyncio has nothing to do."""
    n, impl = spec.n, spec.impl
    if spec.workload == "W1":
        return (
            w.asyncio_fan(n)
            if impl == "asyncio"
            else w.plait_prepared(w.fan_definition(n), w.check_fan(n))
        )
    if spec.workload == "W2":
        return (
            w.asyncio_chain(n)
            if impl == "asyncio"
            else w.plait_prepared(w.chain_definition(n), w.check_chain(n))
        )
    if spec.workload == "W3":
        if impl == "asyncio":
            return w.asyncio_sleep(n, spec.window, spec.sleep_s)
        definition = w.sleep_definition(n, spec.window, spec.sleep_s)
        return w.plait_prepared(definition, w.check_count(n))
    raise ValueError(f"unknown workload {spec.workload!r}")


async def dag_pass(spec: Spec, path: Path) -> w.DagPass:
    if spec.impl == "asyncio":
        return await w.asyncio_dag_phases(path)
    return await w.plait_dag_phases(path, spec.n)


async def warm_up(spec: Spec) -> None:
    """One small run through the same code paths, so imports and caches are paid for."""
    small = spec.resized(min(spec.n, WARMUP_N))
    if spec.workload == "S1":
        await stores.warm_up(spec.impl, small.n, spec.pg_url)
        return
    if spec.workload == "T1":
        await tracing.warm_up(spec.impl, small.n, spec.window, spec.sleep_s)
        return
    if spec.workload != "W4":
        await prepare(small).run()
        return
    deps = w.dag_layers(small.n, small.width, small.edges, small.seed)
    with tempfile.TemporaryDirectory() as folder:
        suffix = Path(spec.file).suffix if spec.file else ".json"
        path = w.write_definition(w.dag_definition(deps, small.width), Path(folder, "w" + suffix))
        await dag_pass(small, path)


async def time_runs(spec: Spec) -> dict[str, Any]:
    """W1–W3: set up once, one discarded full-size run, then ``repeat`` timed runs
    (wall clock, and this process's CPU time, which other processes do not inflate)."""
    prepared = prepare(spec)
    await prepared.run()
    times: list[float] = []
    cpu: list[float] = []
    for _ in range(spec.repeat):
        gc.collect()
        started, cpu_started = time.perf_counter(), time.process_time()
        await prepared.run()
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
    return {
        "times": times,
        "best_s": min(times),
        "best_cpu_s": min(cpu),
        "setup_s": prepared.setup_s,
    }


async def time_phases(spec: Spec, baseline_kib: int) -> dict[str, Any]:
    """W4: ``repeat`` full passes (load, validate, compile, run); the fastest is reported.
    The peak RSS over the baseline after each phase is the first pass's: later passes
    start at the peak the first one reached."""
    assert spec.file is not None
    path = Path(spec.file)
    passes: list[w.DagPass] = []
    cpu: list[float] = []
    for _ in range(spec.repeat):
        gc.collect()
        cpu_started = time.process_time()
        passes.append(await dag_pass(spec, path))
        cpu.append(time.process_time() - cpu_started)
    totals = [sum(p.times.values()) for p in passes]
    best = passes[totals.index(min(totals))]
    peaks = {phase: kib - baseline_kib for phase, kib in passes[0].peaks_kib.items()}
    return {
        "times": totals,
        "best_s": min(totals),
        "best_cpu_s": min(cpu),
        "phases": best.times,
        "phase_delta_rss_kib": peaks,
        "setup_s": 0.0,
    }


async def measure(spec: Spec) -> dict[str, Any]:
    if spec.workload == "S1":
        reason = stores.unavailable(spec.impl, spec.pg_url)
        if reason is not None:
            return {"workload": spec.workload, "impl": spec.impl, "n": spec.n, "skipped": reason}
    await warm_up(spec)
    gc.collect()
    baseline = max_rss_kib()
    if spec.workload == "W4":
        timing = await time_phases(spec, baseline)
    elif spec.workload == "S1":
        timing = await stores.time_runs(spec.impl, spec.n, spec.repeat, spec.pg_url)
    elif spec.workload == "T1":  # the implementation is the workload: W1 or W3
        args = (spec.impl, spec.n, spec.repeat, spec.window, spec.sleep_s)
        timing = await tracing.time_variants(*args)
    else:
        timing = await time_runs(spec)
    peak = max_rss_kib()
    return {
        "workload": spec.workload,
        "impl": spec.impl,
        "n": spec.n,
        "window": spec.window,
        "sleep_s": spec.sleep_s,
        **timing,
        "baseline_rss_kib": baseline,
        "peak_rss_kib": peak,
        "delta_rss_kib": peak - baseline,
        "ru_maxrss_kib": ru_maxrss_kib(),
    }


def main(argv: list[str]) -> int:
    spec = Spec(**json.loads(argv[0]))
    print(json.dumps(asyncio.run(measure(spec))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
