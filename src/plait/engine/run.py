"""``Run``: one execution of a compiled plan, as its caller holds it.

The handle is all a caller needs: ``await run.execute()`` runs it to the end and
returns a ``RunResult``; ``cancel()`` stops it at any time; ``counts()``, ``running()``,
``progress()`` and ``waiting_for`` say where it is. The work is done by the run's ``Session`` (what
the whole run shares) and its top ``Graph`` (the state machine, ``engine/graph.py``)::

    Run.execute ─▶ recorder.begin ─▶ executors open ─▶ observer.run_started ─▶ graph.start()
                ─▶ await the graph's end (or a pause, or a cancel)
                ─▶ every task stopped ─▶ build_result ─▶ observer.run_finished
                ─▶ recorder.finish
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from typing import Any

from plait import secrets
from plait.compiler.inputs import NO_ENV, EnvBinding
from plait.compiler.plan import Plan
from plait.engine.graph import Graph
from plait.engine.observe import Observer, combine
from plait.engine.pools import WorkerPool
from plait.engine.progress import RunProgress, live_runners, snapshot
from plait.engine.recording import Recorder, Restored
from plait.engine.result import RunResult
from plait.engine.session import Session
from plait.engine.state import RunScope
from plait.engine.steplogs import install as capture_step_logs
from plait.engine.summary import build_result
from plait.executors.select import Choice, Executors
from plait.status import RunStatus, StepStatus
from plait.tools.context import close_resources


class Run:
    """Executes a plan once. Create it, then ``await run.execute()``; ``cancel()`` any time."""

    def __init__(
        self,
        plan: Plan,
        inputs: dict[str, Any],
        *,
        run_id: str | None = None,
        executor: Choice = None,
        pools: dict[str, WorkerPool] | None = None,
        recorder: Recorder | None = None,
        restored: dict[str, Restored] | None = None,
        attempts_before: dict[str, int] | None = None,
        env: EnvBinding = NO_ENV,
        signals: dict[str, Any] | None = None,
    ) -> None:
        """``env`` is what ``${env.NAME}`` reads (``bind_env``); its secrets are masked in
        everything the run records or reports. ``restored`` holds steps that succeeded in
        an earlier process (a resume): they end at once with their recorded output and
        never run again. ``attempts_before`` numbers the new attempts of the others after
        the recorded ones. ``signals`` are the values a resume gives ``wait`` steps."""
        run_id = run_id or uuid.uuid4().hex
        self._session = session = Session(
            plan,
            inputs,
            run_id,
            executor=executor,
            pools=pools,
            recorder=recorder,
            restored=restored,
            attempts_before=attempts_before,
            env=env,
            signals=signals,
        )
        states = session.new_states(plan)
        scope = RunScope(plan, states, inputs, run_id, env.values)
        self._graph = Graph(session, plan, states, scope)
        session.root = self._graph
        self._result: RunResult | None = None

    @property
    def run_id(self) -> str:
        return self._session.run_id

    @property
    def plan(self) -> Plan:
        return self._session.plan

    @property
    def status(self) -> RunStatus:
        if self._result is not None:
            return self._result.status
        return self._graph.status

    @property
    def pools(self) -> dict[str, WorkerPool]:
        """The run's worker pools by name (their ``get_stats()`` and ``get_status()``)."""
        return self._session.pools

    @property
    def resources(self) -> dict[str, Any]:
        """Per-run shared objects for tools (connection pools); see ``StepContext``."""
        return self._session.resources

    async def execute(self) -> RunResult:
        """Run to the end and return the result. Cancelling the caller cancels the run
        (every step stopped and recorded) and then re-raises ``CancelledError``."""
        graph, session = self._graph, self._session
        if graph.status is not RunStatus.PENDING:
            raise RuntimeError(f"run {self.run_id} was already started; make a new Run")
        graph.status = RunStatus.RUNNING  # (a second execute() is refused from here on)
        graph.done = session.finished = asyncio.get_running_loop().create_future()
        cancelled = False
        secrets.register(id(self), session.secrets)  # masked out of plait's log records
        capture_step_logs()  # what steps log is kept (once per process)
        if session.recorder is not None:
            await session.recorder.begin(session)
        async with Executors(session.executor, threads=session.thread_count) as executors:
            session.executors = executors
            limit = self.plan.max_duration
            if limit is not None:
                session.deadlines.after(limit, self._timed_out, limit)
            if session.observer is not None:
                session.observer.run_started(session)
            try:
                graph.start()
                await asyncio.shield(graph.done)
            except asyncio.CancelledError:
                cancelled = True
                graph.abort(RunStatus.CANCELLED, "the run was cancelled")
                # Successes still waiting for their commit end the run when they land.
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.shield(graph.done)
            finally:
                session.deadlines.cancel_all()
                await session.drain()
                await close_resources(session.resources)
        secrets.unregister(id(self))
        if session.paused:
            graph.status = RunStatus.PAUSED
        self._result = result = build_result(session, graph, time.time())
        if session.observer is not None:
            session.observer.run_finished(result)
        if session.recorder is not None:
            await session.recorder.finish(result)
        if cancelled:
            raise asyncio.CancelledError
        return result

    def cancel(self, reason: str = "the run was cancelled") -> None:
        """Stop the run: running steps are cancelled, the rest skipped; status ``cancelled``."""
        if self._graph.status is RunStatus.RUNNING:
            self._graph.abort(RunStatus.CANCELLED, reason)

    def attach_recorder(self, recorder: Recorder) -> None:
        """Record this run in a store (before ``execute``)."""
        if self._graph.status is not RunStatus.PENDING:
            raise RuntimeError(f"run {self.run_id} has started; attach a recorder before")
        self._session.recorder = recorder

    def attach_observer(self, observer: Observer) -> None:
        """Report this run's transitions to ``observer`` as well (traces, metrics:
        ``plait.observability``), before ``execute``; a second one joins the first."""
        if self._graph.status is not RunStatus.PENDING:
            raise RuntimeError(f"run {self.run_id} has started; attach an observer before")
        session = self._session
        found = [] if session.observer is None else [session.observer]
        session.observer = combine([*found, observer])

    @property
    def waiting_for(self) -> list[str]:
        """The signals the ``wait`` steps of a paused run wait for."""
        return sorted({st.node.signal for st in self._session.waiting})

    def counts(self) -> dict[StepStatus, int]:
        """How many of the workflow's steps are in each status now (O(steps): for
        progress views, not hot paths)."""
        counts = dict.fromkeys(StepStatus, 0)
        for st in self._graph.states:
            counts[st.status] += 1
        return counts

    def running(self) -> list[str]:
        """The ids of the workflow's steps running now, in the workflow's order."""
        return [st.node.id for st in self._graph.states if st.status is StepStatus.RUNNING]

    def progress(self) -> RunProgress:
        """Where the run is, for a progress view: the workflow's counts over every node
        (map branches' steps included), each map's, loop's and group's counts nested
        under its parent, and the failures so far (masked). O(nodes): call it a few
        times a second, not per step (``engine/progress.py``)."""
        session = self._session
        runners = live_runners(self._graph)
        live = [st for runner in runners for child in runner.live.values() for st in child.states]
        return snapshot(
            self._graph.states,
            [*live, *session.records.ended_states()],
            runners,
            session.secrets.text,
        )

    def _timed_out(self, limit: float) -> None:
        self._graph.abort(RunStatus.TIMED_OUT, f"the run timed out after {limit:g}s")
