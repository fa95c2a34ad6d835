"""OpenTelemetry traces of plait runs (issue 13; ``pip install 'plait[otel]'``).

Imported only for a run that is traced: a run without tracing never imports
OpenTelemetry. One trace per run, one span per run, per group, map, loop and
sub-workflow, and per step attempt (retries are sibling spans)::

    run etl                                plait.run_id, plait.workflow, plait.status
    ├── step fetch        attempt 1, ERROR (the exception event: type, message, traceback)
    ├── step fetch        attempt 2
    ├── group fan         plait.skipped_steps / plait.short_steps: steps without a span
    │   ├── step a
    │   └── step b
    ├── map double        its branches' steps carry plait.branch_index
    │   └── step x  ×n
    ├── loop again        its passes' steps carry plait.loop_iteration
    └── workflow sub      a sub-workflow's steps
        └── step inner

Cost: a step's span is made once its attempt has ended, back-dated to when it
started, with its parent's span given explicitly (no contextvars on the hot path): one
``start_span`` and one ``end`` per attempt, on the loop's next turn, so that the
steps an ending releases start first (``_make_spans``). Group, map, loop and
sub-workflow spans are opened when the node starts (their steps need a parent). A
step whose tool asks for the trace context (``StepContext.traceparent``: the ``http``
tool) has its span opened when the attempt starts instead, so the context it sends is
its own.

A resumed run goes on in the trace of its first attempt: a new root span with the
same trace id and a link to the first root (``runs.trace_id``, ``runs.root_span_id``).
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import logging
import os
import sys
import time
from collections import deque
from importlib.metadata import entry_points
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import Link, NonRecordingSpan, Span, SpanContext, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.trace.status import Status, StatusCode

from plait._version import __version__
from plait.compiler.plan import NodeKind, Plan, TracingSpec
from plait.engine.observe import ObservedRun
from plait.engine.result import RunResult
from plait.engine.state import StepState
from plait.errors import ErrorInfo, RunError, WorkflowError
from plait.secrets import LOGGERS
from plait.status import StepStatus

__all__ = ["RunTracer", "provider_from_env"]

_CONTAINERS = {
    NodeKind.GROUP: "group",
    NodeKind.MAP: "map",
    NodeKind.LOOP: "loop",
    NodeKind.WORKFLOW: "workflow",
}
_ERRORS = (StepStatus.FAILED, StepStatus.TIMED_OUT)
_FAILED = StepStatus.FAILED.value
_PROPAGATOR = TraceContextTextMapPropagator()
SPANS_PER_TURN = 64  # spans made in one turn of the loop (~2 ms), then it goes on
_ALL = 2**62
# The run being traced, for the log filter: set once per run (step tasks inherit it).
_CURRENT: contextvars.ContextVar[RunTracer | None] = contextvars.ContextVar(
    "plait_run_tracer", default=None
)


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)


class RunTracer:
    """The observer (``engine/observe.py``) that traces one run."""

    def __init__(
        self,
        provider: trace.TracerProvider,
        spec: TracingSpec | None = None,
        previous: tuple[str, str] | None = None,
    ) -> None:
        """``previous``: the (trace id, root span id) of the run's first attempt, for a
        resumed run that goes on in the same trace."""
        spec = spec or TracingSpec()
        self._tracer = provider.get_tracer("plait", __version__)
        self._min = spec.min_step_duration
        self._previous = previous
        self._on = False  # recording (False: the sampler dropped the run)
        self._plan: Plan | None = None
        self._mask: Any = None
        self._root: Span = trace.INVALID_SPAN
        self._root_ctx: Context = Context()
        # group, map, loop and sub-workflow spans by node id, with their contexts
        self._spans: dict[str, Span] = {}
        self._parents: dict[str, Context] = {}
        self._uncounted: dict[str | None, list[int]] = {}  # parent -> [skipped, short]
        self._starts: dict[StepState, float] = {}  # attempts after the first: their start
        self._failed: dict[StepState, int] = {}  # the last failed attempt with a span
        self._live: dict[StepState, Span] = {}  # attempts whose span opened at their start
        self._token: contextvars.Token[RunTracer | None] | None = None
        # attempts that ended, whose spans are made on the loop's next turn
        self._ended: deque[tuple[StepState, int, float, float, str, RunError | None]] = deque()
        self._flush: asyncio.TimerHandle | None = None
        self.trace_id: str | None = None
        self.root_span_id: str | None = None

    # -- the run -----------------------------------------------------------------------

    def run_started(self, run: ObservedRun) -> None:
        plan = self._plan = run.plan
        self._mask = run.secrets.text if run.secrets else None
        attributes = {"plait.run_id": run.run_id, "plait.workflow": plan.name}
        name = f"run {plan.name}"
        if self._previous is not None:
            root = self._resumed_root(name, attributes, *self._previous)
        else:
            root = self._tracer.start_span(name, attributes=attributes)
        self._root = root
        self._on = root.is_recording()
        if not self._on:
            return
        self._root_ctx = trace.set_span_in_context(root)
        context = root.get_span_context()
        self.trace_id = format(context.trace_id, "032x")
        self.root_span_id = format(context.span_id, "016x")
        if self._previous is not None:
            self.root_span_id = self._previous[1]  # a resume links to the first root
        elif run.recorder is not None:
            ids = {"trace_id": self.trace_id, "root_span_id": self.root_span_id}
            run.recorder.update_run(ids)
        self._token = _CURRENT.set(self)
        install_log_filter()

    def _resumed_root(
        self, name: str, attributes: dict[str, Any], trace_id: str, span_id: str
    ) -> Span:
        """A new root span in the first attempt's trace, linked to its first root."""
        first = SpanContext(
            int(trace_id, 16), int(span_id, 16), True, TraceFlags(TraceFlags.SAMPLED)
        )
        links = [Link(first, {"plait.link": "resumed"})]
        attributes = {**attributes, "plait.resumed": True}
        tracer = self._tracer
        if isinstance(getattr(tracer, "id_generator", None), IdGenerator):
            # The SDK's tracer takes new trace ids from its id generator: a copy of it
            # whose generator gives the first attempt's trace id makes the new root.
            same = copy.copy(tracer)
            same.id_generator = _SameTrace(first.trace_id, tracer.id_generator)  # type: ignore[attr-defined]
            return same.start_span(name, context=Context(), links=links, attributes=attributes)
        # Another implementation: the same trace, as a child of the first root.
        parent = trace.set_span_in_context(NonRecordingSpan(first), Context())
        return tracer.start_span(name, context=parent, links=links, attributes=attributes)

    def run_finished(self, result: RunResult) -> None:
        if not self._on:
            return
        if self._flush is not None:
            self._flush.cancel()
        self._make_spans(_ALL)  # every attempt's span, before the run's ends
        self._on = False
        status = result.status.value
        now = _ns(result.finished_at or time.time())
        for node_id, span in self._spans.items():  # a paused run: what was still open
            if span.is_recording():
                span.set_attribute("plait.status", status)
                self._set_counts(span, node_id)
                span.end(now)
        for span in self._live.values():
            span.set_attribute("plait.status", status)
            span.end(now)
        root = self._root
        root.set_attribute("plait.status", status)
        self._set_counts(root, None)
        if result.status.value in ("failed", "timed_out"):
            self._error(root, result.error, now)
        root.end(now)
        if self._token is not None:
            _CURRENT.reset(self._token)
            self._token = None
        self._spans.clear()
        self._parents.clear()
        self._live.clear()

    # -- steps -------------------------------------------------------------------------

    def step_started(self, st: StepState) -> None:
        if not self._on:
            return
        kind = _CONTAINERS.get(st.node.kind)
        if kind is not None:
            self._open_container(st, kind)
        elif st.attempts > 1:
            self._starts[st] = time.time()

    def _open_container(self, st: StepState, kind: str) -> None:
        node = st.node
        started = st.started_at or time.time()
        attributes: dict[str, Any] = {
            "plait.node_id": st.node_id,
            "plait.step_id": node.id,
            "plait.attempt": st.attempts,
        }
        self._place(st, attributes)
        span = self._tracer.start_span(
            f"{kind} {node.id}",
            context=self._parent_context(st),
            attributes=attributes,
            start_time=_ns(started),
        )
        self._spans[st.node_id] = span
        self._parents[st.node_id] = trace.set_span_in_context(span)

    def attempt_failed(self, st: StepState, error: RunError) -> None:
        if not self._on:
            return
        start = self._starts.pop(st, None) if self._starts else None
        if start is None:
            start = st.started_at or time.time()
        self._failed[st] = st.attempts
        self._attempt_span(st, start, time.time(), _FAILED, error)

    def step_ended(self, st: StepState) -> None:
        if not self._on:
            return
        node = st.node
        if node.kind in _CONTAINERS:
            self._end_container(st)
            return
        started = st.started_at
        if started is None or st.attempts == 0:  # never started
            if st.status is StepStatus.SKIPPED:
                self._count(st, 0)  # no span, a count on its parent
            elif st.status in _ERRORS and st.finished_at is not None:
                # refused before it started (PoolFull): an instant ERROR span, attempt 0
                when = st.finished_at
                self._attempt_span(st, when, when, st.status.value, st.error)
            return
        if self._failed and self._failed.pop(st, 0) == st.attempts:
            return  # its last attempt failed, and has its span (cancelled in its backoff)
        if self._starts:
            started = self._starts.pop(st, started)
        finished = st.finished_at or time.time()
        error = st.error if st.status in _ERRORS else None
        if error is None and finished - started < self._min and st not in self._live:
            self._count(st, 1)
            return
        self._attempt_span(st, started, finished, st.status.value, error)

    def _attempt_span(
        self, st: StepState, start: float, end: float, status: str, error: RunError | None
    ) -> None:
        """The span of an attempt that ended: ended now if it was opened at its start
        (for its trace context), else made soon (``_make_spans``)."""
        span = self._live.pop(st, None) if self._live else None
        if span is None:
            self._ended.append((st, st.attempts, start, end, status, error))
            if self._flush is None:
                self._flush = asyncio.get_running_loop().call_later(0, self._make_spans)
            return
        span.set_attribute("plait.status", status)
        end_ns = _ns(end)
        if error is not None:
            span.set_attribute("error.type", error.type)
            self._error(span, error, end_ns)
        span.end(end_ns)

    def _make_spans(self, limit: int = SPANS_PER_TURN) -> None:
        """Make the spans of the attempts that ended, back-dated, with their parents.

        Not while the steps end but on the loop's next turn, after what their endings
        set going: steps often end together (a window of sleeps), and the ones that
        follow them start before ~30 µs a span is spent. At most ``limit`` at a time,
        then the loop's other work goes first."""
        self._flush = None
        ended, tracer = self._ended, self._tracer
        for _ in range(min(limit, len(ended))):
            st, attempt, start, end, status, error = ended.popleft()
            attributes = self._attributes(st, attempt)
            attributes["plait.status"] = status
            if error is not None:
                attributes["error.type"] = error.type
            span = tracer.start_span(
                f"step {st.node.id}",
                context=self._parent_context(st),
                attributes=attributes,
                start_time=_ns(start),
            )
            end_ns = _ns(end)
            if error is not None:
                self._error(span, error, end_ns)
            span.end(end_ns)
        if ended and limit != _ALL:
            self._flush = asyncio.get_running_loop().call_later(0, self._make_spans)

    def _end_container(self, st: StepState) -> None:
        span = self._spans.get(st.node_id)
        if span is None:  # never started (skipped): counted on its parent
            if st.status is StepStatus.SKIPPED:
                self._count(st, 0)
            return
        end = _ns(st.finished_at or time.time())
        span.set_attribute("plait.status", st.status.value)
        if st.winner is not None:
            span.set_attribute("plait.winner", st.winner)
        self._set_counts(span, st.node_id)
        if st.status in _ERRORS:
            if st.error is not None:
                span.set_attribute("error.type", st.error.type)
            self._error(span, st.error, end)
        span.end(end)

    def trace_context(self, st: StepState) -> str | None:
        """Open the running attempt's span now (it ends with the attempt) and give its
        W3C ``traceparent``."""
        if not self._on:
            return None
        span = self._live.get(st)
        if span is None:
            start = self._starts.get(st) or st.started_at or time.time()
            span = self._tracer.start_span(
                f"step {st.node.id}",
                context=self._parent_context(st),
                attributes=self._attributes(st, st.attempts),
                start_time=_ns(start),
            )
            self._live[st] = span
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(span))
        return carrier.get("traceparent")

    # -- helpers -----------------------------------------------------------------------

    def _attributes(self, st: StepState, attempt: int) -> dict[str, Any]:
        node = st.node
        attributes: dict[str, Any] = {
            "plait.node_id": st.node_id,
            "plait.step_id": node.id,
            "plait.attempt": attempt,
            "plait.pool": node.pool,
        }
        if node.tool is not None:
            attributes["plait.tool"] = node.tool.name
        if st.frame is not None:
            self._place(st, attributes)
        return attributes

    @staticmethod
    def _place(st: StepState, attributes: dict[str, Any]) -> None:
        frame = st.frame
        if frame is not None:
            if frame.branch is not None:
                attributes["plait.branch_index"] = frame.branch
            if frame.iteration is not None:
                attributes["plait.loop_iteration"] = frame.iteration

    def _parent_id(self, st: StepState) -> str | None:
        """The node id of the group, map, loop or sub-workflow ``st`` runs in; None:
        the run itself."""
        node, frame = st.node, st.frame
        if node.group is not None:
            plan = frame.plan if frame is not None else self._plan
            assert plan is not None
            group = plan.nodes[node.group].id
            return group if frame is None else frame.node_id(group)
        return None if frame is None else frame.parent_id

    def _parent_context(self, st: StepState) -> Context:
        if st.frame is None and st.node.group is None:
            return self._root_ctx
        parent = self._parent_id(st)
        return self._parents.get(parent, self._root_ctx) if parent else self._root_ctx

    def _count(self, st: StepState, which: int) -> None:
        """A step without a span: skipped (0), or shorter than minStepDuration (1)."""
        counts = self._uncounted.setdefault(self._parent_id(st), [0, 0])
        counts[which] += 1

    def _set_counts(self, span: Span, node_id: str | None) -> None:
        counts = self._uncounted.pop(node_id, None)
        if counts is not None:
            if counts[0]:
                span.set_attribute("plait.skipped_steps", counts[0])
            if counts[1]:
                span.set_attribute("plait.short_steps", counts[1])

    def _error(self, span: Span, error: RunError | ErrorInfo | None, end_ns: int) -> None:
        """ERROR status, and the error as the span's exception event."""
        if error is None:
            span.set_status(Status(StatusCode.ERROR))
            return
        mask = self._mask
        message = error.message if mask is None else mask(error.message)
        span.set_status(Status(StatusCode.ERROR, message))
        event = {"exception.type": error.type, "exception.message": message}
        stack = error.traceback
        if stack:
            event["exception.stacktrace"] = stack if mask is None else mask(stack)
        span.add_event("exception", event, timestamp=end_ns)

    # -- log records -------------------------------------------------------------------

    def annotate(self, record: logging.LogRecord) -> None:
        """``trace_id`` and ``span_id`` on a log record plait emits during the run: the
        span of the group or step it names, if it has one yet, else the run's."""
        if self.trace_id is None:
            return
        record.trace_id = self.trace_id
        span: Span | None = None
        for key in ("group", "step"):
            node_id = getattr(record, key, None)
            if isinstance(node_id, str):
                span = self._spans.get(node_id)
                if span is None:
                    span = next((s for st, s in self._live.items() if st.node_id == node_id), None)
                if span is not None:
                    break
        context = (span or self._root).get_span_context()
        record.span_id = format(context.span_id, "016x")


class _SameTrace(IdGenerator):
    """Gives one trace id (a resumed run's first), and random span ids."""

    def __init__(self, trace_id: int, spans: IdGenerator) -> None:
        self._trace_id = trace_id
        self._spans = spans

    def generate_span_id(self) -> int:
        return self._spans.generate_span_id()

    def generate_trace_id(self) -> int:
        return self._trace_id


class TraceFilter(logging.Filter):
    """Adds ``trace_id`` and ``span_id`` to plait's log records while a traced run runs
    (records of untraced runs are left as they are)."""

    def __init__(self) -> None:
        super().__init__("plait.tracing")

    def filter(self, record: logging.LogRecord) -> bool:
        tracer = _CURRENT.get()
        if tracer is not None:
            tracer.annotate(record)
        return True


_FILTER = TraceFilter()


def install_log_filter() -> None:
    for name in (*LOGGERS, "plait.executors.dask"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


# -- the command line's provider ---------------------------------------------------------


def provider_from_env() -> TracerProvider:
    """A ``TracerProvider`` set up from the standard ``OTEL_*`` environment, for
    ``plait run --trace``: the exporters ``OTEL_TRACES_EXPORTER`` names (comma-separated:
    ``otlp``, the default, ``console``, ``none``, or any installed exporter's entry
    point name) behind a ``BatchSpanProcessor``; the resource from ``OTEL_SERVICE_NAME``
    and ``OTEL_RESOURCE_ATTRIBUTES`` (service ``plait`` if unnamed); the sampler from
    ``OTEL_TRACES_SAMPLER``; each exporter reads its own variables
    (``OTEL_EXPORTER_OTLP_ENDPOINT``, ...). ``console`` writes to stderr: stdout is for
    the run's result. Raises ``WorkflowError`` naming an exporter that is not installed."""
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: "plait"}))
    provider = TracerProvider(resource=resource)
    names = os.environ.get("OTEL_TRACES_EXPORTER", "otlp")
    for name in (n.strip() for n in names.split(",")):
        if name and name != "none":
            provider.add_span_processor(BatchSpanProcessor(_exporter(name)))
    return provider


def _exporter(name: str) -> SpanExporter:
    if name == "console":
        return ConsoleSpanExporter(out=sys.stderr)
    found = entry_points(group="opentelemetry_traces_exporter", name=name)
    if not found:
        hint = " (pip install opentelemetry-exporter-otlp)" if name == "otlp" else ""
        raise WorkflowError(
            f"--trace: OTEL_TRACES_EXPORTER names '{name}', which is not installed{hint}; "
            "OTEL_TRACES_EXPORTER=console prints the spans instead"
        )
    exporter: SpanExporter = next(iter(found)).load()()
    return exporter
