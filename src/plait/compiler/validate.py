"""Checks that need the whole workflow: names in ``${...}`` and dependency cycles."""

from __future__ import annotations

from plait.definition.models import WorkflowDef
from plait.errors import ERROR_KEYS, Problem, did_you_mean
from plait.expressions.template import Template

STEP_FIELDS = ("output", "status", "error", "attempts")
ERROR_FIELDS = ERROR_KEYS  # what ${error.KEY} may read in an onError handler
FRAME_FIELDS = {
    "parallel": ("index", "item", "items"),
    "loop": ("index", "item", "items", "results"),
}
_BUILTIN_NAMES = {"inputs": None, "run": ("id",), "workflow": ("name",)}


def check_references(
    problems: list[Problem],
    definition: WorkflowDef,
    templates: dict[tuple[str, str], Template],
    index: dict[str, int],
    aliases: dict[str, str],
    known_bad: set[str],
    file: str | None,
    handlers: set[str] | frozenset[str] = frozenset(),
    outer_ids: set[str] | frozenset[str] = frozenset(),
    frames: dict[str, tuple[str, ...]] | None = None,
) -> None:
    """Every name read by a ``${...}`` must exist: a step, a declared input, run, workflow;
    ``error`` in a step an ``onError`` routes to; inside a map or loop body, the steps of
    the enclosing scopes and ``parallel`` / ``loop``."""
    frames = frames or {}
    for (step_id, key), template in templates.items():
        step = step_id or None
        for expr in template.expressions():
            # `${n + n}`: one problem for the name, not one per occurrence
            for root, keys in dict.fromkeys(expr.names()):
                if root == "error" and step_id in handlers:
                    message = _check_keys(root, keys, ERROR_FIELDS)
                elif root in frames:
                    message = _check_keys(root, keys, frames[root])
                elif root in outer_ids and root not in index:
                    message = _check_keys(root, keys, STEP_FIELDS)
                else:
                    message = _check_name(root, keys, definition, index, aliases, known_bad, key)
                if message:
                    # the did-you-mean goes last: "unknown name 'x' in ${x.y}; did you mean"
                    text, hint = _split_hint(message)
                    problems.append(Problem(f"{text} in ${{{expr.text}}}{hint}", file, step, key))


def _split_hint(message: str) -> tuple[str, str]:
    start = message.find("; did you mean '")
    if start < 0:
        return message, ""
    end = message.index("?", start) + 1
    return message[:start] + message[end:], message[start:end]


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
            hint = did_you_mean(first, STEP_FIELDS)
            return (
                f"a step has {', '.join(STEP_FIELDS)}, not {first!r}{hint} "
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
            hint = did_you_mean(first, definition.inputs)
            return f"unknown input {first!r}{hint} (declared inputs: {declared})"
        return None
    if root == "env":
        if not isinstance(first, str):
            return "read an environment variable as ${env.NAME}"
        return None  # declared under `env:` or allowed when the run starts (bind_env)
    if root in _BUILTIN_NAMES:
        allowed = _BUILTIN_NAMES[root] or ()
        if first is not None and first not in allowed:
            return f"'{root}' has {', '.join(allowed)}, not {first!r}{did_you_mean(first, allowed)}"
        return None
    if root == "error":
        return "'error' is known only in a step that some step's 'onError' routes to"
    if root in FRAME_FIELDS:
        kind = "map ('parallel')" if root == "parallel" else "loop"
        return f"'{root}' is known only inside a {kind} body"
    hint = did_you_mean(root, [*index, *aliases, *known_bad, "inputs", "env", "run", "workflow"])
    return f"unknown name '{root}'{hint}: expected a step id, inputs, env, run or workflow"


def _check_keys(root: str, keys: tuple[str | int, ...], allowed: tuple[str, ...]) -> str | None:
    if keys and keys[0] not in allowed:
        hint = did_you_mean(keys[0], allowed)
        return f"'{root}' has {', '.join(allowed)}, not {keys[0]!r}{hint}"
    return None


def find_cycle(
    index: dict[str, int], deps: dict[str, list[str]], members: dict[str, list[str]]
) -> list[str] | None:
    """Return a dependency cycle as a path of step ids (first repeated last), or None.

    A group is two vertices, its start and its end: members hang between them, so a
    member that depends on its own group (or on anything after it) is a cycle. Vertices
    are integers (2i = start of step i, 2i+1 = its end) and the walk is iterative: no
    recursion limit, and a 100,000-step workflow costs flat lists, not a dict of tuples.
    """
    ids = list(index)
    number = {step: i for i, step in enumerate(ids)}
    edges: list[list[int]] = [[] for _ in range(2 * len(ids))]
    for i, step in enumerate(ids):
        start, end = 2 * i, 2 * i + 1
        edges[start].append(end)
        for member in members.get(step, ()):
            m = number[member]
            edges[start].append(2 * m)
            edges[2 * m + 1].append(end)
        for dep in deps.get(step, ()):
            edges[2 * number[dep] + 1].append(start)
    path = _dfs_cycle(edges)
    if path is None:
        return None
    names = [ids[path[0] // 2]]
    for vertex in path[1:]:
        if ids[vertex // 2] != names[-1]:
            names.append(ids[vertex // 2])
    if names[-1] != names[0]:
        names.append(names[0])
    return names


def _dfs_cycle(edges: list[list[int]]) -> list[int] | None:
    white, grey, black = 0, 1, 2
    color = bytearray(len(edges))
    for root in range(0, len(edges), 2):
        if color[root] != white:
            continue
        stack = [root]
        cursor = [0]
        color[root] = grey
        while stack:
            vertex = stack[-1]
            position = cursor[-1]
            out = edges[vertex]
            if position == len(out):
                color[vertex] = black
                stack.pop()
                cursor.pop()
                continue
            cursor[-1] = position + 1
            nxt = out[position]
            state = color[nxt]
            if state == grey:
                return [*stack[stack.index(nxt) :], nxt]
            if state == white:
                color[nxt] = grey
                stack.append(nxt)
                cursor.append(0)
    return None
