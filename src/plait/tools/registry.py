"""The tool registry: ``@plait.tool``, the built-ins, and the ``plait.tools`` entry points."""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Literal, TypeVar, overload

from plait.errors import UnknownToolError
from plait.tools.checks import InputCheck
from plait.tools.context import StepContext

F = TypeVar("F", bound=Callable[..., Any])
ENTRY_POINT_GROUP = "plait.tools"


@dataclass(frozen=True, slots=True)
class Tool:
    """A callable a step can name.

    ``style`` says how a step's resolved input reaches the callable: ``"kwargs"`` spreads a
    mapping as keyword arguments (the usual ``@plait.tool`` function), ``"input"`` passes the
    input as one value (the built-ins). ``wants_ctx`` adds the ``StepContext`` as ``ctx``.
    ``check``, if given, looks at a step's input as written when the workflow is
    validated and names what it refuses (``plait.tools.checks``): how a tool keeps a run
    input from choosing code, such as ``shell``'s script or ``sql``'s query.
    ``inputs``, if given, declares the keys of the tool's input mapping and what each
    accepts (``{"duration": "duration", "output": "any"}``; kinds in
    ``plait.tools.checks``): at validation an unknown key or a literal value of the
    wrong kind is a problem, with a did-you-mean.
    """

    name: str
    fn: Callable[..., Any]
    is_async: bool
    style: Literal["kwargs", "input"] = "kwargs"
    wants_ctx: bool = False
    description: str = ""
    check: InputCheck | None = None
    inputs: Mapping[str, str] | None = None

    def bind(self, value: Any, ctx: StepContext | None) -> tuple[tuple[Any, ...], dict[str, Any]]:
        kwargs: dict[str, Any] = {"ctx": ctx} if self.wants_ctx else {}
        if self.style == "input":
            return (value,), kwargs
        if value is None:
            return (), kwargs
        if isinstance(value, dict):
            return (), {**value, **kwargs}
        return (value,), kwargs

    @classmethod
    def from_callable(
        cls,
        fn: Callable[..., Any],
        name: str | None = None,
        *,
        style: Literal["kwargs", "input"] = "kwargs",
    ) -> Tool:
        try:
            params = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            params = {}  # type: ignore[assignment]
        return cls(
            name=name or str(getattr(fn, "__name__", None) or repr(fn)),
            fn=fn,
            is_async=inspect.iscoroutinefunction(fn),
            style=style,
            wants_ctx="ctx" in params,
            description=(inspect.getdoc(fn) or "").split("\n", 1)[0],
        )


class ToolRegistry:
    """Tools by name. The built-ins and entry points load on first use."""

    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}
        self._lock = threading.Lock()
        self._loaded = False

    def register(self, tool: Tool, *, replace: bool = True) -> Tool:
        if not replace and tool.name in self._tools:
            raise ValueError(f"a tool named {tool.name!r} is already registered")
        self._tools[tool.name] = tool
        return tool

    def get(self, name: str) -> Tool:
        self._ensure_loaded()
        try:
            return self._tools[name]
        except KeyError:
            raise UnknownToolError(f"unknown tool {name!r}") from None

    def __contains__(self, name: object) -> bool:
        self._ensure_loaded()
        return name in self._tools

    def __iter__(self) -> Iterator[str]:
        self._ensure_loaded()
        return iter(sorted(self._tools))

    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            from plait.tools.builtin import BUILTINS

            for builtin in BUILTINS:
                self._tools.setdefault(builtin.name, builtin)
            for ep in entry_points(group=ENTRY_POINT_GROUP):
                self._load_entry_point(ep)
            self._loaded = True

    def _load_entry_point(self, ep: Any) -> None:
        obj = ep.load()
        if isinstance(obj, Tool):
            self._tools.setdefault(obj.name, obj)
        elif callable(obj):
            self._tools.setdefault(ep.name, Tool.from_callable(obj, ep.name))
        # A module: importing it registered its tools with @plait.tool.


default_registry = ToolRegistry()


def get_tool(name: str) -> Tool:
    return default_registry.get(name)


@overload
def tool(name: F, /) -> F: ...
@overload
def tool(name: str | None = None, /) -> Callable[[F], F]: ...
def tool(name: str | F | None = None, /) -> Callable[[F], F] | F:
    """Register a function (sync or async) as a tool: ``@plait.tool("fetch_users")``.

    A step's input mapping becomes keyword arguments; a parameter named ``ctx`` receives
    the ``StepContext``. Async functions run on the event loop, plain functions in the
    run's thread pool.
    """
    if callable(name):
        default_registry.register(Tool.from_callable(name))
        return name

    def decorate(fn: F) -> F:
        default_registry.register(Tool.from_callable(fn, name))
        return fn

    return decorate
