"""Make step ids and keys that Python cannot parse into identifiers, before ``ast.parse``.

Step ids may contain ``-`` (seed 002 writes ``${step-a.output.result}``), and a name
before the first ``.`` that is a step id is that step, never a subtraction::

    step_ids={"step-a"}:  step-a.output.result - 1   ->  stepǂa.output.result - 1
    step_ids=():          step-a.output.result - 1   ->  step - a.output.result - 1

A hyphenated name that is not a step id is left to Python (a subtraction); when a step
id is a hyphen-separated prefix of it, the longest such prefix is the step
(``step-a-1`` is ``step-a`` minus 1). A step id or a key that is a Python keyword
(``import.output``, ``mail.from``) is renamed too. The new identifiers use ``ǂ``
(U+01C2, a letter no step id can contain) and never start with ``__``; ``Mangled.names``
maps each back to what the user wrote. Only names outside string literals are touched.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Collection
from dataclasses import dataclass, field

MARK = "ǂ"

_TOKEN = re.compile(
    r"""
    (?P<string>[rRbBuUfF]{0,2}(?:'''(?:\\.|[^\\])*?'''|\"\"\"(?:\\.|[^\\])*?\"\"\"
        |'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*"))
    |(?P<number>\d(?:[\w.]|(?<=[eE])[+-])*)
    |(?P<name>[^\W\d]\w*(?:-\w+)*)
    |(?P<space>\s+)
    |(?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(slots=True)
class Mangled:
    text: str
    names: dict[str, str] = field(default_factory=dict)
    """Each identifier made here -> the step id or key the user wrote."""

    def original(self, identifier: str) -> str:
        return self.names.get(identifier, identifier)

    def unmangle(self, text: str) -> str:
        for made, written in self.names.items():
            text = text.replace(made, written)
        return text


class Unbalanced(ValueError):
    """A closing bracket with no opening one (the parser wraps the text in parentheses)."""


def mangle(source: str, step_ids: Collection[str]) -> Mangled:
    """Rename hyphenated and keyword step ids in name position, and keyword keys.

    ``step_ids`` should answer ``in`` quickly (a set or a dict). Raises ``Unbalanced``
    for a closing bracket that closes nothing.
    """
    result = Mangled(source)
    out: list[str] = []
    pos = 0
    depth = 0
    after_dot = False
    while pos < len(source):
        match = _TOKEN.match(source, pos)
        assert match is not None  # `other` matches any character
        kind, token, end = match.lastgroup, match.group(), match.end()
        if kind == "name":
            if after_dot:
                word = token.split("-", 1)[0]
                out.append(_key(word, result.names))
            else:
                word = _step_prefix(token, step_ids) or token.split("-", 1)[0]
                out.append(_name(word, step_ids, result.names, source, pos + len(word)))
            end = pos + len(word)
            after_dot = False
        else:
            out.append(token)
            if kind == "other":
                depth = _balance(token, depth)
                after_dot = token == "."
            elif kind != "space":
                after_dot = False
        pos = end
    result.text = "".join(out)
    return result


def dot_without_key(source: str) -> int | None:
    """Where a ``.`` is followed by no key (``inputs.``, ``x.0``), for a clearer message."""
    dot: int | None = None
    for match in _TOKEN.finditer(source):
        kind = match.lastgroup
        if kind == "space":
            continue
        if dot is not None and kind != "name":
            return dot
        dot = match.start() if match.group() == "." else None
    return dot


def _balance(token: str, depth: int) -> int:
    if token in "([{":
        return depth + 1
    if token in ")]}":
        if depth == 0:
            raise Unbalanced(f"unmatched '{token}'")
        return depth - 1
    return depth


def _step_prefix(token: str, step_ids: Collection[str]) -> str | None:
    if "-" not in token:
        return token if token in step_ids else None
    parts = token.split("-")
    for count in range(len(parts), 0, -1):
        candidate = "-".join(parts[:count])
        if candidate in step_ids:
            return candidate
    return None


def _name(
    word: str, step_ids: Collection[str], names: dict[str, str], source: str, end: int
) -> str:
    if word not in step_ids:
        return word
    if keyword.iskeyword(word):
        # `import.output` is the step; `not x` stays the operator even if a step is `not`.
        if source.startswith(".", end) or source.strip() == word:
            return _remember(MARK * 2 + word, word, names)
        return word
    if word.startswith("__"):
        return _remember(MARK * 2 + word.replace("-", MARK), word, names)
    if "-" in word:
        return _remember(word.replace("-", MARK), word, names)
    return word


def _key(word: str, names: dict[str, str]) -> str:
    if keyword.iskeyword(word):
        return _remember(MARK * 2 + word, word, names)
    return word


def _remember(made: str, written: str, names: dict[str, str]) -> str:
    names[made] = written
    return made
