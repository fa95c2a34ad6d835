"""The Dask executor: plain callables as futures on a ``dask.distributed`` cluster
(issue 7). An optional extra: ``pip install 'plait[dask]'``.

plait still decides *when* and *how many*: its pools, windows, wait strategies, retries
and timeouts apply before a call reaches Dask. This executor only carries each call to
the cluster and its result back, from an asynchronous ``Client`` on the run's event loop:

    step ready ─▶ pool slot ─▶ in-flight gate (maxInFlight) ─▶ submit batch ─▶ result batch
                                                     cancel / timeout ─▶ future.cancel()

Calls that arrive in one turn of the event loop go to the scheduler as one graph
(``client.map`` with a key per call), and the results of the futures that finish
together come back in one ``gather``: one message each way for many steps, rather than
a submit and a gather round trip per step, which cost more client and scheduler CPU
than a 5 ms task on a small machine (bench E1).

The gate keeps at most ``max_in_flight`` futures on the scheduler at once, so a map over
100,000 items never floods it. A cancelled or timed-out step's future is cancelled on
the cluster. Dask cannot interrupt a task a worker thread has already begun: that call
runs on to its end there and its result is dropped (for a hard stop, use the process
executor, which kills the worker).

Without ``address`` the executor starts a ``LocalCluster`` of worker processes for the
run (one per CPU, one thread each: the work is CPU-bound) and closes it at the end.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self, TypeVar

from plait.errors import RunError, StepFailed
from plait.executors.base import Executor, ExecutorUnavailable
from plait.executors.jobs import Job, job_for, result_of, run_job
from plait.executors.local import LocalExecutor
from plait.executors.process import default_workers
from plait.tools.context import StepContext
from plait.tools.registry import Tool

T = TypeVar("T")
DEFAULT_MAX_IN_FLIGHT = 1000
INSTALL_HINT = "the dask executor needs dask.distributed: pip install 'plait[dask]'"
log = logging.getLogger("plait.executors.dask")


def import_distributed() -> Any:
    """``distributed``, or the one-line install hint."""
    try:
        import distributed
    except ImportError:
        raise ExecutorUnavailable(INSTALL_HINT) from None
    return distributed


@dataclass(frozen=True, slots=True)
class DaskStats:
    in_flight: int  # futures on the cluster now
    peak_in_flight: int  # the most at once
    submitted: int
    cancelled: int  # futures cancelled on the cluster (a cancelled or timed-out step)


class DaskExecutor:
    """Plain callables on a Dask cluster; everything else on the event loop."""

    needs_context = True

    def __init__(
        self,
        address: str | None = None,
        *,
        max_in_flight: int | None = None,
        workers: int | None = None,
        client: Any = None,
        local: Executor | None = None,
    ) -> None:
        """``client``: an asynchronous ``distributed.Client`` of the caller's, on this
        event loop (not closed here); otherwise one is made for ``address``, or for a
        ``LocalCluster`` of ``workers`` processes."""
        self.address = address
        self.max_in_flight = max_in_flight or DEFAULT_MAX_IN_FLIGHT
        self.workers = workers
        self._client: Any = client
        self._owns_client = client is None
        self._cluster: Any = None
        self._local: Executor = local if local is not None else LocalExecutor()
        self._owns_local = local is None
        self._gate = asyncio.Semaphore(self.max_in_flight)
        self._dumps: Callable[[Any], bytes] | None = None
        self._cancels: set[asyncio.Future[Any]] = set()
        self._to_submit: list[tuple[Job, asyncio.Future[Any]]] = []
        self._flush_soon: asyncio.Handle | None = None
        self._waiting: dict[Any, asyncio.Future[bytes | None]] = {}  # key -> result waiter
        self._finished: Any = None  # distributed.as_completed, from the first submit
        self._more = asyncio.Event()  # a future to watch was added
        self._collector: asyncio.Task[None] | None = None
        self._in_flight = 0
        self._peak = 0
        self._submitted = 0
        self._cancelled = 0

    @property
    def client(self) -> Any:
        """The ``distributed.Client`` (once entered)."""
        return self._client

    async def __aenter__(self) -> Self:
        distributed = import_distributed()
        import cloudpickle  # type: ignore[import-untyped]  # a dependency of distributed: functions by value if need be

        self._dumps = cloudpickle.dumps
        if self._owns_local:
            await self._local.__aenter__()
        if self._client is None:
            await self._connect(distributed)
        return self

    async def _connect(self, distributed: Any) -> None:
        target: Any = self.address
        try:
            if target is None:
                self._cluster = await distributed.LocalCluster(
                    n_workers=self.workers or default_workers(),
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":0",
                    asynchronous=True,
                )
                target = self._cluster
            self._client = await distributed.Client(target, asynchronous=True)
        except (OSError, TimeoutError) as exc:
            await self._close_cluster()
            where = self.address or "a new LocalCluster"
            raise ExecutorUnavailable(
                f"cannot reach the Dask scheduler at {where}: {exc}"
            ) from None

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._collector is not None:
            self._collector.cancel()
            await asyncio.gather(self._collector, return_exceptions=True)
        while self._cancels:
            await asyncio.gather(*self._cancels, return_exceptions=True)
        if self._owns_client and self._client is not None:
            await self._client.close()
            self._client = None
        await self._close_cluster()
        if self._owns_local:
            await self._local.__aexit__(exc_type, exc, tb)

    async def _close_cluster(self) -> None:
        if self._cluster is not None:
            await self._cluster.close()
            self._cluster = None

    def statistics(self) -> DaskStats:
        return DaskStats(self._in_flight, self._peak, self._submitted, self._cancelled)

    async def call(self, tool: Tool, value: Any, ctx: StepContext | None) -> Any:
        job = job_for(tool, value, ctx, self._dumps or _not_entered())
        if job is None:
            return await self._local.call(tool, value, ctx)
        async with self._gate:
            data = await self._submit(job)
        return result_of(job, data)

    async def run_in_thread(self, fn: Callable[[], T]) -> T:
        return await self._local.run_in_thread(fn)

    async def _submit(self, job: Job) -> bytes:
        submitted = self._enqueue(job)
        try:
            future = await submitted
        except asyncio.CancelledError:
            if submitted.done() and not submitted.cancelled() and not submitted.exception():
                self._cancel(submitted.result())  # submitted as the cancel came
            raise
        self._submitted += 1
        self._in_flight += 1
        self._peak = max(self._peak, self._in_flight)
        try:
            data = await self._watch(future)
            return data if data is not None else await future  # not in a batch: alone
        except asyncio.CancelledError:
            self._waiting.pop(future.key, None)
            self._cancel(future)
            raise
        except RunError:
            raise
        except Exception as exc:  # the cluster's own failure (a worker lost, ...)
            raise StepFailed(
                f"step '{job.step}': on the Dask cluster: {type(exc).__name__}: {exc}",
                step=job.step,
                type=type(exc).__name__,
            ) from exc
        finally:
            self._in_flight -= 1

    def _enqueue(self, job: Job) -> asyncio.Future[Any]:
        """The job's Dask future, once the batch it joins is submitted (next loop turn)."""
        loop = asyncio.get_running_loop()
        submitted: asyncio.Future[Any] = loop.create_future()
        self._to_submit.append((job, submitted))
        if self._flush_soon is None:
            self._flush_soon = loop.call_soon(self._flush)
        return submitted

    def _flush(self) -> None:
        """Submit the waiting jobs as one graph (the cancelled ones are left out)."""
        self._flush_soon = None
        batch = [(job, waiter) for job, waiter in self._to_submit if not waiter.done()]
        self._to_submit = []
        if not batch:
            return
        keys = [f"{job.name or job.step}-{uuid.uuid4().hex}" for job, _ in batch]
        try:
            futures = self._client.map(run_job, [job for job, _ in batch], key=keys, pure=False)
        except Exception as exc:
            for _, waiter in batch:
                waiter.set_exception(exc)
            return
        for (_, waiter), future in zip(batch, futures, strict=True):
            waiter.set_result(future)

    def _watch(self, future: Any) -> asyncio.Future[bytes | None]:
        """The future's data, from the gather of the batch it finishes in; ``None`` when
        it did not finish well (the caller awaits it alone for its error)."""
        waiter: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
        self._waiting[future.key] = waiter
        if self._finished is None:
            distributed = import_distributed()
            self._finished = distributed.as_completed(loop=self._client.loop)
        self._finished.add(future)
        self._more.set()
        if self._collector is None:
            self._collector = asyncio.ensure_future(self._collect())
        return waiter

    async def _collect(self) -> None:
        """Hand out results as futures finish: one gather for all that finished together."""
        finished = self._finished
        while True:
            try:
                batch = [await finished.__anext__()]
            except StopAsyncIteration:  # nothing to watch: wait for more
                self._more.clear()
                await self._more.wait()
                continue
            batch += finished.next_batch(block=False)
            try:
                await self._deliver(batch)
            except Exception:  # never leave a step waiting: each awaits its own future
                log.warning("dask executor: delivering a batch of results failed", exc_info=True)
                for future in batch:
                    waiter = self._waiting.pop(future.key, None)
                    if waiter is not None and not waiter.done():
                        waiter.set_result(None)
            # Hold no future while waiting: the client forgets a future (and the
            # scheduler its result) only once nothing refers to it (maxInFlight).
            del batch

    async def _deliver(self, batch: list[Any]) -> None:
        mine = [f for f in batch if f.key in self._waiting]
        done = [f for f in mine if f.status == "finished"]
        try:
            data = await self._client.gather(done) if done else []
        except Exception:  # a worker holding a result was lost: each step on its own
            data = [None] * len(done)
        results = dict(zip((f.key for f in done), data, strict=True))
        for future in mine:
            waiter = self._waiting.pop(future.key, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(results.get(future.key))

    def _cancel(self, future: Any) -> None:
        """Cancel on the cluster; ``__aexit__`` waits until the scheduler was told."""
        self._cancelled += 1
        cancelling = asyncio.ensure_future(future.cancel())
        self._cancels.add(cancelling)
        cancelling.add_done_callback(self._cancels.discard)


def _not_entered() -> Callable[[Any], bytes]:
    raise RuntimeError("enter the DaskExecutor (async with) before calling it")
