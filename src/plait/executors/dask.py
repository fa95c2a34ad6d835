"""The Dask executor: plain callables as futures on a ``dask.distributed`` cluster
(issue 7). An optional extra: ``pip install 'plait[dask]'``.

plait still decides *when* and *how many*: its pools, windows, wait strategies, retries
and timeouts apply before a call reaches Dask. This executor only carries each call to
the cluster and its result back, from an asynchronous ``Client`` on the run's event loop:

    step ready ─▶ pool slot ─▶ in-flight gate (maxInFlight) ─▶ client.submit ─▶ await
                                                     cancel / timeout ─▶ future.cancel()

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
        future = self._client.submit(
            run_job, job, key=f"{job.name or job.step}-{uuid.uuid4().hex}", pure=False
        )
        self._submitted += 1
        self._in_flight += 1
        self._peak = max(self._peak, self._in_flight)
        try:
            data: bytes = await future
        except asyncio.CancelledError:
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
        return data

    def _cancel(self, future: Any) -> None:
        """Cancel on the cluster; ``__aexit__`` waits until the scheduler was told."""
        self._cancelled += 1
        cancelling = asyncio.ensure_future(future.cancel())
        self._cancels.add(cancelling)
        cancelling.add_done_callback(self._cancels.discard)


def _not_entered() -> Callable[[Any], bytes]:
    raise RuntimeError("enter the DaskExecutor (async with) before calling it")
