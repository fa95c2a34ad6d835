"""Checks that need the whole workflow: names in ``${...}`` and dependency cycles."""

from __future__ import annotations

from collections.abc import Iterable

from plait.definition.models import WorkflowDef
from plait.errors import Problem
from plait.expressions.template import Template

STEP_FIELDS = ("output", "status", "error", "attempts")
_BUILTIN_NAMES = {"inputs": None, "run": ("id",), "workflow": ("name",)}


def check_references(
    problems: list[Problem],
    definition: WorkflowDef,
    templates: dict[tuple[str, str], Template],
    index: dict[str, int],
    aliases: dict[str, str],
    known_bad: set[str],
    file: str | None,
) -> None:
    """Every name read by a ``${...}`` must exist: a step, a declared input, run, workflow."""
    for (step_id, key), template in templates.items():
        step = step_id or None
        for expr in template.expressions():
            for root, keys in expr.names():
                message = _check_name(root, keys, definition, index, aliases, known_bad, key)
                if message:
                    problems.append(Problem(f"{message} in ${{{expr.text}}}", file, step, key))


def _check_name(
    root: str,
    keys: tuple[str | int, ...],
    definition: WorkflowDef,
    index: dict[str, int],
    aliases: dict[str, str],
    known_bad: set[str],
    key: str,
) -> str | None:
    first = keys[0] if keys else None
    if root in index or root in aliases:
        if first is not None and first not in STEP_FIELDS:
            return (
                f"a step has {', '.join(STEP_FIELDS)}, not {first!r} "
                f"(write ${{{root}.output.{first}}} for a key of its output)"
            )
        return None
    if root in known_bad:
        return None
    if root == "result" and key == "output":
        return None
    if root == "inputs":
        if first is not None and first not in definition.inputs:
            declared = ", ".join(sorted(definition.inputs)) or "none"
            return f"unknown input {first!r} (declared inputs: {declared})"
        return None
    if root in _BUILTIN_NAMES:
        allowed = _BUILTIN_NAMES[root] or ()
        if first is not None and first not in allowed:
            return f"'{root}' has {', '.join(allowed)}, not {first!r}"
        return None
    return f"unknown name '{root}': expected a step id, inputs, run or workflow"


def find_cycle(
    index: dict[str, int], deps: dict[str, list[str]], members: dict[str, list[str]]
) -> list[str] | None:
    """Return a dependency cycle as a path of step ids (first repeated last), or None.

    A group is two vertices, its start and its end: members hang between them, so a
    member that depends on its own group (or on anything after it) is a cycle.
    """
    edges: dict[tuple[str, int], list[tuple[str, int]]] = {}
    for step in index:
        edges.setdefault((step, 0), []).append((step, 1))
        for member in members.get(step, []):
            edges[(step, 0)].append((member, 0))
            edges.setdefault((member, 1), []).append((step, 1))
        for dep in deps.get(step, []):
            edges.setdefault((dep, 1), []).append((step, 0))
    path = _dfs_cycle(edges, [(s, 0) for s in index])
    if path is None:
        return None
    ids = [path[0][0]]
    for vertex, _ in path[1:]:
        if vertex != ids[-1]:
            ids.append(vertex)
    if ids[-1] != ids[0]:
        ids.append(ids[0])
    return ids


def _dfs_cycle(
    edges: dict[tuple[str, int], list[tuple[str, int]]], starts: Iterable[tuple[str, int]]
) -> list[tuple[str, int]] | None:
    WHITE, GREY, BLACK = 0, 1, 2
    color: dict[tuple[str, int], int] = {}
    for start in starts:
        if color.get(start, WHITE) != WHITE:
            continue
        stack = [(start, iter(edges.get(start, ())))]
        color[start] = GREY
        while stack:
            vertex, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                color[vertex] = BLACK
                stack.pop()
                continue
            state = color.get(nxt, WHITE)
            if state == GREY:
                on_path = [v for v, _ in stack]
                return [*on_path[on_path.index(nxt) :], nxt]
            if state == WHITE:
                color[nxt] = GREY
                stack.append((nxt, iter(edges.get(nxt, ()))))
    return None
