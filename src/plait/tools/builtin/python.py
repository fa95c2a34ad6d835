"""The ``python`` tool: call ``module:attr`` with ``args``.

A coroutine function is awaited on the event loop; a plain function runs in the run's
thread pool. The workflow file's folder is on the import path, so a workflow can ship
its helper module beside it.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import sys
import threading
from collections.abc import Callable
from typing import Any

from plait.errors import StepError
from plait.tools.builtin._args import mapping
from plait.tools.context import StepContext
from plait.tools.registry import Tool

_import_lock = threading.Lock()


def resolve_function(spec: str, folder: str | None) -> Callable[..., Any]:
    """Import ``module:attr`` (``attr`` may be dotted), with ``folder`` on the import path."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise StepError(
            f"python: 'function' must look like 'module:function', not {spec!r}", type="InputError"
        )
    with _import_lock:
        if folder and folder not in sys.path:
            sys.path.insert(0, folder)
        try:
            obj: Any = importlib.import_module(module_name)
        except ImportError as exc:
            raise StepError(
                f"python: cannot import {module_name!r}: {exc}", type="ImportError"
            ) from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise StepError(
                f"python: {module_name!r} has no attribute {attr!r}", type="ImportError"
            ) from None
    if not callable(obj):
        raise StepError(f"python: {spec!r} is not callable", type="InputError")
    return obj  # type: ignore[no-any-return]


def call_args(value: Any) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
    """The input's ``function`` and its ``args`` as positional and keyword arguments.
    (``isolation``, if given, was read by the compiler: it chose the executor.)"""
    args = mapping(value, "python")
    spec = args.get("function")
    if not isinstance(spec, str):
        raise StepError("python: 'function' is required, as 'module:function'", type="InputError")
    given = args.get("args")
    if given is None:
        return spec, (), {}
    if isinstance(given, dict):
        return spec, (), given
    if isinstance(given, list):
        return spec, tuple(given), {}
    raise StepError("python: 'args' must be a mapping or a list", type="InputError")


async def python(value: Any, ctx: StepContext) -> Any:
    spec, positional, keywords = call_args(value)
    folder = str(ctx.workflow_dir) if ctx.workflow_dir is not None else None
    fn = resolve_function(spec, folder)
    if inspect.iscoroutinefunction(fn):
        return await fn(*positional, **keywords)
    result = await ctx.run_in_thread(functools.partial(fn, *positional, **keywords))
    if inspect.isawaitable(result):
        return await result
    return result


PYTHON = Tool(
    "python",
    python,
    is_async=True,
    style="input",
    wants_ctx=True,
    description="call `function` ('module:attr') with `args`",
)
