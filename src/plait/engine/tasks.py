"""A task's life: its pool's slot, its attempts, its call, its timeout.

    submit ─▶ a slot now, or the pool's queue (an entry, not a coroutine)
           ─▶ run_task: input rendered ─▶ attempts ─▶ call (executor, timeout)
                                          └─ a failure its retry allows: the slot is
                                             given back for the backoff, then queued for
           ─▶ output rendered ─▶ graph.end()

Tasks are created only when a slot is free, and every one is in the session's task
set until it has really stopped.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from plait.engine import monitor, steplogs
from plait.engine.deadlines import DeadlineExpired, within
from plait.engine.pools import WorkerPool
from plait.engine.protocols import Host
from plait.engine.retry import next_delay, past_deadline
from plait.engine.state import ResultScope, StepState
from plait.errors import (
    CircuitOpen,
    PoolFull,
    RunError,
    StepFailed,
    StepTimedOut,
    step_error_from,
)
from plait.status import StepStatus
from plait.tools.context import StepContext

_POOL_LOG, _DEBUG = monitor.POOL_LOG, monitor.DEBUG


def submit(g: Host, st: StepState) -> None:
    """Take a slot of the step's pool now, or queue for one (failing if the queue is
    full); an open circuit fails the step at once."""
    pool = g.session.pools[st.node.pool]
    st.queued_at = time.time()
    st.status = StepStatus.QUEUED
    if (pool.breaker is not None or g.session.breakers) and _circuit_refuses(g, st, pool):
        return
    if pool.try_acquire():
        _spawn(g, st, pool)
    elif not pool.enqueue(lambda: _dequeued(g, st, pool), lambda: not st.done):
        monitor.queue_full(pool, st.node_id)
        message = (
            f"pool '{pool.name}' queue is full (queueSize {pool.queue_size}); step "
            f"'{st.node.id}' was rejected"
        )
        g.end(st, StepStatus.FAILED, error=PoolFull(message, step=st.node.id))


def _circuit_refuses(g: Host, st: StepState, pool: WorkerPool) -> bool:
    """An open circuit fails the step at once, without queueing for a slot or a token,
    unless its ``retryOn`` names ``CircuitOpen`` (it then waits out its backoff)."""
    tool = st.node.tool
    tool_breaker = g.session.breakers.get(tool.name) if tool is not None else None
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
        g.end(st, StepStatus.FAILED, error=exc)
        return True
    return False  # unreachable: a breaker that rejects refuses admit()


def _dequeued(g: Host, st: StepState, pool: WorkerPool) -> bool:
    if st.done:
        return False
    _spawn(g, st, pool)
    return True


def _spawn(g: Host, st: StepState, pool: WorkerPool) -> None:
    task = asyncio.get_running_loop().create_task(_run_task(g, st, pool))
    st.task = task
    g.session.tasks.add(task)


class _Slot:
    """Whether a task holds its pool slot (a retry's backoff gives it back)."""

    __slots__ = ("held",)

    def __init__(self) -> None:
        self.held = True


async def _run_task(g: Host, st: StepState, pool: WorkerPool) -> None:
    tasks = g.session.tasks
    if st.done:  # ended (a group decided) before this task got to run: pass the slot on
        if st.task is not None:
            tasks.discard(st.task)
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
        st.status = StepStatus.RUNNING
        scope = g.scope_for(st)
        value = node.input.render(scope)
        output = await _attempts(g, st, value, pool, slot)
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
        status = StepStatus.TIMED_OUT if isinstance(exc, StepTimedOut) else StepStatus.FAILED
        error = exc
    except Exception as exc:  # an ExpressionError, or a bug: the step fails, the run goes on
        status, error = StepStatus.FAILED, step_error_from(exc)
    finally:
        if st.task is not None:
            tasks.discard(st.task)
            st.task = None  # a finished task would otherwise live as long as the run
        if slot.held:
            timed_out = StepStatus.TIMED_OUT in (status, st.status)
            pool.record(failed=error is not None or st.done, timed_out=timed_out)
            pool.release()
            if log:
                monitor.slot_released(pool, st, status.value)
    if error is not None and error.step is None:
        error.step = st.node_id
    if st.logs is not None:
        st.logs = steplogs.take(st)
    g.end(st, status, output=output, error=error)


async def _attempts(g: Host, st: StepState, value: Any, pool: WorkerPool, slot: _Slot) -> Any:
    """Call the tool, retrying as its policy says; a backoff holds no slot, and no
    attempt starts after the policy's deadline. With a circuit breaker or an adaptive
    limit, each call goes through ``pool.guarded``."""
    node = st.node
    policy = node.retry
    timeout = node.timeout if node.timeout is not None else pool.timeout
    recorder = g.session.recorder
    observer = g.session.observer
    guarded = pool.guards or bool(g.session.breakers)
    # A retry deadline is measured on the loop's clock (a test's fake one).
    clock = asyncio.get_running_loop().time if policy is not None else None
    first = clock() if clock is not None else 0.0
    while True:
        if recorder is not None and time.time() > recorder.lease_deadline:
            await recorder.confirm_lease()  # the fence: no call once the lease may be lost
        st.attempts += 1
        if recorder is not None:
            recorder.step_started(st, value)
        if observer is not None:
            observer.step_started(st)
        try:
            if not guarded:
                return await _call(g, st, value, timeout)
            return await _guarded_call(g, st, value, timeout, pool)
        except RunError as exc:
            error = exc
        elapsed = clock() - first if clock is not None else 0.0
        delay = next_delay(policy, st.attempts, error.types, elapsed, random.random())
        if delay is None:
            raise error
        if st.attempt_errors is None:
            st.attempt_errors = []
        st.attempt_errors.append(error)
        logs = steplogs.take(st) if st.logs is not None else None
        if recorder is not None:
            recorder.attempt_failed(st, error, logs)
        if observer is not None:
            observer.attempt_failed(st, error)
        pool.record(failed=True, timed_out=isinstance(error, StepTimedOut))
        slot.held = False
        pool.release()
        log = _POOL_LOG.isEnabledFor(_DEBUG)
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
    g: Host, st: StepState, value: Any, timeout: float | None, pool: WorkerPool
) -> Any:
    """One call through the pool's circuit breaker and the tool's (``CircuitOpen`` if
    either is open), timed for an adaptive limit."""
    tool = st.node.tool
    breaker = g.session.breakers.get(tool.name) if tool is not None else None
    return await pool.guarded(lambda: _call(g, st, value, timeout), breaker, step=st.node_id)


async def _call(g: Host, st: StepState, value: Any, timeout: float | None) -> Any:
    node = st.node
    tool = node.tool
    executors = g.session.executors
    assert tool is not None
    assert executors is not None
    executor = executors.pick(node.executor)
    ctx = _context(g, st) if tool.wants_ctx or executor.needs_context else None
    capture = steplogs.CURRENT.set(st)  # what the tool logs is this attempt's
    try:
        if timeout is None:
            return await executor.call(tool, value, ctx)
        return await within(timeout, lambda: executor.call(tool, value, ctx))
    except DeadlineExpired:
        message = f"step '{node.id}' timed out after {timeout:g}s"
        raise StepTimedOut(message, step=node.id) from None
    except TimeoutError as exc:  # the tool's own, not our timeout
        raise step_error_from(exc, step=node.id) from exc
    except (RunError, asyncio.CancelledError):
        raise
    except (Exception, SystemExit, KeyboardInterrupt) as exc:
        # A tool's sys.exit() or stray KeyboardInterrupt fails its step, not the engine.
        raise step_error_from(exc, step=node.id) from exc
    finally:
        steplogs.CURRENT.reset(capture)


def _context(g: Host, st: StepState) -> StepContext:
    session = g.session
    assert session.executors is not None
    observer = session.observer
    return StepContext(
        run_id=session.run_id,
        workflow=g.plan.name,
        step_id=st.node.id,
        node_id=st.node_id,
        attempt=st.attempts,
        workflow_dir=g.plan.folder,
        run_in_thread=session.executors.run_in_thread,
        resources=session.resources,
        secrets=session.secrets,
        trace=None if observer is None else lambda: observer.trace_context(st),
    )
