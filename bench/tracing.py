"""T1: what traces and metrics cost (issue 13). W1 and W3 run with and without them.

Each workload runs in one fresh process with every variant **interleaved** (none, off,
on, ... then again), so a variant is compared with the baseline measured moments
apart, not minutes apart on a machine other programs keep busy:

    W1 none     W1's workflow as it is: no tracing, no metrics
    W1 off      ``tracing: {sampleRatio: 0}`` and a tracer provider given: tracing is
                set up but this run is not traced, so the engine has no observer (the
                hooks' ``is None`` checks are all it pays)
    W1 on       traced into a private ``TracerProvider`` with a
                ``SimpleSpanProcessor(InMemorySpanExporter())``: a span per step
    W1 metrics  ``metrics=CollectorRegistry()``: the in-process Prometheus counters
    W3 none     W3 (1,000 × 10 ms sleeps, 100 at a time) as it is
    W3 on       W3 traced as W1 on

After each traced run, outside the timing, the exporter must hold one span per step
plus the run's and the group's (and is then cleared); after each metrics run the
attempts counter must have grown by the number of steps.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Awaitable, Callable
from typing import Any

import plait
from bench import workloads as w

VARIANTS = {"W1": ("none", "off", "on", "metrics"), "W3": ("none", "on")}

Runner = Callable[[], Awaitable[None]]


def _workflow(workload: str, n: int, window: int, sleep_s: float, tracing: Any) -> plait.Workflow:
    definition = w.fan_definition(n) if workload == "W1" else w.sleep_definition(n, window, sleep_s)
    if tracing is not None:
        definition = {**definition, "tracing": tracing}
    wf = plait.Workflow.from_dict(definition)
    wf.validate()
    return wf


def runners(
    workload: str, n: int, window: int, sleep_s: float
) -> dict[str, tuple[Runner, Callable[[], None]]]:
    """One timed call per variant; each checks what it produced (untimed)."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from prometheus_client import CollectorRegistry

    check = w.check_fan(n) if workload == "W1" else w.check_count(n)
    steps = n + (2 if workload == "W1" else 1)  # the members, the group (and the join)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    plain = _workflow(workload, n, window, sleep_s, None)
    off = _workflow(workload, n, window, sleep_s, {"sampleRatio": 0})
    registry = CollectorRegistry()

    def attempts() -> float:
        value = registry.get_sample_value
        return sum(
            value("plait_step_attempts_total", {"workflow": plain.name, **labels}) or 0.0
            for labels in (
                {"pool": "default", "tool": tool, "status": "succeeded"}
                for tool in ("noop", "echo", "sleep", "")
            )
        )

    async def none() -> None:
        check(await plain.run())

    async def not_sampled() -> None:
        check(await off.run(tracer_provider=provider))
        if exporter.get_finished_spans():
            raise RuntimeError("an unsampled run made spans")

    async def traced() -> None:
        check(await plain.run(tracer_provider=provider))

    def check_spans() -> None:
        spans = exporter.get_finished_spans()
        if len(spans) != steps + 1:  # and the run's
            raise RuntimeError(f"{len(spans)} spans for {steps} steps and the run")
        exporter.clear()

    async def measured() -> None:
        check(await plain.run(metrics=registry))

    def check_metrics() -> None:
        counted = attempts()
        if counted - seen["attempts"] != steps:
            raise RuntimeError(f"{counted - seen['attempts']} attempts counted, not {steps}")
        seen["attempts"] = counted

    seen = {"attempts": 0.0}
    found: dict[str, tuple[Runner, Callable[[], None]]] = {
        "none": (none, _nothing),
        "off": (not_sampled, _nothing),
        "on": (traced, check_spans),
        "metrics": (measured, check_metrics),
    }
    return {name: found[name] for name in VARIANTS[workload]}


def _nothing() -> None:
    pass


async def time_variants(
    workload: str, n: int, repeat: int, window: int, sleep_s: float
) -> dict[str, Any]:
    """Warm every variant up, then ``repeat`` rounds of one timed run of each, in turn;
    the best wall-clock and CPU time of each variant is reported."""
    calls = runners(workload, n, window, sleep_s)
    for call, check in calls.values():
        await call()
        check()
    times: dict[str, list[float]] = {name: [] for name in calls}
    cpu: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeat):
        for name, (call, check) in calls.items():
            gc.collect()
            started, cpu_started = time.perf_counter(), time.process_time()
            await call()
            times[name].append(time.perf_counter() - started)
            cpu[name].append(time.process_time() - cpu_started)
            check()
    return {
        "metrics_us_per_step": metrics_cost() if "metrics" in calls else None,
        "variants": {
            name: {"best_s": min(times[name]), "best_cpu_s": min(cpu[name]), "times": times[name]}
            for name in calls
        },
        "best_s": min(times["none"]),
        "best_cpu_s": min(cpu["none"]),
        "setup_s": 0.0,
    }


def metrics_cost(steps: int = 100_000, rounds: int = 5) -> float:
    """The metrics observer's CPU µs per step attempt, measured on its own (best of
    ``rounds``): ``step_started`` and ``step_ended`` for ``steps`` ended steps. The
    end-to-end difference between W1 metrics and none is the same cost plus noise."""
    from prometheus_client import CollectorRegistry

    from plait.engine.state import StepState
    from plait.observability.metrics import RunMetrics
    from plait.status import StepStatus

    wf = plait.Workflow.from_dict({"name": "cost", "steps": [{"id": "a", "tool": "noop"}]})
    node = wf.plan.nodes[0]
    observer = RunMetrics(CollectorRegistry())
    observer.run_started(_FakeRun(wf))  # type: ignore[arg-type]
    ended = []
    for _ in range(steps):
        st = StepState(node)
        st.started_at, st.finished_at, st.attempts = 1.0, 1.001, 1
        st.status = StepStatus.SUCCEEDED
        ended.append(st)
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for st in ended:
            observer.step_started(st)
            observer.step_ended(st)
        best = min(best, time.process_time() - started)
    return best / steps * 1e6


class _FakeRun:
    """What ``RunMetrics.run_started`` reads of a run."""

    def __init__(self, wf: plait.Workflow) -> None:
        self.plan = wf.plan
        self.pools: dict[str, Any] = {}


async def warm_up(workload: str, n: int, window: int, sleep_s: float) -> None:
    for call, check in runners(workload, n, window, sleep_s).values():
        await call()
        check()
