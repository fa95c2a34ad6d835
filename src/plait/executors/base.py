"""The executor seam: an async context manager that calls tools.

The engine decides *when* and *how many*; an executor decides *where*. Entering it
acquires its resources (threads, processes, a cluster client); leaving it releases
them. A process or Dask executor implements the same four methods.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

from plait.tools.context import StepContext
from plait.tools.registry import Tool

T = TypeVar("T")


class Executor(Protocol):
    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def call(self, tool: Tool, value: Any, ctx: StepContext | None) -> Any:
        """Call ``tool`` with a step's resolved input; cancellable."""
        ...

    async def run_in_thread(self, fn: Callable[[], T]) -> T:
        """Run a blocking callable off the event loop."""
        ...
