"""The ``python`` tool: call ``module:attr`` with ``args``.

A coroutine function is awaited on the event loop; a plain function runs in the run's
thread pool. The workflow file's folder is on the import path, so a workflow can ship
its helper module beside it.

``function`` is code, so it is written in the workflow: a ``${...}`` in it is refused
when the workflow is validated (``check_input``, issue 19), as is a module outside
``--allow-python`` when one is given. ``attr`` is reached from the named module through
attributes that are not modules (``mypkg:os.system`` is refused), so the module part
says whose code runs.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

from plait.errors import StepError, did_you_mean
from plait.tools.builtin._args import mapping
from plait.tools.checks import DYNAMIC, Finding, StaticInput, not_a_mapping
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
        if inspect.ismodule(obj):  # the module part must say whose code runs (issue 19)
            raise StepError(
                f"python: {spec!r} reaches the module {obj.__name__!r} through an attribute; "
                f"name it as the module: '{obj.__name__}:...'",
                type="InputError",
            )
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


def check_input(given: StaticInput) -> Iterator[Finding]:
    """``function`` is a fixed ``'module:attr'``, in the allowed modules if any are set."""
    if not given.is_mapping():
        yield not_a_mapping("python", "function, args, isolation")
        return
    spec = given.literal("function")
    if spec is DYNAMIC:
        yield (
            "function",
            "'function' is written in the workflow: a ${...} in it would let a run input "
            "choose the code to call (builtins:eval); to pick among functions, route with "
            "'switch' or decide inside your function; see docs/security.md",
        )
        return
    if spec is None:
        return  # reported when the step runs, with the input as given
    module, sep, attr = spec.partition(":") if isinstance(spec, str) else ("", "", "")
    if not (sep and module and attr):
        yield ("function", f"'function' looks like 'module:function', not {spec!r}")
        return
    allowed = given.policy.python_modules
    if allowed is None:
        yield from _check_attribute(module, attr, given)
        return
    if not given.policy.allows_module(module):
        listed = ", ".join(allowed) or "none"
        yield (
            "function",
            f"module {module!r} is not allowed: --allow-python (allow_python=) lists {listed}; "
            "add it there, or call a function of an allowed module",
        )
    elif any(part.startswith("_") for part in attr.split(".")):
        yield (
            "function",
            f"with --allow-python, 'function' names a public attribute, not {attr!r}: a name "
            "starting with '_' could reach beyond the allowed module",
        )
    else:
        yield from _check_attribute(module, attr, given)


def _check_attribute(module_name: str, attr: str, given: StaticInput) -> Iterator[Finding]:
    """``attr`` of ``module``, when the module can be imported now as the run would
    import it (the workflow's folder on the import path): a misspelt name is reported
    at validation, with a did-you-mean. A module that cannot be imported now is left
    to the run (it may be installed or created before then)."""
    folder = str(given.folder) if given.folder is not None else None
    with _import_lock:
        if folder and folder not in sys.path:
            sys.path.insert(0, folder)
        try:
            obj: Any = importlib.import_module(module_name)
        except Exception:  # not importable now: the run reports it
            return
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            names = [name for name in dir(obj) if not name.startswith("__")]
            hint = did_you_mean(part, names)
            yield ("function", f"{module_name!r} has no attribute {attr!r}{hint}")
            return
        except Exception:  # a module's __getattr__ that fails: the run reports it
            return
        if inspect.ismodule(obj):
            return  # refused when the step runs, with the reason


PYTHON = Tool(
    "python",
    python,
    is_async=True,
    style="input",
    wants_ctx=True,
    description="call `function` ('module:attr') with `args`",
    check=check_input,
    inputs={"function": "string", "args": "mapping|list", "isolation": "string"},
)
