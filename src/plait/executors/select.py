"""The executors of one run, and which one runs a step (issue 7).

    step's ``executor:`` (or ``isolation: process``)
      > the run's choice: ``--executor``, ``executor=`` in Python
      > the workflow's ``executor:``
      > local

The engine asks ``pick(node.executor)`` for each call and never learns which executor
it got. Each executor opens on the first call it must carry out, under one
``AsyncExitStack``: a run whose calls all stay on the event loop (async tools) never
starts a process or connects to a cluster, whatever it asked for. Equal specs share one
executor for the whole run, its maps and loops included.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar

from plait.compiler.plan import Plan
from plait.definition.executor import LOCAL, ExecutorSpec
from plait.errors import Problem, StepFailed, WorkflowError
from plait.executors.base import Executor, ExecutorUnavailable
from plait.executors.jobs import stays_here
from plait.executors.local import LocalExecutor
from plait.tools.context import StepContext
from plait.tools.registry import Tool

T = TypeVar("T")

Choice = Executor | ExecutorSpec | None


def open_executor(spec: ExecutorSpec, local: Executor) -> Executor:
    """A new (not yet entered) executor for ``spec``; ``local`` runs what stays here."""
    if spec.type == "process":
        from plait.executors.process import ProcessExecutor

        return ProcessExecutor(spec.workers, local=local)
    if spec.type == "dask":
        from plait.executors.dask import DaskExecutor, import_distributed

        import_distributed()  # the install hint, before anything starts
        return DaskExecutor(
            spec.address, max_in_flight=spec.max_in_flight, workers=spec.workers, local=local
        )
    return LocalExecutor(spec.workers or 16)


def specs_used(plan: Plan, choice: Choice = None) -> set[ExecutorSpec]:
    """Every executor a run of ``plan`` may open, its maps' and loops' bodies included."""
    found: set[ExecutorSpec] = set()
    if isinstance(choice, ExecutorSpec):
        found.add(choice)
    elif choice is None and plan.executor is not None:
        found.add(plan.executor)
    for each in _plans(plan):
        found.update(node.executor for node in each.nodes if node.executor is not None)
    return found


def _plans(plan: Plan) -> Iterator[Plan]:
    yield plan
    for node in plan.nodes:
        if node.body is not None:
            yield from _plans(node.body)


def check_available(specs: Iterable[ExecutorSpec], file: str | None = None) -> None:
    """Fail before a run starts when an executor's package is missing (exit status 2
    on the command line), rather than fail every step that needs it."""
    for spec in specs:
        if spec.type == "dask" and importlib.util.find_spec("distributed") is None:
            from plait.executors.dask import INSTALL_HINT

            raise ExecutorUnavailable(Problem(INSTALL_HINT, file))


def parse_choice(value: object, where: str = "executor") -> Choice:
    """``executor=`` of the Python API: an ``Executor``, an ``ExecutorSpec``, a string or
    a mapping; a bad value is a ``WorkflowError`` naming ``where``."""
    if value is None or isinstance(value, ExecutorSpec):
        return value
    if isinstance(value, str | Mapping):
        try:
            return ExecutorSpec.parse(value)
        except ValueError as exc:
            raise WorkflowError(f"{where}: {exc}") from None
    if hasattr(value, "call") and hasattr(value, "__aenter__"):
        executor: Executor = value  # type: ignore[assignment]
        return executor
    raise WorkflowError(
        f"{where}: an Executor, a string such as 'process' or 'dask://HOST:PORT', or a "
        f"mapping, not {type(value).__name__}"
    )


class Executors:
    """A run's executors: ``async with`` opens the local one, ``pick`` the others."""

    def __init__(self, choice: Choice, *, threads: int) -> None:
        """``choice``: the run's default (an executor to enter, or a spec); ``threads``:
        the local executor's thread pool."""
        self.local = LocalExecutor(threads)
        self._given: Executor | None = None
        self._default = LOCAL
        if isinstance(choice, ExecutorSpec):
            self._default = choice
        elif choice is not None:
            self._given = choice
        self._opened: dict[ExecutorSpec, Executor] = {LOCAL: self.local}
        self._lazy: dict[ExecutorSpec, _Lazy] = {}
        self._opening: dict[ExecutorSpec, asyncio.Future[Executor]] = {}
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> Self:
        await self._stack.enter_async_context(self.local)
        if self._given is not None:
            await self._stack.enter_async_context(self._given)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # An executor still opening (the run ended meanwhile) is closed once it is open.
        await asyncio.gather(*self._opening.values(), return_exceptions=True)
        await self._stack.__aexit__(exc_type, exc, tb)

    def pick(self, spec: ExecutorSpec | None) -> Executor:
        """The executor for a step that asks for ``spec`` (``None``: the run's default)."""
        if spec is None:
            if self._given is not None:
                return self._given
            spec = self._default
        executor = self._opened.get(spec)
        if executor is not None:
            return executor
        lazy = self._lazy.get(spec)
        if lazy is None:
            lazy = self._lazy[spec] = _Lazy(self, spec)
        return lazy

    async def run_in_thread(self, fn: Callable[[], T]) -> T:
        """A tool's blocking helper: the run's threads, whatever runs its steps."""
        runner = self._given if self._given is not None else self.local
        return await runner.run_in_thread(fn)

    async def open(self, spec: ExecutorSpec) -> Executor:
        """The executor for ``spec``, entered on first use; once per run, even when many
        steps ask at once (a step cancelled meanwhile does not stop the opening)."""
        opening = self._opening.get(spec)
        if opening is None:
            opening = self._opening[spec] = asyncio.ensure_future(self._enter(spec))
        return await asyncio.shield(opening)

    async def _enter(self, spec: ExecutorSpec) -> Executor:
        executor = await self._stack.enter_async_context(open_executor(spec, self.local))
        self._opened[spec] = executor
        return executor


class _Lazy:
    """Stands for an executor not opened yet: its first call opens it."""

    needs_context = True

    def __init__(self, executors: Executors, spec: ExecutorSpec) -> None:
        self._executors = executors
        self._spec = spec

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        return None

    async def call(self, tool: Tool, value: Any, ctx: StepContext | None) -> Any:
        if stays_here(tool, value, ctx):  # no need to start it for this call
            return await self._executors.local.call(tool, value, ctx)
        try:
            executor = await self._executors.open(self._spec)
        except WorkflowError as exc:  # a fresh error per step: the engine fills in its step
            message = "; ".join(problem.message for problem in exc.problems)
            raise StepFailed(message, type=type(exc).__name__) from None
        return await executor.call(tool, value, ctx)

    async def run_in_thread(self, fn: Callable[[], T]) -> T:
        return await self._executors.run_in_thread(fn)
