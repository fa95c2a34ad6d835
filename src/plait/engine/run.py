"""One run of a Plan: start what is ready, record what ends, release what follows.

There is no polling loop. Every ending goes through ``end``; ``_propagate`` drains a
work-list of endings, each costing O(out-degree), and starts whatever became ready:

    task ends ─▶ end() ─▶ _propagate(): group tally · window · out-edges ─▶ launch()

A work-list rather than recursion, so a chain of 100,000 skips cannot overflow the
stack. Tasks are created only when a slot is free: queued steps are entries in a
pool's deque, never idle coroutines.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from plait import secrets
from plait.compiler.inputs import NO_ENV, EnvBinding
from plait.compiler.plan import Node, NodeKind, Plan
from plait.engine import monitor
from plait.engine.breaker import CircuitBreaker
from plait.engine.groups import GroupRunner
from plait.engine.pools import WorkerPool, pool_from_spec
from plait.engine.ready import Edge, ReadyQueue, Verdict
from plait.engine.recording import Recorder, Restored, dumps
from plait.engine.result import RunResult, build_result
from plait.engine.retry import next_delay, past_deadline
from plait.engine.state import ErrorScope, Frame, FrameScope, ResultScope, RunScope, StepState
from plait.errors import (
    CircuitOpen,
    PlaitError,
    PoolFull,
    RunCancelled,
    RunError,
    RunTimedOut,
    StepFailed,
    StepTimedOut,
    StoreError,
    plain,
)
from plait.executors.select import Choice, Executors
from plait.expressions.ast import Scope
from plait.status import RunStatus, StepStatus
from plait.tools.context import StepContext, close_resources

_FAILED = (StepStatus.FAILED, StepStatus.TIMED_OUT)
_TASK = NodeKind.TASK
_POOL_LOG, _DEBUG = monitor.POOL_LOG, monitor.DEBUG


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
        never run again. ``attempts_before``
        numbers the new attempts of the others after the recorded ones."""
        self.run_id = run_id or uuid.uuid4().hex
        self.inputs = inputs
        # What every branch and pass of the run's maps and loops shares with it.
        self.root = self
        self.pools = pools or {name: pool_from_spec(spec) for name, spec in plan.pools.items()}
        self._executor = executor  # an Executor, or an ExecutorSpec to open; None: the plan's
        self._executors: Executors | None = None
        # circuitBreakers: one per tool name, shared by the run's bodies (via root)
        self.breakers = {
            name: CircuitBreaker(spec, name=name, kind="tool")
            for name, spec in plan.breakers.items()
        }
        self._tasks: set[asyncio.Task[None]] = set()
        self._resources: dict[str, Any] = {}
        self._recorder = recorder
        self._restored = dict(restored or {})
        self._attempts_before = attempts_before or {}
        self.nested: list[StepState] = []  # the root's record of every body node
        self.secrets = env.secrets
        # Pause and resume: the signals given (a resume's), the `wait` nodes waiting for
        # one (with their timeout's timer), and successes not yet on disk.
        self.signals = dict(signals or {})
        self.waiting: dict[StepState, asyncio.TimerHandle | None] = {}
        self._unreleased = 0
        self._pause_check = False
        states = [StepState(node) for node in plan.nodes]
        scope = RunScope(plan, states, inputs, self.run_id, env.values)
        self._init_frame(plan, states, scope, None, None)

    def _init_frame(
        self,
        plan: Plan,
        states: list[StepState],
        scope: Scope,
        frame: Frame | None,
        on_done: Callable[[Run], None] | None,
    ) -> None:
        """The state of one graph's execution: the run's own, or a body's in a child."""
        self.plan = plan
        self.states = states
        self.scope = scope
        self.frame = frame
        self._on_done = on_done
        self.status = RunStatus.PENDING
        self.error: RunError | None = None
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self._queue = ReadyQueue(plan)
        self._groups: dict[int, GroupRunner] = {}
        # Maps and loops: their scopes here; a body's branch or pass is a child Run that
        # shares this run's pools, executor, recorder and tasks (see engine/bodies/).
        self._frames: dict[int, Any] = {}
        self._ended: deque[StepState] = deque()
        self._propagating = False
        self._remaining = len(plan.nodes)
        self._done: asyncio.Future[None] | None = None
        self._abort_status: RunStatus | None = None
        if self._attempts_before:
            for st in states:
                st.attempts = self._attempts_before.get(st.node_id, st.attempts)

    def child(
        self,
        plan: Plan,
        frame: Frame,
        names: dict[str, Any],
        outer: Scope,
        on_done: Callable[[Run], None],
    ) -> Run:
        """A branch of a map or a pass of a loop: ``plan`` (the body) run inside this run."""
        root = self.root
        child = Run.__new__(Run)
        child.run_id = root.run_id
        child.inputs = root.inputs
        child.root = root
        child.pools = root.pools
        child._executor = root._executor
        child._executors = root._executors
        child._tasks = root._tasks
        child._resources = root._resources
        child._recorder = root._recorder
        child._restored = root._restored
        child._attempts_before = root._attempts_before
        child.nested = root.nested
        child.secrets = root.secrets
        states = [StepState(node, frame.node_id(node.id), frame) for node in plan.nodes]
        child._init_frame(plan, states, FrameScope(plan, states, names, outer), frame, on_done)
        root.nested.extend(states)
        return child

    def start(self) -> None:
        """Start a child run (the root starts in ``execute``)."""
        self.status = RunStatus.RUNNING
        self.started_at = time.time()
        self._done = asyncio.get_running_loop().create_future()
        self._start_roots()

    # -- the public surface ------------------------------------------------------------

    async def execute(self) -> RunResult:
        """Run to the end and return the result. Cancelling the caller cancels the run
        (every step stopped and recorded) and then re-raises ``CancelledError``."""
        if self.status is not RunStatus.PENDING:
            raise RuntimeError(f"run {self.run_id} was already started; make a new Run")
        loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        self.status = RunStatus.RUNNING
        self.started_at = time.time()
        executors = Executors(
            self._executor or self.plan.executor, threads=_thread_count(self.pools)
        )
        timer = None
        if self.plan.max_duration is not None:
            timer = loop.call_later(self.plan.max_duration, self._on_max_duration)
        cancelled = False
        secrets.register(id(self), self.secrets)  # masked out of plait's log records
        if self._recorder is not None:
            await self._recorder.begin(self)
        async with executors:
            self._executors = executors
            try:
                self._start_roots()
                await asyncio.shield(self._done)
            except asyncio.CancelledError:
                cancelled = True
                self.abort(RunStatus.CANCELLED, "the run was cancelled")
                # Successes still waiting for their commit end the run when they land.
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.shield(self._done)
            finally:
                if timer is not None:
                    timer.cancel()
                await self._drain()
                await close_resources(self._resources)
        secrets.unregister(id(self))
        self.finished_at = time.time()
        result = build_result(self)
        if self._recorder is not None:
            await self._recorder.finish(result)
        if cancelled:
            raise asyncio.CancelledError
        return result

    def cancel(self, reason: str = "the run was cancelled") -> None:
        """Stop the run: running steps are cancelled, the rest skipped; status ``cancelled``."""
        if self.status is RunStatus.RUNNING:
            self.abort(RunStatus.CANCELLED, reason)

    def attach_recorder(self, recorder: Recorder) -> None:
        """Record this run in a store (before ``execute``)."""
        if self.status is not RunStatus.PENDING:
            raise RuntimeError(f"run {self.run_id} has started; attach a recorder before")
        self._recorder = recorder

    @property
    def resources(self) -> dict[str, Any]:
        """Per-run shared objects for tools (connection pools); see ``StepContext``."""
        return self._resources

    # -- starting ----------------------------------------------------------------

    def _start_roots(self) -> None:
        self._propagating = True
        try:
            for index in self._queue.initial():
                self.launch(self.states[index])
        finally:
            self._propagating = False
        self._propagate()

    def launch(self, st: StepState) -> None:
        """Start a node whose dependencies are done: through its group's window, then its
        pool (a task) or its own scope (a group)."""
        if st.done:
            return
        node = st.node
        if self._restored and st.node_id in self._restored:
            self._restore(st)
            return
        if node.when is not None and not st.in_window and not self._guard(st, node.when):
            return
        if node.group is not None and not st.in_window and not self._groups[node.group].admit(st):
            self._set_status(st, StepStatus.QUEUED)
            return
        if node.kind is NodeKind.GROUP:
            self._start_group(st)
        elif node.kind is NodeKind.SWITCH:
            self._switch(st)
        elif node.kind is NodeKind.TASK:
            self._submit(st)
        elif node.kind is NodeKind.WAIT:
            self._wait(st)
        else:
            self._start_frames(st)

    def _start_frames(self, st: StepState) -> None:
        """A map, a loop or a sub-workflow: its scope runs the body as child runs, and
        ends the node."""
        from plait.engine.bodies import runner_for_node

        st.started_at = time.time()
        st.attempts += 1
        self._set_status(st, StepStatus.RUNNING)
        if self._recorder is not None:
            self._recorder.step_started(st, None)
        scope = runner_for_node(self, st)
        if st.node.kind is NodeKind.MAP and monitor.PARALLEL_LOG.isEnabledFor(monitor.INFO):
            monitor.parallel_started(st, None)
        self._frames[st.node.index] = scope
        scope.start()

    # -- wait, pause and resume ------------------------------------------------------

    def _wait(self, st: StepState) -> None:
        """A ``wait`` node: ends at once with its signal's value if the run was given it
        (a resume); otherwise it waits, and when nothing else can run the run pauses."""
        node = st.node
        root = self.root
        st.started_at = time.time()
        st.attempts += 1
        self._set_status(st, StepStatus.RUNNING)
        if node.signal in root.signals:
            if self._recorder is not None:
                self._recorder.step_started(st, None)
            self._signalled(st, root.signals[node.signal])
            return
        if self._recorder is not None:
            self._recorder.step_waiting(st, node.signal)
        timer = None
        if node.timeout is not None:
            timer = asyncio.get_running_loop().call_later(node.timeout, self._wait_timed_out, st)
        root.waiting[st] = timer
        root._check_pause()

    def _signalled(self, st: StepState, value: Any) -> None:
        node = st.node
        if node.output is not None:
            try:
                value = node.output.render(ResultScope(self.scope_for(st), value))
            except PlaitError as exc:
                error = StepFailed(f"output: {_message(exc)}", step=node.id, type="ExpressionError")
                self.end(st, StepStatus.FAILED, error=error)
                return
        self.end(st, StepStatus.SUCCEEDED, output=value)

    def _wait_timed_out(self, st: StepState) -> None:
        if st not in self.root.waiting or st.done:
            return
        del self.root.waiting[st]
        node = st.node
        message = f"wait '{node.id}' for signal '{node.signal}' timed out after {node.timeout:g}s"
        self.end(st, StepStatus.TIMED_OUT, error=StepTimedOut(message, step=st.node_id))

    def _unwait(self, st: StepState) -> None:
        timer = self.root.waiting.pop(st, None)
        if timer is not None:
            timer.cancel()

    @property
    def waiting_for(self) -> list[str]:
        """The signals the ``wait`` steps of a paused run wait for."""
        return sorted({st.node.signal for st in self.root.waiting})

    def _check_pause(self) -> None:
        """Soon (once what is ending has ended), pause if only waits are left."""
        if not self._pause_check:
            self._pause_check = True
            asyncio.get_running_loop().call_soon(self._maybe_pause)

    def _maybe_pause(self) -> None:
        self._pause_check = False
        done = self._done
        if not self.waiting or done is None or done.done() or self._abort_status is not None:
            return
        if self._unreleased or any(not task.done() for task in self._tasks):
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
        for st, timer in self.waiting.items():
            if timer is not None:
                timer.cancel()
            st.reason = f"waiting for signal '{st.node.signal}'"
            waiting.append({"step": st.node_id, "signal": st.node.signal})
        _quiet(self)
        if self._recorder is not None:
            self._recorder.event("run_paused", payload={"waiting": waiting})
        self.status = RunStatus.PAUSED
        assert self._done is not None
        self._done.set_result(None)

    def scope_for(self, st: StepState) -> Scope:
        """The names a node's expressions see: the run's, and ``error`` in a handler."""
        return self.scope if st.caught is None else ErrorScope(self.scope, st.caught)

    def _guard(self, st: StepState, when: Any) -> bool:
        """Evaluate ``when``: false skips the node (a dead edge for its dependents)."""
        try:
            passed = bool(when.render(self.scope_for(st)))
        except PlaitError as exc:
            error = StepFailed(f"when: {_message(exc)}", step=st.node.id, type="ExpressionError")
            self.end(st, StepStatus.FAILED, error=error)
            return False
        if not passed:
            self._end_skipped(st, "its 'when' condition is false", Edge.DEAD)
        return passed

    def _switch(self, st: StepState) -> None:
        """Choose the first case whose condition holds (or the default); its targets' edges
        are live, the others' dead. A switch holds no slot: it ends as it starts."""
        st.started_at = time.time()
        st.attempts += 1
        self._set_status(st, StepStatus.RUNNING)
        if self._recorder is not None:
            self._recorder.step_started(st, None)
        scope = self.scope_for(st)
        chosen: tuple[int, ...] = ()
        for i, (when, targets) in enumerate(st.node.cases):
            try:
                hit = when is None or bool(when.render(scope))
            except PlaitError as exc:
                error = StepFailed(
                    f"switch case {i + 1}: {_message(exc)}", step=st.node.id, type="ExpressionError"
                )
                self.end(st, StepStatus.FAILED, error=error)
                return
            if hit:
                chosen = targets
                break
        st.chosen = frozenset(chosen)
        ids = [self.states[i].node.id for i in chosen]
        self.end(st, StepStatus.SUCCEEDED, output=ids[0] if len(ids) == 1 else (ids or None))

    def _submit(self, st: StepState) -> None:
        pool = self.pools[st.node.pool]
        st.queued_at = time.time()
        self._set_status(st, StepStatus.QUEUED)
        if (pool.breaker is not None or self.root.breakers) and self._circuit_refuses(st, pool):
            return
        if pool.try_acquire():
            self._spawn(st, pool)
        elif not pool.enqueue(lambda: self._dequeued(st, pool), lambda: not st.done):
            monitor.queue_full(pool, st.node_id)
            self.end(
                st,
                StepStatus.FAILED,
                error=PoolFull(
                    f"pool '{pool.name}' queue is full (queueSize {pool.queue_size}); step "
                    f"'{st.node.id}' was rejected",
                    step=st.node.id,
                ),
            )

    def _circuit_refuses(self, st: StepState, pool: WorkerPool) -> bool:
        """An open circuit fails the step at once, without queueing for a slot or a token,
        unless its ``retryOn`` names ``CircuitOpen`` (it then waits out its backoff)."""
        tool = st.node.tool
        tool_breaker = self.root.breakers.get(tool.name) if tool is not None else None
        open_breaker = next(
            (b for b in (pool.breaker, tool_breaker) if b is not None and b.rejects()), None
        )
        policy = st.node.retry
        if open_breaker is None or (policy is not None and policy.retries(CircuitOpen.type)):
            return False
        try:
            open_breaker.admit(st.node_id)
        except CircuitOpen as exc:
            st.started_at = time.time()
            st.attempts += 1
            self.end(st, StepStatus.FAILED, error=exc)
            return True
        return False  # unreachable: a breaker that rejects refuses admit()

    def _dequeued(self, st: StepState, pool: WorkerPool) -> bool:
        if st.done:
            return False
        self._spawn(st, pool)
        return True

    def _spawn(self, st: StepState, pool: WorkerPool) -> None:
        task = asyncio.get_running_loop().create_task(self._run_task(st, pool))
        st.task = task
        self._tasks.add(task)

    def _restore(self, st: StepState) -> None:
        """End a step that succeeded before a crash, with its recorded output. A restored
        group's members all ended back then: the ones it had not cancelled are restored
        too, the rest stay cancelled."""
        node = st.node
        if node.kind is NodeKind.GROUP:
            for member_index in node.members:
                member = self.states[member_index]
                if member.done:
                    continue
                if member.node_id in self._restored:
                    self._restore(member)
                else:
                    self.cancel_node(
                        member,
                        StepStatus.CANCELLED,
                        StepStatus.CANCELLED,
                        f"its group '{node.group_id}' had already ended",
                    )
        record = self._restored.pop(st.node_id)
        if node.kind is NodeKind.SWITCH:  # the route it chose back then
            chosen = record.output if isinstance(record.output, list) else [record.output]
            st.chosen = frozenset(self.plan.index[i] for i in chosen if i in self.plan.index)
        st.started_at = record.started_at
        st.attempts = max(st.attempts, record.attempts)
        st.winner = record.winner
        self.end(st, StepStatus.SUCCEEDED, output=record.output, restored=True)
        st.finished_at = record.finished_at

    def _start_group(self, st: StepState) -> None:
        if st.node.dynamic is not None:  # its members come from its callable, now
            self._start_frames(st)
            return
        scope = GroupRunner(self, st)
        self._groups[st.node.index] = scope
        st.started_at = time.time()
        st.attempts += 1
        self._set_status(st, StepStatus.RUNNING)
        if self._recorder is not None:
            self._recorder.step_started(st, None)
        node = st.node
        if monitor.PARALLEL_LOG.isEnabledFor(monitor.INFO):
            monitor.parallel_started(st, len(node.members))
        if node.timeout is not None:
            scope.timer = asyncio.get_running_loop().call_later(
                node.timeout, self._on_group_timeout, scope
            )
        self._release(node, node.members, Edge.LIVE)
        scope.check_empty()

    # -- a task's life ---------------------------------------------------------------

    async def _run_task(self, st: StepState, pool: WorkerPool) -> None:
        if st.done:  # ended (a group decided) before this task got to run: pass the slot on
            if st.task is not None:
                self._tasks.discard(st.task)
                st.task = None
            pool.release()
            return
        node = st.node
        slot = _Slot()
        status, output = StepStatus.SUCCEEDED, None
        error: RunError | None = None
        log = _POOL_LOG.isEnabledFor(_DEBUG)
        try:
            st.started_at = time.time()
            if log:
                monitor.slot_granted(pool, st)
            self._set_status(st, StepStatus.RUNNING)
            scope = self.scope_for(st)
            value = node.input.render(scope)
            output = await self._attempts(st, value, pool, slot)
            if node.output is not None:
                output = node.output.render(ResultScope(scope, output))
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not st.done and current is not None and current.cancelling():
                raise  # not cancelled by us: the loop itself is going away
            if not st.done:  # the tool raised CancelledError of its own accord
                status = StepStatus.FAILED
                error = StepFailed("the tool raised CancelledError", type="CancelledError")
        except RunError as exc:
            status, error = _status_of(exc), exc
        except Exception as exc:  # an ExpressionError, or a bug: the step fails, the run goes on
            status, error = StepStatus.FAILED, StepFailed(_message(exc), type=type(exc).__name__)
        finally:
            if st.task is not None:
                self._tasks.discard(st.task)
                st.task = None  # a finished task would otherwise live as long as the run
            if slot.held:
                timed_out = StepStatus.TIMED_OUT in (status, st.status)
                pool.record(failed=error is not None or st.done, timed_out=timed_out)
                pool.release()
                if log:
                    monitor.slot_released(pool, st, status.value)
        if error is not None and error.step is None:
            error.step = st.node_id
        self.end(st, status, output=output, error=error)

    async def _attempts(self, st: StepState, value: Any, pool: WorkerPool, slot: _Slot) -> Any:
        """Call the tool, retrying as its policy says; a backoff holds no slot, and no
        attempt starts after the policy's deadline. With a circuit breaker or an adaptive
        limit, each call goes through ``pool.guarded``."""
        node = st.node
        policy = node.retry
        timeout = node.timeout if node.timeout is not None else pool.timeout
        guarded = pool.guards or bool(self.root.breakers)
        # A retry deadline is measured on the loop's clock (a test's fake one).
        clock = asyncio.get_running_loop().time if policy is not None else None
        first = clock() if clock is not None else 0.0
        while True:
            st.attempts += 1
            if self._recorder is not None:
                self._recorder.step_started(st, value)
            try:
                if not guarded:
                    return await self._call(st, value, timeout)
                return await self._guarded_call(st, value, timeout, pool)
            except RunError as exc:
                error = exc
            elapsed = clock() - first if clock is not None else 0.0
            delay = next_delay(policy, st.attempts, error.type, elapsed, random.random())
            if delay is None:
                raise error
            if st.attempt_errors is None:
                st.attempt_errors = []
            st.attempt_errors.append(error)
            if self._recorder is not None:
                self._recorder.attempt_failed(st, error)
            pool.record(failed=True, timed_out=isinstance(error, StepTimedOut))
            slot.held = False
            pool.release()
            log = monitor.POOL_LOG.isEnabledFor(monitor.DEBUG)
            if log:
                monitor.slot_released(pool, st, "backoff")
            await asyncio.sleep(delay)
            st.queued_at = time.time()
            await pool.acquire()
            slot.held = True
            if log:
                monitor.slot_granted(pool, st)
            assert policy is not None
            assert clock is not None
            if past_deadline(policy, clock() - first):  # the queue for the slot took too long
                slot.held = False
                pool.release()
                st.attempt_errors.pop()
                raise error

    async def _guarded_call(
        self, st: StepState, value: Any, timeout: float | None, pool: WorkerPool
    ) -> Any:
        """One call through the pool's circuit breaker and the tool's (``CircuitOpen`` if
        either is open), timed for an adaptive limit."""
        tool = st.node.tool
        breaker = self.root.breakers.get(tool.name) if tool is not None else None
        return await pool.guarded(lambda: self._call(st, value, timeout), breaker, step=st.node_id)

    async def _call(self, st: StepState, value: Any, timeout: float | None) -> Any:
        node = st.node
        tool = node.tool
        assert tool is not None
        assert self._executors is not None
        executor = self._executors.pick(node.executor)
        ctx = self._context(st) if tool.wants_ctx or executor.needs_context else None
        try:
            if timeout is None:
                return await executor.call(tool, value, ctx)
            async with asyncio.timeout(timeout) as deadline:
                return await executor.call(tool, value, ctx)
        except TimeoutError:
            if timeout is not None and deadline.expired():
                raise StepTimedOut(
                    f"step '{node.id}' timed out after {timeout:g}s", step=node.id
                ) from None
            raise StepFailed(
                "TimeoutError raised by the tool", step=node.id, type="TimeoutError"
            ) from None
        except (RunError, asyncio.CancelledError):
            raise
        except (Exception, SystemExit, KeyboardInterrupt) as exc:
            # A tool's sys.exit() or stray KeyboardInterrupt fails its step, not the engine.
            raise StepFailed(
                str(exc) or type(exc).__name__, step=node.id, type=type(exc).__name__
            ) from exc

    def _context(self, st: StepState) -> StepContext:
        assert self._executors is not None
        return StepContext(
            run_id=self.run_id,
            workflow=self.plan.name,
            step_id=st.node.id,
            node_id=st.node_id,
            attempt=st.attempts,
            workflow_dir=self.plan.folder,
            run_in_thread=self._executors.run_in_thread,
            resources=self._resources,
        )

    # -- endings -----------------------------------------------------------------------

    def end(
        self,
        st: StepState,
        status: StepStatus,
        *,
        output: Any = None,
        error: RunError | None = None,
        reason: str | None = None,
        edge: Edge | None = None,
        restored: bool = False,
    ) -> None:
        """Record that a node ended, once; its consequences follow in ``_propagate``.

        With a store, a success is released to the dependents only once it is on disk;
        its output must be JSON, or the step fails here, naming the type."""
        if st.done:
            return
        output_json = None
        recorder = self._recorder
        if recorder is not None and not restored and status is StepStatus.SUCCEEDED:
            try:
                output_json = dumps(output)
            except (TypeError, ValueError, RecursionError) as exc:
                status, output = StepStatus.FAILED, None
                error = StepFailed(
                    f"step '{st.node.id}' output cannot be stored as JSON: {exc}",
                    step=st.node.id,
                    type="OutputNotSerializable",
                )
        st.done = True
        self._set_status(st, status)
        st.output = output
        st.error = error
        st.reason = reason
        st.finished_at = time.time()
        node = st.node
        if node.kind is not _TASK and monitor.PARALLEL_LOG.isEnabledFor(monitor.INFO):
            monitor.parallel_ended(st)
        if edge is not None:
            st.edge = edge
        elif status is StepStatus.SUCCEEDED:
            st.edge = Edge.LIVE
        elif status in _FAILED:
            absorbed = node.continue_on_error or bool(node.on_error)
            st.edge = Edge.LIVE if absorbed else Edge.BLOCKED
            if node.group is None and not absorbed and self.error is None:
                self.error = error
        else:
            st.edge = Edge.DEAD
        if recorder is not None and not restored:
            # What dependents consume (a success, or a failure under continueOnError)
            # reaches them only once it is on disk.
            if st.edge is Edge.LIVE:
                self.root._unreleased += 1
                recorder.step_ended(st, output_json, lambda: self._released(st))
                return
            recorder.step_ended(st, None, None)
        self._ended.append(st)
        if not self._propagating:
            self._propagate()

    def _released(self, st: StepState) -> None:
        """A success is on disk: now its dependents may consume it."""
        self.root._unreleased -= 1
        self._ended.append(st)
        if not self._propagating:
            self._propagate()

    def _propagate(self) -> None:
        self._propagating = True
        ended = self._ended
        try:
            while ended:
                st = ended.popleft()
                self._remaining -= 1
                node = st.node
                if node.group is not None:
                    scope = self._groups.get(node.group)
                    if scope is not None:
                        if st.in_window:
                            scope.leave(st)
                        scope.member_ended(st)
                if node.routed and st.edge is Edge.LIVE:
                    self._route(st)
                else:
                    self._release(node, node.out, st.edge)
        finally:
            self._propagating = False
        if self._remaining == 0 and self._done is not None and not self._done.done():
            self._finish()  # (a branch or pass ending: its map or loop may now wait)
        if self.root.waiting:
            self.root._check_pause()

    def _release(self, source: Node, targets: Iterable[int], edge: Edge) -> None:
        states = self.states
        resolve = self._queue.resolve
        for target in targets:
            st = states[target]
            if st.done:
                continue
            verdict = resolve(target, edge, source.index)
            if verdict is Verdict.READY:
                self.launch(st)
            elif verdict is Verdict.SKIP:
                self._skip(st)

    def _route(self, st: StepState) -> None:
        """Out-edges of a node that routes: a switch's chosen targets and, after a failure
        routed by ``onError``, its handlers are live; the other routes are dead."""
        node = st.node
        failed = st.status in _FAILED
        caught = None
        if failed and st.error is not None:
            caught = {**st.error.to_dict(), "step": node.id}
        for target in node.out:
            if target in node.on_error:
                edge = Edge.LIVE if failed else Edge.DEAD
                if failed and self.states[target].caught is None:
                    self.states[target].caught = caught
            elif failed:
                edge = Edge.DEAD  # the failure went to its handler, not down this path
            elif target in node.routed:
                edge = Edge.LIVE if target in st.chosen else Edge.DEAD
            else:
                edge = Edge.LIVE
            self._release(node, (target,), edge)

    def _skip(self, st: StepState) -> None:
        cause_index, edge = self._queue.skip_cause(st.node.index)
        if cause_index is None:
            self._end_skipped(st, "no live dependency", Edge.DEAD)
            return
        cause = self.states[cause_index]
        self._end_skipped(st, _skip_reason(cause, st), edge)

    def _end_skipped(self, st: StepState, reason: str, edge: Edge) -> None:
        """Skip a node (and a group's members with it): its dependents see ``edge``."""
        if st.node.kind is NodeKind.GROUP:
            for member in st.node.members:
                self.cancel_node(
                    self.states[member],
                    StepStatus.SKIPPED,
                    StepStatus.SKIPPED,
                    f"its group '{st.node.id}' was skipped",
                    edge,
                )
        self.end(st, StepStatus.SKIPPED, reason=reason, edge=edge)

    def cancel_node(
        self,
        st: StepState,
        if_started: StepStatus,
        if_waiting: StepStatus,
        reason: str,
        edge: Edge | None = None,
        error: RunError | None = None,
    ) -> None:
        """End a node that has not ended, and really stop whatever it started."""
        if st.done:
            return
        node = st.node
        started = st.status is StepStatus.RUNNING
        if node.kind is NodeKind.GROUP:
            scope = self._groups.get(node.index)
            if scope is not None:
                scope.decided = True
                if scope.timer is not None:
                    scope.timer.cancel()
            for member in node.members:
                self.cancel_node(self.states[member], if_started, if_waiting, reason, edge, error)
        has_frames = node.body is not None or node.dynamic is not None
        frames = self._frames.get(node.index) if has_frames else None
        if frames is not None:
            frames.stop(if_started, reason)
        if node.kind is NodeKind.WAIT:
            self._unwait(st)
        status = if_started if started else if_waiting
        if status is StepStatus.TIMED_OUT and error is None:
            error = StepTimedOut(reason, step=node.id)
        task = st.task
        self.end(st, status, reason=reason, edge=edge, error=error)
        # A task that has not begun sees `done` when it does, and returns its slot; only a
        # running one is cancelled (cancelling an unstarted task would skip its cleanup).
        if started and task is not None and not task.done():
            task.cancel()

    def _on_group_timeout(self, scope: GroupRunner) -> None:
        if scope.decided or scope.state.done:
            return
        node = scope.node
        message = f"group '{node.group_id}' timed out after {node.timeout:g}s"
        scope.decided = True
        for member in node.members:
            self.cancel_node(
                self.states[member], StepStatus.TIMED_OUT, StepStatus.CANCELLED, message
            )
        self.end(scope.state, StepStatus.TIMED_OUT, error=StepTimedOut(message, step=node.id))

    # -- the run's own end ---------------------------------------------------------------

    def abort(self, status: RunStatus, reason: str, error: RunError | None = None) -> None:
        """End the run early: running steps stopped, waiting ones skipped."""
        if self._abort_status is not None or self.status.finished:
            return
        self._abort_status = status
        running_status = (
            StepStatus.TIMED_OUT if status is RunStatus.TIMED_OUT else (StepStatus.CANCELLED)
        )
        if error is None:
            error = RunTimedOut(reason) if status is RunStatus.TIMED_OUT else RunCancelled(reason)
        self.error = error
        # No group may decide from members ended by the abort (an `all` group whose
        # members were all cancelled would otherwise "succeed").
        for scope in self._groups.values():
            scope.close()
        propagating, self._propagating = self._propagating, True
        try:
            for st in self.states:
                if not st.done:
                    self.cancel_node(st, running_status, StepStatus.SKIPPED, reason, Edge.BLOCKED)
        finally:
            self._propagating = propagating
        if not self._propagating:
            self._propagate()

    def fail_store(self, exc: StoreError) -> None:
        """The store cannot be written: stop, since nothing more could be recorded."""
        self.abort(RunStatus.FAILED, str(exc), RunError(str(exc), type="StoreError"))

    def _on_max_duration(self) -> None:
        assert self.plan.max_duration is not None
        self.abort(RunStatus.TIMED_OUT, f"the run timed out after {self.plan.max_duration:g}s")

    def _finish(self) -> None:
        if self._abort_status is not None:
            self.status = self._abort_status
        elif self.error is not None:
            self.status = RunStatus.FAILED
        else:
            self.status = RunStatus.SUCCEEDED
        assert self._done is not None
        self._done.set_result(None)
        if self._on_done is not None:
            self._on_done(self)

    async def _drain(self) -> None:
        """Wait until every task this run started has really stopped: nothing leaks."""
        while pending := [task for task in self._tasks if not task.done()]:
            await asyncio.gather(*pending, return_exceptions=True)
        self._tasks.clear()

    def _set_status(self, st: StepState, status: StepStatus) -> None:
        st.status = status

    def counts(self) -> dict[StepStatus, int]:
        """How many nodes are in each status now (O(nodes): for progress views, not hot
        paths)."""
        counts = dict.fromkeys(StepStatus, 0)
        for st in self.states:
            counts[st.status] += 1
        return counts


def _quiet(run: Run) -> None:
    """Cancel the timers of a run being paused (groups, maps, loops, sub-workflows, all
    the way down): nothing may fire after it ended."""
    for scope in run._groups.values():
        if scope.timer is not None:
            scope.timer.cancel()
    for frames in run._frames.values():
        if frames.timer is not None:
            frames.timer.cancel()
        for child in frames.live.values():
            _quiet(child)


class _Slot:
    """Whether a task holds its pool slot (a retry's backoff gives it back)."""

    __slots__ = ("held",)

    def __init__(self) -> None:
        self.held = True


def _message(exc: Exception) -> str:
    """An error's own words (a ``WorkflowError`` would prefix its location)."""
    return plain(exc)


def _status_of(error: RunError) -> StepStatus:
    return StepStatus.TIMED_OUT if isinstance(error, StepTimedOut) else StepStatus.FAILED


def _thread_count(pools: dict[str, WorkerPool]) -> int:
    return max(4, min(64, sum(p.capacity for p in pools.values())))


def _skip_reason(cause: StepState, st: StepState) -> str:
    """Why ``st`` was skipped, from the node whose edge decided it."""
    node, target = cause.node, st.node.index
    if node.index == st.node.group:
        return f"its group '{node.id}' {cause.status.value}"
    if target in node.on_error:
        return f"'{node.id}' did not fail (this step is its onError route)"
    if cause.status in _FAILED and node.on_error:
        return f"'{node.id}' failed and its onError route was taken instead"
    if target in node.routed and node.kind is NodeKind.SWITCH:
        return f"switch '{node.id}' did not choose this route"
    return f"dependency '{node.id}' {cause.status.value}"
