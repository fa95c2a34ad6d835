"""A tool's own check of a step's input, run when the workflow is validated (issue 19).

Run inputs are data and must never choose code. Which keys of an input are code is
the tool's knowledge (``shell``'s ``command``, ``sql``'s ``query``, ``python``'s
``function``), so a tool declares a ``check``: the compiler calls it once per step with
the input as written, and reports each finding as a problem at ``input.KEY``::

    tool: shell                         Tool.check(StaticInput)
    input: {command: "rm ${inputs.f}",  ──▶ ("command", "a ${...} inside a shell
            shell: true}                      command string can inject ...")

``StaticInput`` says what the file fixes and what a ``${...}`` decides at run time; it
never evaluates anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from plait.definition.policy import DEFAULT_POLICY, Policy
from plait.expressions.template import Const, DictTemplate, ListTemplate, Template

Finding = tuple[str, str]  # (key inside the input, "" for the input itself; message)
InputCheck = Callable[["StaticInput"], Iterable[Finding]]


class StaticInput:
    """A step's ``input`` as the workflow wrote it, seen before any run."""

    __slots__ = ("_template", "policy")

    def __init__(self, template: Template, policy: Policy = DEFAULT_POLICY) -> None:
        self._template = template
        self.policy = policy

    def is_mapping(self) -> bool:
        """Whether the input is a mapping written in the file (its keys fixed), not a
        ``${...}`` that gives the whole input at run time."""
        template = self._template
        return isinstance(template, DictTemplate) or (
            isinstance(template, Const) and isinstance(template.value, dict | type(None))
        )

    def get(self, key: str) -> Template | None:
        """The part under ``key``, or ``None`` when the input has no such key."""
        template = self._template
        if isinstance(template, Const):
            if isinstance(template.value, dict) and key in template.value:
                return Const(template.value[key])
            return None
        if isinstance(template, DictTemplate):
            for name, part in template.items:
                if name == key:
                    return part
        return None

    def literal(self, key: str, default: Any = None) -> Any:
        """The value under ``key`` when the file fixes it (no ``${...}`` inside);
        ``default`` when the key is absent; ``DYNAMIC`` when a ``${...}`` decides it."""
        part = self.get(key)
        if part is None:
            return default
        return part.value if isinstance(part, Const) else DYNAMIC


class _Dynamic:
    """What ``StaticInput.literal`` gives for a value a ``${...}`` decides."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "DYNAMIC"


DYNAMIC: Any = _Dynamic()


def is_dynamic(template: Template | None) -> bool:
    """Whether any ``${...}`` is inside (``$${`` is a literal ``${`` and is not)."""
    return template is not None and next(iter(template.expressions()), None) is not None


def elements(template: Template) -> Iterator[Template] | None:
    """The parts of a list written in the file, or ``None`` when it is not one."""
    if isinstance(template, Const) and isinstance(template.value, list | tuple):
        return (Const(item) for item in template.value)
    if isinstance(template, ListTemplate):
        return iter(template.items)
    return None


def entries(template: Template | None) -> Iterator[tuple[Any, Template]] | None:
    """The keys and parts of a mapping written in the file, or ``None`` when it is not one."""
    if isinstance(template, Const) and isinstance(template.value, dict):
        return ((key, Const(value)) for key, value in template.value.items())
    if isinstance(template, DictTemplate):
        return iter(template.items)
    return None


def text_of(template: Template) -> str | None:
    """The string a part fixes, or ``None`` (not a string, or decided at run time)."""
    if isinstance(template, Const) and isinstance(template.value, str):
        return template.value
    return None


def not_a_mapping(tool: str, keys: str) -> Finding:
    return (
        "",
        f"the {tool} tool's input is a mapping written in the workflow ({keys}); a "
        "${...} may give values inside it, not the whole input, which would let a run "
        "input choose what runs",
    )
