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

from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from plait.definition.durations import parse_duration
from plait.definition.policy import DEFAULT_POLICY, Policy
from plait.errors import did_you_mean
from plait.expressions.template import Const, DictTemplate, ListTemplate, Template

Finding = tuple[str, str]  # (key inside the input, "" for the input itself; message)
InputCheck = Callable[["StaticInput"], Iterable[Finding]]


class StaticInput:
    """A step's ``input`` as the workflow wrote it, seen before any run."""

    __slots__ = ("_template", "folder", "policy")

    def __init__(
        self, template: Template, policy: Policy = DEFAULT_POLICY, folder: Path | None = None
    ) -> None:
        self._template = template
        self.policy = policy
        self.folder = folder  # the workflow file's folder (None: built in Python)

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


# -- a tool's declared inputs ------------------------------------------------------------

# What a declared key accepts: one kind, or several joined by "|" ("string|list").
# A null is accepted everywhere (the key's default); "any" accepts every value.
_KINDS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "string": ("a string", lambda v: isinstance(v, str)),
    "number": ("a number", lambda v: isinstance(v, int | float) and not isinstance(v, bool)),
    "integer": ("a whole number", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    "boolean": ("true or false", lambda v: isinstance(v, bool)),
    "list": ("a list", lambda v: isinstance(v, list | tuple)),
    "mapping": ("a mapping", lambda v: isinstance(v, dict)),
    "duration": ("a duration (30s, 5m, 1.5)", lambda v: _is_duration(v)),
    "any": ("any value", lambda v: True),
}


def _is_duration(value: Any) -> bool:
    try:
        parse_duration(value)
    except (ValueError, TypeError):
        return False
    return True


def check_declared(tool: str, inputs: Mapping[str, str], given: StaticInput) -> Iterator[Finding]:
    """An input mapping written in the workflow against the keys the tool declares: an
    unknown key (with a did-you-mean) or a value of the wrong kind written literally is
    a finding; a value a ``${...}`` gives is checked when the step runs."""
    items = entries(given._template)
    if items is None:
        return
    for key, part in items:
        if key not in inputs:
            hint = did_you_mean(key, inputs)
            keys = ", ".join(inputs) or "none"
            yield (
                str(key),
                f"the {tool} tool has no input {key!r}{hint or f' (its keys: {keys})'}",
            )
            continue
        if not isinstance(part, Const) or part.value is None:
            continue  # decided at run time, or left to its default
        kinds = inputs[key].split("|")
        if not any(_KINDS[kind][1](part.value) for kind in kinds):
            wanted = " or ".join(_KINDS[kind][0] for kind in kinds)
            yield (str(key), f"the {tool} tool's {key!r} is {wanted}, not {_shown(part.value)}")


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return f"{value[:40]!r}"
    if isinstance(value, bool):
        return "a boolean"
    return {int: "a number", float: "a number", list: "a list", dict: "a mapping"}.get(
        type(value), type(value).__name__
    )
