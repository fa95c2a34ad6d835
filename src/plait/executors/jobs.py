"""A call that leaves this process: what the process and Dask executors ship.

    parent  job_for(tool, value, ctx)  ->  Job, or None: run it here, on the event loop
    worker  run_job(job)               ->  bytes, a pickled outcome
    parent  result_of(job, data)       ->  the return value, or raises StepFailed

Only plain callables are shipped: the ``python`` tool's function and sync tools
registered with ``@plait.tool``. Async tools (the built-ins ``sleep``, ``http``,
``sql``, ``shell``, ``echo``... and async user tools) wait on I/O, not on a CPU: they
stay on the event loop, whatever the executor.

The python tool's function travels as its name (``module:attr``) with the workflow's
folder, which the worker puts on ``sys.path`` before it imports the function, as the
tool does in this process. A ``@plait.tool`` function travels by pickle: by reference
(module and name), so it must be importable in the worker.
"""

from __future__ import annotations

import asyncio
import inspect
import pickle
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plait.errors import RunError, StepFailed, step_error_from
from plait.tools.builtin.python import PYTHON, call_args, resolve_function
from plait.tools.context import StepContext
from plait.tools.registry import Tool

Dumps = Callable[[Any], bytes]
# (run_id, workflow, step_id, node_id, attempt): what a worker's StepContext knows
ContextFields = tuple[str, str, str, str, int]


@dataclass(frozen=True, slots=True)
class Job:
    """One call, ready to cross a process boundary."""

    step: str  # the node id (``double<3>``), for messages
    folder: str | None  # the workflow's folder, put on the worker's sys.path first
    blob: bytes  # the pickled (target, args, kwargs, context fields)
    # The step id without branch or pass suffixes: the Dask key's prefix, so that a
    # map's branches are one task group on the cluster (and its dashboard).
    name: str = ""


def _pickle(value: Any) -> bytes:
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def stays_here(tool: Tool, value: Any, ctx: StepContext | None) -> bool:
    """Whether a call runs on the event loop whatever the executor: an async tool (the
    built-ins among them), or the python tool with a coroutine function."""
    if tool.fn is PYTHON.fn:
        target, _, _ = call_args(value)
        return inspect.iscoroutinefunction(resolve_function(target, _folder(ctx)))
    return tool.is_async or tool.fn.__module__.startswith("plait.tools.builtin")


def _folder(ctx: StepContext | None) -> str | None:
    return str(ctx.workflow_dir) if ctx is not None and ctx.workflow_dir is not None else None


def job_for(tool: Tool, value: Any, ctx: StepContext | None, dumps: Dumps = _pickle) -> Job | None:
    """The job that runs ``tool`` with ``value`` elsewhere, or ``None`` for a call that
    stays on the event loop (``stays_here``)."""
    if stays_here(tool, value, ctx):
        return None
    step = ctx.node_id if ctx is not None else tool.name
    folder = _folder(ctx)
    fields: ContextFields | None = None
    target: str | Callable[..., Any]
    if tool.fn is PYTHON.fn:
        target, args, kwargs = call_args(value)
    else:
        target = tool.fn
        args, kwargs = tool.bind(value, None)
        kwargs.pop("ctx", None)
        if tool.wants_ctx and ctx is not None:
            fields = (ctx.run_id, ctx.workflow, ctx.step_id, ctx.node_id, ctx.attempt)
    call = (target, args, kwargs, fields)
    try:
        blob = dumps(call)
    except Exception as exc:
        raise _not_picklable(step, call, dumps, exc) from None
    return Job(step, folder, blob, ctx.step_id if ctx is not None else tool.name)


def _not_picklable(step: str, call: tuple[Any, ...], dumps: Dumps, exc: Exception) -> StepFailed:
    """Name the part of a call that does not pickle, and its type."""
    target, args, kwargs, _ = call
    name = target if isinstance(target, str) else getattr(target, "__qualname__", repr(target))
    parts: list[tuple[str, Any]] = [(f"the function {name!r}", target)]
    parts += [(f"argument {i + 1}", arg) for i, arg in enumerate(args)]
    parts += [(f"input[{key!r}]", arg) for key, arg in kwargs.items()]
    where, culprit = next(_failing(parts, dumps), ("the call", call))
    return StepFailed(
        f"step '{step}': {where} is a '{_type_name(culprit)}', which cannot be pickled to send "
        f"it to a worker process ({exc}); pass plain data, or run the step with "
        "'executor: local'",
        step=step,
        type="NotPicklable",
    )


def _failing(parts: list[tuple[str, Any]], dumps: Dumps) -> Iterator[tuple[str, Any]]:
    """The innermost parts that fail to pickle (into mappings, lists and tuples)."""
    for where, value in parts:
        try:
            dumps(value)
        except Exception:
            if isinstance(value, dict):
                inner = [(f"{where}[{k!r}]", v) for k, v in value.items()]
            elif isinstance(value, list | tuple | set | frozenset):
                inner = [(f"{where}[{i}]", v) for i, v in enumerate(value)]
            else:
                inner = []
            yield next(_failing(inner, dumps), (where, value))


def _type_name(value: Any) -> str:
    cls = type(value)
    return (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )


# -- in the worker ---------------------------------------------------------------------


def run_job(job: Job) -> bytes:
    """Run a job where it landed; every outcome, a failure too, comes back as bytes."""
    try:
        target, args, kwargs, fields = _load(job)
        fn = resolve_function(target, job.folder) if isinstance(target, str) else target
        if fields is not None:
            kwargs = {**kwargs, "ctx": _worker_context(fields, job.folder)}
        result = fn(*args, **kwargs)
        if inspect.isawaitable(result):
            result = asyncio.run(_wait(result))
    except BaseException as exc:  # a tool's sys.exit() fails its step, as in-process
        return _error(exc)
    try:
        return _pickle(("ok", result))
    except Exception as exc:
        return _pickle(("unpicklable", _type_name(result), str(exc)))


def _load(job: Job) -> tuple[Any, tuple[Any, ...], dict[str, Any], ContextFields | None]:
    if job.folder and job.folder not in sys.path:
        sys.path.insert(0, job.folder)
    loaded: tuple[Any, tuple[Any, ...], dict[str, Any], ContextFields | None] = pickle.loads(
        job.blob
    )
    return loaded


async def _wait(awaitable: Any) -> Any:
    return await awaitable


def _worker_context(fields: ContextFields, folder: str | None) -> StepContext:
    """What a tool's ``ctx`` knows in a worker: the ids, not the run's resources."""
    run_id, workflow, step_id, node_id, attempt = fields

    async def run_inline(fn: Callable[[], Any]) -> Any:
        return fn()

    return StepContext(
        run_id=run_id,
        workflow=workflow,
        step_id=step_id,
        node_id=node_id,
        attempt=attempt,
        workflow_dir=Path(folder) if folder is not None else None,
        run_in_thread=run_inline,
        resources={},
    )


def _error(exc: BaseException) -> bytes:
    """The step error, made here: its traceback is read where its frames are."""
    error = step_error_from(exc)
    try:
        return _pickle(("run_error", error))
    except Exception:  # a subclass of the user's that will not pickle: keep its fields
        return _pickle(("error", error.to_dict(), error.types))


# -- back in the parent ------------------------------------------------------------


def result_of(job: Job, data: bytes) -> Any:
    """The call's return value, or its failure as the local executor would raise it."""
    outcome = pickle.loads(data)
    kind = outcome[0]
    if kind == "ok":
        return outcome[1]
    if kind == "run_error":
        error: RunError = outcome[1]
        raise error
    if kind == "unpicklable":
        raise StepFailed(
            f"step '{job.step}': its result is a '{outcome[1]}', which cannot be pickled to "
            f"bring it back from the worker process ({outcome[2]}); return plain data",
            step=job.step,
            type="NotPicklable",
        )
    _, fields, types = outcome
    raise StepFailed(
        fields["message"],
        type=fields["type"],
        status=fields["status"],
        details=fields["details"],
        traceback=fields["traceback"],
        cause=fields["cause"],
        types=tuple(types),
    )
