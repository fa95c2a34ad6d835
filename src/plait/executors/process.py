"""The process executor: CPU-bound calls in a pool of worker processes (issue 7), and
``isolation: process`` for one step (issue 5).

A timed-out or cancelled call's worker is killed (SIGKILL, to its whole process group)
and a fresh one takes its place on the next call; the other workers and their calls
are untouched:

    step a (timeout 1s) ─▶ worker 1  ✗ killed at 1s, reaped; its slot is free again
    step b              ─▶ worker 2  ✓ goes on
    step c              ─▶ worker 3  (new: started on demand)

Why not ``concurrent.futures.ProcessPoolExecutor``: it cannot kill one call. Killing one
of its workers breaks the whole pool (``BrokenProcessPool``), failing every other call
in flight; it does not say which worker runs which call either. Here each worker is a
``multiprocessing`` process with a pipe of its own, one call at a time, so a call's
worker is known and can be killed alone.

Workers start from a fork server (on Linux and macOS) that has imported plait once: a
replacement starts in milliseconds, and no worker is forked from this process's threads.
Calls that are not plain callables (async tools) run on the event loop as usual
(``jobs.py``). Needs a selector event loop (``loop.add_reader``), the default on Unix.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import pickle
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any, Self, TypeVar

from plait.errors import StepFailed
from plait.executors.base import Executor
from plait.executors.jobs import Job, job_for, result_of, run_job
from plait.executors.local import LocalExecutor
from plait.tools.context import StepContext
from plait.tools.registry import Tool

T = TypeVar("T")
_STOP_GRACE = 5.0  # seconds an idle worker has to exit once its pipe is closed


def default_workers() -> int:
    """One worker per CPU this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass(frozen=True, slots=True)
class ProcessStats:
    workers: int  # the most at once
    running: int  # alive now
    idle: int
    started: int  # since the executor was entered
    killed: int  # for a timeout, a cancel, or a crash


class ProcessExecutor:
    """Plain callables in worker processes; everything else on the event loop."""

    needs_context = True

    def __init__(self, workers: int | None = None, *, local: Executor | None = None) -> None:
        self.workers = workers or default_workers()
        self._local: Executor = local if local is not None else LocalExecutor()
        self._owns_local = local is None
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._slots = asyncio.Semaphore(self.workers)
        self._pending: set[asyncio.Future[Any]] = set()  # workers starting, workers reaped
        self._closed = False
        self._started = 0
        self._killed = 0

    async def __aenter__(self) -> Self:
        if self._owns_local:
            await self._local.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closed = True
        while self._pending:  # a worker still starting is adopted, then stopped
            await asyncio.gather(*self._pending, return_exceptions=True)
        for worker in list(self._busy):  # nothing should be busy: the run drained
            self._kill(worker)
        idle, self._idle = self._idle, []
        await asyncio.to_thread(_stop_all, idle)
        while self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        if self._owns_local:
            await self._local.__aexit__(exc_type, exc, tb)

    def statistics(self) -> ProcessStats:
        return ProcessStats(
            self.workers,
            len(self._idle) + len(self._busy),
            len(self._idle),
            self._started,
            self._killed,
        )

    async def call(self, tool: Tool, value: Any, ctx: StepContext | None) -> Any:
        job = job_for(tool, value, ctx)
        if job is None:
            return await self._local.call(tool, value, ctx)
        return result_of(job, await self.submit(job))

    async def run_in_thread(self, fn: Callable[[], T]) -> T:
        return await self._local.run_in_thread(fn)

    async def submit(self, job: Job) -> bytes:
        """Run ``job`` in a worker; the pickled outcome. Cancelling kills the worker."""
        if self._closed:
            raise RuntimeError("this ProcessExecutor was closed; make a new one")
        payload = pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)
        async with self._slots:
            while True:
                worker = self._idle.pop() if self._idle else await self._start()
                self._busy.add(worker)
                try:
                    return await self._exchange(worker, payload, job)
                except _IdleWorkerGone:
                    continue  # it died while idle: the job never reached it; take another
                finally:
                    self._busy.discard(worker)

    async def _exchange(self, worker: _Worker, payload: bytes, job: Job) -> bytes:
        try:
            data = await worker.exchange(payload)
        except _WorkerGone as gone:
            reaped = self._kill(worker)
            if isinstance(gone, _IdleWorkerGone):
                raise
            code = await asyncio.shield(reaped)
            raise StepFailed(
                f"step '{job.step}': its worker process died (exit code {code}) before it "
                f"returned; a fresh worker takes its place{_hint(worker, code)}",
                step=job.step,
                type="WorkerDied",
            ) from None
        except BaseException:  # cancelled or timed out: the call must stop now
            self._kill(worker)
            raise
        worker.calls += 1
        if self._closed:
            self._kill(worker)
        else:
            self._idle.append(worker)
        return data

    async def _start(self) -> _Worker:
        """A new worker. Starting one blocks (the fork server may be starting too), so it
        happens in a thread; a call cancelled meanwhile leaves the worker to the pool."""
        starting = asyncio.ensure_future(asyncio.to_thread(_Worker.start))
        self._track(starting)
        try:
            worker = await asyncio.shield(starting)
        except asyncio.CancelledError:
            starting.add_done_callback(self._adopt)
            raise
        self._started += 1
        return worker

    def _adopt(self, starting: asyncio.Future[_Worker]) -> None:
        if starting.cancelled() or starting.exception() is not None:
            return
        worker = starting.result()
        self._started += 1
        if self._closed:
            self._kill(worker)
        else:
            self._idle.append(worker)

    def _kill(self, worker: _Worker) -> asyncio.Future[int | None]:
        """Kill a worker now; reap it in the background (``__aexit__`` waits for that).
        The future gives its exit code."""
        worker.kill()
        self._killed += 1
        reaped = asyncio.ensure_future(asyncio.to_thread(worker.wait, None))
        self._track(reaped)
        return reaped

    def _track(self, future: asyncio.Future[Any]) -> None:
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)


class _WorkerGone(Exception):
    """The worker's pipe closed: it died."""


class _IdleWorkerGone(_WorkerGone):
    """It died before it received the job (nothing ran)."""


class _Worker:
    """One worker process and the parent's end of its pipe."""

    __slots__ = ("calls", "conn", "pid", "process")

    def __init__(self, process: Any, conn: Connection) -> None:
        self.process = process
        self.conn = conn
        self.pid: int = process.pid
        self.calls = 0  # calls it returned from

    @classmethod
    def start(cls) -> _Worker:
        context = _context()
        parent_end, child_end = context.Pipe(duplex=True)
        process = context.Process(target=serve, args=(child_end,), name="plait-worker")
        process.start()
        child_end.close()  # the worker's death must close the pipe: EOF here
        return cls(process, parent_end)

    async def exchange(self, payload: bytes) -> bytes:
        loop = asyncio.get_running_loop()
        readable: asyncio.Future[None] = loop.create_future()
        fd = self.conn.fileno()
        try:
            self.conn.send_bytes(payload)
        except OSError:
            # A worker that served before died while idle: another may take the job. A
            # new one that cannot even take it will not do better: that is a failure.
            raise (_IdleWorkerGone if self.calls else _WorkerGone) from None
        loop.add_reader(fd, _wake, readable)
        try:
            await readable
        finally:
            loop.remove_reader(fd)
        try:
            return self.conn.recv_bytes()
        except (EOFError, OSError):
            raise _WorkerGone from None

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            os.killpg(self.pid, signal.SIGKILL)  # its children too (it leads its group)
        with contextlib.suppress(OSError):
            self.process.kill()
        self.conn.close()

    def wait(self, timeout: float | None) -> int | None:
        """Reap the process (blocking); its exit code."""
        self.process.join(timeout)
        code: int | None = self.process.exitcode
        return code

    def stop(self) -> None:
        """Ask an idle worker to exit: closing its pipe ends its loop."""
        self.conn.close()


def _hint(worker: _Worker, code: int | None) -> str:
    """A worker that dies at once usually could not import the main script: like
    ``multiprocessing``, a worker imports it (to find functions defined there), and a
    script that starts a run when imported starts one again in the worker."""
    if worker.calls or code != 1:
        return ""
    return (
        ". If plait runs from a script, start the run under `if __name__ == '__main__':` "
        "(worker processes import the script; see docs/executors.md)"
    )


def _wake(readable: asyncio.Future[None]) -> None:
    if not readable.done():
        readable.set_result(None)


def _stop_all(workers: list[_Worker]) -> None:
    for worker in workers:
        worker.stop()
    deadline = time.monotonic() + _STOP_GRACE
    for worker in workers:
        worker.process.join(max(0.0, deadline - time.monotonic()))
        if worker.process.exitcode is None:
            worker.kill()
            worker.process.join()


_context_lock = threading.Lock()
_mp_context: Any = None


def _context() -> Any:
    """A fork server's context (Unix) that preloads plait; spawn elsewhere."""
    global _mp_context
    with _context_lock:
        if _mp_context is None:
            context: Any
            if "forkserver" in multiprocessing.get_all_start_methods():
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload([__name__])
            else:
                context = multiprocessing.get_context("spawn")
            _mp_context = context
        return _mp_context


# -- the worker's side -----------------------------------------------------------------


def serve(conn: Connection) -> None:
    """A worker's loop: one job at a time until the parent closes the pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    with contextlib.suppress(OSError, AttributeError):
        os.setpgrp()  # its own group: a kill reaches whatever the job started
    _exit_with_parent()
    while True:
        try:
            payload = conn.recv_bytes()
        except (EOFError, OSError):
            return
        job: Job = pickle.loads(payload)
        conn.send_bytes(run_job(job))


def _exit_with_parent() -> None:
    """Never outlive the parent, even in the middle of a job (a ``kill -9`` of plait)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="plait-worker-watchdog", daemon=True).start()
