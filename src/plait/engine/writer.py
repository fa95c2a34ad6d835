"""The store's writer thread: transitions queued on the event loop, committed in
batches, one transaction per batch (group commit), and a callback back on the loop
once a write is on disk:

    loop:   put(write, done) ──▶ [queue] ──▶ writer thread: commit batch
    loop:   ◀──call_soon_threadsafe── done(): e.g. release a step's dependents

The loop never waits for the disk; ``flush`` and ``close`` give futures to await.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any

from plait.errors import StoreError
from plait.store.base import Store
from plait.store.records import Write

_FLUSH = object()
_STOP = object()

Callback = Callable[[], None]


class BatchWriter:
    """A thread that commits queued writes in batches and reports back to the loop."""

    def __init__(
        self,
        store: Store,
        loop: asyncio.AbstractEventLoop,
        on_error: Callable[[StoreError], None],
        fence: tuple[str, str] | None = None,
    ) -> None:
        self._fence = fence
        self._store = store
        self._loop = loop
        self._on_error = on_error
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._main, name="plait-writer", daemon=True)
        self.failed: StoreError | None = None
        self.batches = 0
        self._thread.start()

    def put(self, write: Write, done: Callback | None = None) -> None:
        self._queue.put((write, done))

    def flush(self) -> asyncio.Future[None]:
        future: asyncio.Future[None] = self._loop.create_future()

        def done() -> None:
            if not future.done():
                future.set_result(None)

        self._queue.put((_FLUSH, done))
        return future

    async def close(self) -> None:
        await self.flush()
        self._queue.put((_STOP, None))
        await asyncio.to_thread(self._thread.join)

    def _main(self) -> None:
        get = self._queue.get
        get_nowait = self._queue.get_nowait
        while True:
            batch: list[Write] = []
            callbacks: list[Callback] = []
            item, done = get()
            stop = False
            while True:
                if item is _STOP:
                    stop = True
                elif item is not _FLUSH:
                    batch.append(item)
                if done is not None:
                    callbacks.append(done)
                if len(batch) >= 20000:
                    break
                try:
                    item, done = get_nowait()
                except queue.Empty:
                    break
            self._commit(batch)
            if callbacks:
                self._loop.call_soon_threadsafe(_run_all, callbacks)
            if stop:
                return

    def _commit(self, batch: list[Write]) -> None:
        if not batch or self.failed is not None:
            return
        try:
            self._store.write(batch, fence=self._fence)
            self.batches += 1
        except StoreError as exc:
            self.failed = exc
            self._loop.call_soon_threadsafe(self._on_error, exc)
        except Exception as exc:  # a bug or a driver error not translated: never lose it
            self.failed = StoreError(f"store {self._store.url}: cannot write: {exc!r}")
            self._loop.call_soon_threadsafe(self._on_error, self.failed)


def _run_all(callbacks: list[Callback]) -> None:
    for callback in callbacks:
        try:
            callback()
        except Exception as exc:  # one failing callback must not strand the others
            asyncio.get_running_loop().call_exception_handler(
                {"message": "plait: a store callback failed", "exception": exc}
            )
