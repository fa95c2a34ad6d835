"""The default executor: coroutines on the event loop, plain functions in threads.

Threads come from a pool of this run's own, sized from the run's worker pools, so a
slow sync tool can never starve another run. A thread cannot be killed: when its step
is cancelled or times out, the step ends at once, its slot is freed, and the thread's
late result is discarded; the thread itself finishes on its own. (Code that must be
killed on a timeout belongs in a subprocess.)
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any, Self, TypeVar

from plait.tools.context import StepContext
from plait.tools.registry import Tool

T = TypeVar("T")


class LocalExecutor:
    needs_context = False

    def __init__(self, max_threads: int = 16) -> None:
        self.max_threads = max_threads
        self._threads: ThreadPoolExecutor | None = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._threads is not None:
            # Threads still running a discarded call finish on their own; none is waited for.
            self._threads.shutdown(wait=False, cancel_futures=True)
            self._threads = None

    async def call(self, tool: Tool, value: Any, ctx: StepContext | None) -> Any:
        if tool.is_async and tool.style == "input" and not tool.wants_ctx:
            return await tool.fn(value)  # the built-ins' fast path: nothing to bind
        args, kwargs = tool.bind(value, ctx)
        if tool.is_async:
            return await tool.fn(*args, **kwargs)
        return await self.run_in_thread(functools.partial(tool.fn, *args, **kwargs))

    async def run_in_thread(self, fn: Callable[[], T]) -> T:
        if self._threads is None:
            self._threads = ThreadPoolExecutor(self.max_threads, thread_name_prefix="plait-step")
        # In a copy of the caller's context, as asyncio.to_thread does: what the function
        # logs is its step's (engine/steplogs.py), and its context variables are the step's.
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(self._threads, context.run, fn)
