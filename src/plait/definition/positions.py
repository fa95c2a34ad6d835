"""Where each key of a workflow file is written: the line and column a problem names.

A problem names a step and a key (``step 'wait', key 'input.duraton'``); this module
finds where that is in the file's text, for YAML (PyYAML's node marks) and JSON (a small
scanner of the text that was already parsed once). The table is built only when a file
has problems, so a valid workflow pays nothing::

    steps[2].input.duraton  ──▶  (14, 7)      a key: where the key is written
    steps[2].dependsOn[1]   ──▶  (16, 20)     a list item: where the item starts
"""

from __future__ import annotations

import bisect
import json
import json.scanner
import re
from collections.abc import Iterator
from typing import Any

import yaml

from plait.definition.models import StepDef, snake_case

Path = tuple[str | int, ...]
# (line, column, the scalar written there or None), from 1
Entry = tuple[int, int, str | None]

# Entries kept at most (aliases may expand a small file): beyond, positions are partial.
MAX_ENTRIES = 2_000_000
_KEY_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_QUOTED = re.compile(r"'([^']{1,200})'")
_EXPR = re.compile(r"\$\{[^}]*\}")


class Positions:
    """The positions of one file's text, built on first use."""

    __slots__ = ("_children", "_json", "_steps", "_table", "_text")

    def __init__(self, text: str, *, json_only: bool) -> None:
        self._text = text
        self._json = json_only
        self._table: dict[Path, Entry] | None = None
        self._children: dict[Path, list[str | int]] = {}
        self._steps: dict[str, Path] = {}

    def _build(self) -> dict[Path, Entry]:
        if self._table is None:
            try:
                table = _json_table(self._text) if self._json else _yaml_table(self._text)
            except (yaml.YAMLError, ValueError, IndexError, RecursionError):
                table = {}
            self._table = table
            for path, (_, _, value) in table.items():
                if path:
                    self._children.setdefault(path[:-1], []).append(path[-1])
                if (
                    len(path) >= 3
                    and path[-1] == "id"
                    and isinstance(path[-2], int)
                    and path[-3] == "steps"
                    and value is not None
                ):
                    self._steps.setdefault(value, path[:-1])
        return self._table

    def locate(self, step: str | None, key: str | None, message: str) -> tuple[int, int] | None:
        """(line, column) of ``key`` in ``step`` (the workflow's own key if no step),
        refined to the item or value the message names; None if it cannot be found."""
        table = self._build()
        if not table:
            return None
        if step is None:
            path: Path | None = ()
        elif step.startswith("#") and step[1:].isdigit():
            path = ("steps", int(step[1:]) - 1)
        else:
            path = self._steps.get(step)
        if path is None:
            return None
        for part in _key_parts(key):
            child = self._child(path, part)
            if child is None:
                break
            path = child
        path = self._refine(path, message)
        entry = table.get(path)
        return (entry[0], entry[1]) if entry is not None else None

    def _child(self, path: Path, part: str | int) -> Path | None:
        table = self._table or {}
        if (*path, part) in table:
            return (*path, part)
        if isinstance(part, int):
            return None
        wanted = StepDef.aliases.get(part) or snake_case(part)
        for name in self._children.get(path, ()):
            if isinstance(name, str) and (
                snake_case(name) == wanted or StepDef.aliases.get(name) == wanted
            ):
                return (*path, name)
        return None

    def _refine(self, path: Path, message: str) -> Path:
        """The entry under ``path`` whose value holds the ``${...}`` or the quoted name
        the message is about (``unknown step 'fetch_user'`` in a ``dependsOn`` list)."""
        needles = [m.group(0) for m in _EXPR.finditer(message)]
        exact = [m.group(1) for m in _QUOTED.finditer(message)]
        if not needles and not exact:
            return path
        table = self._table or {}
        for sub in self._under(path):
            entry = table.get(sub)
            value = entry[2] if entry is not None else None
            if value is None:
                continue
            if any(n in value for n in needles) or (not needles and value in exact):
                return sub
        return path

    def _under(self, path: Path) -> Iterator[Path]:
        stack = [path]
        while stack:
            current = stack.pop()
            yield current
            children = self._children.get(current, [])
            stack.extend((*current, name) for name in reversed(children))


def _key_parts(key: str | None) -> list[str | int]:
    if not key:
        return []
    return [int(index) if index else name for name, index in _KEY_PART.findall(key.split(" ")[0])]


# -- YAML ------------------------------------------------------------------------------


def _yaml_table(text: str) -> dict[Path, Entry]:
    from plait.definition.loader import yaml_node  # the loader plait parses with

    root = yaml_node(text)
    table: dict[Path, Entry] = {}
    if root is None:
        return table
    stack: list[tuple[yaml.Node, Path]] = [(root, ())]
    while stack and len(table) < MAX_ENTRIES:
        node, path = stack.pop()
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in _pairs(node):
                sub = (*path, key_node.value)
                if sub in table:
                    continue
                mark = key_node.start_mark
                table[sub] = (mark.line + 1, mark.column + 1, _scalar(value_node))
                stack.append((value_node, sub))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                sub = (*path, index)
                mark = item.start_mark
                table[sub] = (mark.line + 1, mark.column + 1, _scalar(item))
                stack.append((item, sub))
    return table


def _pairs(node: yaml.MappingNode) -> list[tuple[yaml.ScalarNode, yaml.Node]]:
    """A mapping's own keys first, then the ones ``<<: *anchor`` merges in."""
    own: list[tuple[yaml.ScalarNode, yaml.Node]] = []
    merged: list[tuple[yaml.ScalarNode, yaml.Node]] = []
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            continue
        if key_node.tag.endswith(":merge") or key_node.value == "<<":
            sources = (
                value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            )
            for source in sources:
                if isinstance(source, yaml.MappingNode):
                    merged.extend(_pairs(source))
            continue
        own.append((key_node, value_node))
    return own + merged


def _scalar(node: yaml.Node) -> str | None:
    return node.value if isinstance(node, yaml.ScalarNode) else None


# -- JSON ------------------------------------------------------------------------------


def _json_table(text: str) -> dict[Path, Entry]:
    """Key and item positions of JSON text that ``json.loads`` accepted."""
    starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def mark(offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(starts, offset)
        return line, offset - starts[line - 1] + 1

    table: dict[Path, Entry] = {}
    _JsonScan(text, mark, table).value(_skip(text, 0), ())
    return table


_WS = re.compile(r"[ \t\n\r]*")


def _skip(text: str, i: int) -> int:
    match = _WS.match(text, i)
    return match.end() if match else i


class _JsonScan:
    __slots__ = ("mark", "table", "text")

    def __init__(self, text: str, mark: Any, table: dict[Path, Entry]) -> None:
        self.text, self.mark, self.table = text, mark, table

    def value(self, i: int, path: Path) -> tuple[int, str | None]:
        """Scan the value at ``i``; return the offset after it and its text if a string."""
        text = self.text
        char = text[i]
        if char == '"':
            string, end = json.decoder.scanstring(text, i + 1)  # type: ignore[attr-defined]
            return end, string
        if char == "{":
            i = _skip(text, i + 1)
            while text[i] != "}":
                key, i = json.decoder.scanstring(text, i + 1)  # type: ignore[attr-defined]
                key_at = _key_offset(text, i)
                at = self.mark(key_at)
                i = _skip(text, _skip(text, i) + 1)  # past ':'
                sub = (*path, key)
                i, scalar = self.value(i, sub)
                if sub not in self.table and len(self.table) < MAX_ENTRIES:
                    self.table[sub] = (*at, scalar)
                i = _skip(text, i)
                if text[i] == ",":
                    i = _skip(text, i + 1)
            return i + 1, None
        if char == "[":
            i = _skip(text, i + 1)
            index = 0
            while text[i] != "]":
                sub = (*path, index)
                at = self.mark(i)
                i, scalar = self.value(i, sub)
                if len(self.table) < MAX_ENTRIES:
                    self.table[sub] = (*at, scalar)
                index += 1
                i = _skip(text, i)
                if text[i] == ",":
                    i = _skip(text, i + 1)
            return i + 1, None
        number = json.scanner.NUMBER_RE.match(text, i)
        if number:
            return number.end(), None
        for word in ("true", "false", "null", "NaN", "Infinity", "-Infinity"):
            if text.startswith(word, i):
                return i + len(word), None
        raise ValueError(f"unexpected JSON at offset {i}")


def _key_offset(text: str, end: int) -> int:
    """The offset of the opening quote of the string that ends just before ``end``."""
    i = end - 2
    while i >= 0:
        if text[i] == '"':
            backslashes = 0
            j = i - 1
            while j >= 0 and text[j] == "\\":
                backslashes += 1
                j -= 1
            if backslashes % 2 == 0:
                return i
        i -= 1
    return 0
