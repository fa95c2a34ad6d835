"""Traces and metrics of runs (issue 13; docs/observability.md).

    wf.run(tracer_provider=tp)      OpenTelemetry spans (``tracing.py``, plait[otel])
    wf.run(metrics=registry)        Prometheus metrics (``metrics.py``, plait[prometheus])
    StoreCollector(store)           Prometheus metrics of what a store holds

Both are engine observers (``engine/observe.py``) that ``attach`` gives a run. This
module imports neither OpenTelemetry nor prometheus_client: a run that asks for
neither never loads them, and its engine makes no call to them.
"""

from __future__ import annotations

import importlib.util
import random
from typing import TYPE_CHECKING, Any

from plait.compiler.plan import TracingSpec
from plait.engine.observe import Observer
from plait.engine.run import Run
from plait.errors import Problem, WorkflowError
from plait.store.base import Store

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = ["OTEL_HINT", "PROMETHEUS_HINT", "attach", "attach_resumed"]

OTEL_HINT = "tracing needs OpenTelemetry: pip install 'plait[otel]'"
PROMETHEUS_HINT = "metrics need prometheus-client: pip install 'plait[prometheus]'"


def attach(
    run: Run,
    *,
    tracer_provider: Any = None,
    metrics: CollectorRegistry | None = None,
    previous: tuple[str, str] | None = None,
) -> None:
    """Trace and/or measure ``run`` (before it executes).

    The run is traced when ``tracer_provider`` is given (spans go there) or its
    workflow says ``tracing:`` (spans go to OpenTelemetry's global provider); its
    ``sampleRatio`` decides whether this run is. ``previous`` is the (trace id, root
    span id) of a resumed run's first attempt: it goes on in that trace, sampled or
    not. With ``metrics`` (a ``prometheus_client.CollectorRegistry``), the run reports
    into it. Raises ``WorkflowError`` if what is asked for is not installed."""
    observers: list[Observer] = []
    spec = run.plan.tracing
    if tracer_provider is not None or spec is not None:
        tracer = _tracer(run, tracer_provider, spec or TracingSpec(), previous)
        if tracer is not None:
            observers.append(tracer)
    if metrics is not None:
        _need("prometheus_client", PROMETHEUS_HINT, run)
        from plait.observability.metrics import RunMetrics

        observers.append(RunMetrics(metrics))
    for observer in observers:
        run.attach_observer(observer)


def _tracer(
    run: Run, provider: Any, spec: TracingSpec, previous: tuple[str, str] | None
) -> Observer | None:
    if previous is None and spec.sample_ratio < 1.0 and random.random() >= spec.sample_ratio:
        return None  # not this run: it pays nothing
    _need("opentelemetry.sdk", OTEL_HINT, run)
    from opentelemetry import trace

    from plait.observability.tracing import RunTracer

    return RunTracer(provider or trace.get_tracer_provider(), spec, previous)


def _need(module: str, hint: str, run: Run) -> None:
    try:
        found = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # its parent package is missing
        found = False
    if not found:
        raise WorkflowError(Problem(hint, run.plan.file))


def attach_resumed(
    run: Run,
    store: Store,
    *,
    tracer_provider: Any = None,
    metrics: CollectorRegistry | None = None,
) -> None:
    """``attach`` for a resumed run (``prepare_resume``'s, whose lease this process now
    holds): it goes on in the trace its first attempt recorded. If tracing or metrics
    cannot be set up, the lease is given back before the error is raised."""
    record = store.get_run(run.run_id)
    previous = None
    if record.trace_id and record.root_span_id:
        previous = (record.trace_id, record.root_span_id)
    try:
        attach(run, tracer_provider=tracer_provider, metrics=metrics, previous=previous)
    except BaseException:
        if record.lease_owner is not None:
            store.release_lease(run.run_id, record.lease_owner)
        raise
