"""The nodes of an expression, and the scope they are evaluated in."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from plait.errors import ExpressionError


class Scope(Protocol):
    """Names visible to an expression: ``inputs``, step ids, ``run``, ``workflow``, ...

    ``lookup`` raises ``KeyError`` for a name it does not know; inner scopes (a loop
    pass, a map branch) wrap an outer scope and shadow its names.
    """

    def lookup(self, name: str) -> Any: ...


class Namespace:
    """A value that answers ``.key`` lookups without being a dict (a step's record).

    A base class rather than a runtime-checkable Protocol: ``isinstance`` against a
    Protocol costs microseconds, and it runs once per reference.
    """

    __slots__ = ()

    def get_key(self, key: str) -> Any:
        raise KeyError(key)


class Expr(Protocol):
    """A parsed ``${...}``: ``text`` is what the user wrote, without the ``${`` and ``}``."""

    text: str

    def evaluate(self, scope: Scope) -> Any: ...

    def names(self) -> Iterator[tuple[str, tuple[str | int, ...]]]:
        """Each name the expression reads, with the constant keys that follow it.

        Inside ``default(value, fallback)``'s first argument only the first key is
        given: the keys after it may be absent on purpose.
        """
        ...


class Path:
    """``root.key[0]["other key"]``: a name and a path of keys and indexes into data.

    ``.key`` and ``[i]`` look up keys and indexes in the data, never Python attributes.
    A lookup on ``null`` gives ``null`` (a step that did not run has no output); a key
    that is absent from a mapping is an error.
    """

    __slots__ = ("keys", "root", "text")

    def __init__(self, root: str, keys: tuple[str | int, ...], text: str) -> None:
        self.root = root
        self.keys = keys
        self.text = text

    def evaluate(self, scope: Scope) -> Any:
        try:
            value = scope.lookup(self.root)
        except KeyError:
            raise ExpressionError(f"unknown name '{self.root}' in ${{{self.text}}}") from None
        for key in self.keys:
            value = get_key(value, key, self.text)
        return value

    def names(self) -> Iterator[tuple[str, tuple[str | int, ...]]]:
        yield self.root, self.keys

    def __repr__(self) -> str:
        return f"Path({self.text!r})"


def get_key(value: Any, key: str | int, text: str) -> Any:
    """``value[key]`` for data: a mapping key, a list or string index, a ``Namespace`` key.

    ``text`` is the expression, for the message when the key is not there.
    """
    if value is None:
        return None
    if isinstance(value, dict):
        try:
            return value[key]
        except KeyError:
            pass
        if isinstance(key, int) and str(key) in value:
            return value[str(key)]
        raise ExpressionError(f"no key {key!r} in ${{{text}}}") from None
    if isinstance(value, list | tuple | str):
        if isinstance(key, int) or (isinstance(key, str) and key.lstrip("-").isdigit()):
            index = int(key)
            try:
                return value[index]
            except IndexError:
                raise ExpressionError(
                    f"index {index} is out of range (length {len(value)}) in ${{{text}}}"
                ) from None
        what = "a string" if isinstance(value, str) else "a list"
        raise ExpressionError(f"{what} has no key {key!r} in ${{{text}}}")
    if isinstance(value, Namespace) and isinstance(key, str):
        try:
            return value.get_key(key)
        except KeyError:
            raise ExpressionError(f"no key {key!r} in ${{{text}}}") from None
    raise ExpressionError(f"cannot look up {key!r} in a {type(value).__name__} in ${{{text}}}")
