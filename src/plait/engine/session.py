"""What one run shares with every graph of it: the workflow's, each map branch's, each
loop pass's and each sub-workflow's.

Built once per run by ``Run``; every ``Graph`` of the run holds the same one, so
limits, recording, timers and "nothing leaks" hold inside bodies exactly as outside::

    Run (handle) ─▶ Session: pools · executors · breakers · recorder · observer ·
                    tasks · deadlines · signals · restored steps · pause decision ·
                    meter (output sizes) · records (the body graphs that ended)
                       ▲
          Graph (the workflow) · Graph (branch <3>) · Graph (pass [2]) · ...

The pause decision is here because it is run-wide: a run pauses when some ``wait``
step waits for a signal and nothing anywhere in it can make progress.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from plait.compiler.inputs import EnvBinding
from plait.compiler.plan import Plan
from plait.engine.breaker import CircuitBreaker
from plait.engine.deadlines import Deadline, Deadlines
from plait.engine.finished import Records
from plait.engine.meter import Meter
from plait.engine.observe import Observer
from plait.engine.pools import WorkerPool, pool_from_spec
from plait.engine.recording import Recorder, Restored
from plait.engine.state import Frame, StepState
from plait.errors import RunError, RunTooLarge, StoreError
from plait.executors.select import Choice, Executors
from plait.status import RunStatus


class Root(Protocol):
    """What the session may do to the run's top graph: stop it."""

    def abort(self, status: RunStatus, reason: str, error: RunError | None = None) -> None: ...


class Session:
    """The run-wide state. Mutated only by the run's event loop."""

    def __init__(
        self,
        plan: Plan,
        inputs: dict[str, Any],
        run_id: str,
        *,
        executor: Choice,
        pools: dict[str, WorkerPool] | None,
        recorder: Recorder | None,
        restored: dict[str, Restored] | None,
        attempts_before: dict[str, int] | None,
        env: EnvBinding,
        signals: dict[str, Any] | None,
    ) -> None:
        self.run_id = run_id
        self.plan = plan  # the workflow's (a body's plan is its graph's)
        self.inputs = inputs
        self.env = env.values
        self.secrets = env.secrets
        self.pools = pools or {name: pool_from_spec(spec) for name, spec in plan.pools.items()}
        self.executor: Choice = executor or plan.executor  # an Executor, or a spec to open
        self.executors: Executors | None = None  # open while the run executes
        # circuitBreakers: one per tool name, shared by every graph of the run
        self.breakers = {
            name: CircuitBreaker(spec, name=name, kind="tool")
            for name, spec in plan.breakers.items()
        }
        self.tasks: set[asyncio.Task[None]] = set()
        self.resources: dict[str, Any] = {}
        self.recorder = recorder
        self.observer: Observer | None = None  # traces, metrics (engine/observe.py)
        # A resume: steps that succeeded in an earlier process end at once with their
        # recorded output; the others' attempts are numbered after the recorded ones.
        self.restored = dict(restored or {})
        self.attempts_before = attempts_before or {}
        # what is kept of every body graph that ended: map branches, loop passes...
        self.records = Records()
        self.meter = Meter(plan.limits)  # each output against `limits:`
        self.oversize: RunError | None = None  # why the run's outputs are too large
        self.deadlines = Deadlines()
        # Pause and resume: the signals given (a resume's), the `wait` nodes waiting for
        # one (with their timeout), and successes not yet on disk.
        self.signals = dict(signals or {})
        self.waiting: dict[StepState, Deadline | None] = {}
        self.unreleased = 0
        self.finished: asyncio.Future[None] | None = None  # the top graph's end
        self.ending = False  # the run is being aborted
        self.paused = False
        self.root: Root | None = None
        self._pause_check = False

    def new_states(self, plan: Plan, frame: Frame | None = None) -> list[StepState]:
        """The records of a new graph's nodes: the workflow's, or a body's (``frame``),
        whose attempts a resume numbers after the recorded ones."""
        if frame is None:
            states = [StepState(node) for node in plan.nodes]
        else:
            states = [StepState(node, frame.node_id(node.id), frame) for node in plan.nodes]
        if self.attempts_before:
            for st in states:
                st.attempts = self.attempts_before.get(st.node_id, st.attempts)
        return states

    # -- what the recorder may do to the run ------------------------------------------

    def cancel(self, reason: str) -> None:
        if self.root is not None:
            self.root.abort(RunStatus.CANCELLED, reason)

    def weigh(self, node_id: str, output: Any, encode: bool) -> tuple[str | None, RunError | None]:
        """A success's output against the run's limits: its JSON when ``encode`` (the
        store keeps it), and why it is refused, if it is (``RunTooLarge`` stops the run)."""
        if encode:
            output_json, refused = self.meter.encode(node_id, output)
        else:
            output_json, refused = None, self.meter.weigh(node_id, output)
        if isinstance(refused, RunTooLarge):
            self.too_large(refused)
        return output_json, refused

    def too_large(self, error: RunError) -> None:
        """A step took the run's outputs past ``maxRunSize`` (its own end records that):
        the whole run fails, soon, once, as cleanly as a cancel."""
        if self.oversize is not None:
            return
        self.oversize = failure = RunError(error.message, type=error.type)
        root = self.root
        if root is not None:
            reason = "the run's outputs are over its maxRunSize"
            asyncio.get_running_loop().call_soon(root.abort, RunStatus.FAILED, reason, failure)

    def fail_store(self, exc: StoreError) -> None:
        """The store cannot be written: stop, since nothing more could be recorded."""
        if self.root is not None:
            self.root.abort(RunStatus.FAILED, str(exc), RunError(str(exc), type="StoreError"))

    # -- pausing ----------------------------------------------------------------------

    def check_pause(self) -> None:
        """Soon (once what is ending has ended), pause if only waits are left."""
        if not self._pause_check:
            self._pause_check = True
            asyncio.get_running_loop().call_soon(self._maybe_pause)

    def _maybe_pause(self) -> None:
        self._pause_check = False
        finished = self.finished
        if not self.waiting or finished is None or finished.done() or self.ending:
            return
        if self.unreleased or any(not task.done() for task in self.tasks):
            return  # something still runs, or a success is not yet on disk
        for pool in self.pools.values():
            status = pool.get_status()
            if status.active_workers or status.queue_length:
                return
        self._pause()

    def _pause(self) -> None:
        """Nothing can run until a signal is given: the run ends ``paused``. What it did
        is in the store; ``plait resume RUN_ID --input SIGNAL=VALUE`` goes on."""
        waiting = []
        for st in self.waiting:
            st.reason = f"waiting for signal '{st.node.signal}'"
            waiting.append({"step": st.node_id, "signal": st.node.signal})
        self.deadlines.cancel_all()  # nothing may fire after the run ended
        if self.recorder is not None:
            self.recorder.event("run_paused", payload={"waiting": waiting})
        self.paused = True
        assert self.finished is not None
        self.finished.set_result(None)

    def unwait(self, st: StepState) -> None:
        deadline = self.waiting.pop(st, None)
        if deadline is not None:
            deadline.cancel()

    async def drain(self) -> None:
        """Wait until every task of the run has really stopped: nothing leaks."""
        while pending := [task for task in self.tasks if not task.done()]:
            await asyncio.gather(*pending, return_exceptions=True)
        self.tasks.clear()

    @property
    def thread_count(self) -> int:
        return max(4, min(64, sum(p.capacity for p in self.pools.values())))
