"""The executor seam: an async context manager that calls tools.

The engine decides *when* and *how many*; an executor decides *where*. Entering it
acquires its resources (threads, processes, a cluster client); leaving it releases
them. The process and Dask executors implement the same methods; ``select.Executors``
opens the ones a run uses and picks one per step.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

from plait.errors import WorkflowError
from plait.tools.context import StepContext
from plait.tools.registry import Tool

T = TypeVar("T")


class Executor(Protocol):
    # True for an executor that ships calls out of this process (process, dask): the
    # engine then hands it the step's context for every call, so that it can name the
    # step in its errors and on the cluster, even for a tool that takes no ``ctx``.
    needs_context: bool

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


class ExecutorUnavailable(WorkflowError):
    """The executor asked for cannot be had: its package is missing (the message says
    what to install) or its cluster cannot be reached. Nothing was run."""
