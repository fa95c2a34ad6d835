"""Every error plait raises, in one hierarchy.

::

    * PlaitError
      x WorkflowError          invalid definition or command line (exit status 2)
        + LoadError            the file cannot be read or parsed
        + ValidationError      the definition is wrong; carries every Problem found
        + CycleError           dependencies form a cycle; carries the path
        + InputError           run inputs do not match the declared inputs
        + ExpressionError      a ``${...}`` cannot be parsed or evaluated
        + UnknownToolError     a tool name nobody registered
      x RunError               something went wrong while running (exit status 1)
        + StepFailed           a step's tool raised; carries type, message, step
          + StepError          raised by a tool to fail its step: type, status, details
            + ToolError        StepError's former name (its default type stays ToolError)
        + StepTimedOut         a step ran past its timeout
        + PoolFull             a pool's queue was full; the step was rejected
        + CircuitOpen          a circuit breaker is open; the tool was not called
        + OutputTooLarge       a step's output is over ``limits.maxOutputSize``
        + RunTooLarge          a run's outputs add up past ``limits.maxRunSize``
        + RunCancelled         the run was cancelled
        + RunTimedOut          the run ran past ``maxDuration``
      x StoreError             the store cannot be opened, read or written (exit status 2)
        + RunNotFound          no run with that id
        + LeaseHeld            another live process is executing the run

Messages name the file, the step and the key where there is one, and say the fix
where one is known (see ``Problem.render``).

A step's error is data: ``{type, message, step, status, details, cause, traceback}``
(``RunError.to_dict``: every key always there, null when empty). Whatever a step's
code raises becomes a step error in one place, ``step_error_from``: with its traceback
(plait's own frames left out), its cause, and the names of its classes, which
``retryOn`` matches (``RunError.types``). A run's result, its document and the store
give an error back as an ``ErrorInfo``.
"""

from __future__ import annotations

import difflib
import json
import os
import traceback as _tb
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from typing import Any

from plait import secrets


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a workflow definition, and where it is."""

    message: str
    file: str | None = None
    step: str | None = None
    key: str | None = None
    # where in the file (from 1): the offending key, item or character, when known
    line: int | None = None
    column: int | None = None

    def render(self) -> str:
        """One line: ``FILE:LINE:COLUMN: step 'x': key 'y': message`` (what is unknown
        left out; a workflow built in Python is ``<workflow>``)."""
        place = self.file or "<workflow>"
        if self.file is not None and self.line is not None:
            place += f":{self.line}" + (f":{self.column}" if self.column is not None else "")
        where = [place]
        if self.step is not None:
            where.append(f"step '{_short(self.step)}'")
        if self.key is not None:
            where.append(f"key '{_short(self.key)}'")
        return f"{': '.join(where)}: {_short(self.message, 1000)}"


def did_you_mean(name: object, choices: Iterable[str]) -> str:
    """``"; did you mean 'duration'?"`` for the closest of ``choices`` to a misspelt
    ``name`` (stdlib ``difflib``), or ``""`` when none is close."""
    if not isinstance(name, str) or not name:
        return ""
    close = difflib.get_close_matches(name, sorted(set(choices)), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close and close[0] != name else ""


def _short(text: str, limit: int = 200) -> str:
    """A one-line message stays readable when a file names a megabyte-long key or id:
    the middle of anything longer than ``limit`` is cut, saying how much. The secrets
    of the runs in progress are masked first: a cut inside one would keep a part that
    no later mask recognises."""
    if len(text) <= limit:
        return text
    text = secrets.active().text(text)
    if len(text) <= limit:
        return text
    keep = limit // 2
    return f"{text[:keep]}…[{len(text) - 2 * keep:,} characters]…{text[-keep:]}"


class PlaitError(Exception):
    """The base of every error plait raises on purpose.

    ``plain`` is the error's own words, and ``type_name`` the type users match on: what
    a step's error records when a plait error ends it (``f"output: {exc.plain}"``, never
    ``str(exc)``, which would bring a ``WorkflowError``'s ``<workflow>:`` location)."""

    @property
    def plain(self) -> str:
        """The error's own words, without a location."""
        return str(self) or type(self).__name__

    @property
    def type_name(self) -> str:
        """The error type a step records (``retryOn``, ``${error.type}``)."""
        return type(self).__name__


class WorkflowError(PlaitError):
    """The definition, its inputs or the command line is invalid; nothing was run."""

    exit_code = 2

    def __init__(self, problems: list[Problem] | Problem | str) -> None:
        if isinstance(problems, str):
            problems = [Problem(problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(p.render() for p in self.problems))

    def relocate(self, problems: list[Problem]) -> None:
        """Replace the problems with the same ones told where they are (line, column)."""
        self.problems = list(problems)
        self.args = ("\n".join(p.render() for p in self.problems),)

    @property
    def plain(self) -> str:
        """The problems' messages, without their file, step and key."""
        return "; ".join(p.message for p in self.problems) or type(self).__name__


class LoadError(WorkflowError):
    """The workflow file cannot be read or parsed."""


class ValidationError(WorkflowError):
    """The workflow definition is invalid; ``problems`` lists every problem found."""


class CycleError(ValidationError):
    """Dependencies form a cycle; ``cycle`` is the path, first node repeated at the end."""

    def __init__(self, cycle: list[str], file: str | None = None) -> None:
        self.cycle = cycle
        super().__init__(
            Problem(
                f"dependency cycle: {' -> '.join(cycle)}",
                file=file,
                step=cycle[0],
                key="dependsOn",
            )
        )


class InputError(WorkflowError):
    """Run inputs do not match the inputs the workflow declares."""


class ExpressionError(WorkflowError):
    """A ``${...}`` expression cannot be parsed or evaluated."""


class UnknownToolError(WorkflowError):
    """A step names a tool that is not registered."""


class _Unset(Enum):
    """``traceback`` and ``cause`` not given: read them from the exception once raised."""

    FROM_RAISE = 0


_FROM_RAISE = _Unset.FROM_RAISE
ERROR_KEYS = ("type", "message", "step", "status", "details", "cause", "traceback")


class RunError(PlaitError):
    """A run did not succeed. ``type`` is the error type users match on (``retryOn``).

    ``status`` (an HTTP-like status), ``details`` (a JSON mapping: an exit code, a SQL
    state, a stderr tail), ``traceback`` (the step's own frames, as text) and ``cause``
    (``{type, message}`` of the exception it was raised from) are None when unknown.
    Not given, ``traceback`` and ``cause`` are read from the error itself once it has
    been raised (a ``StepError`` raised by a user's tool). ``types`` are the names
    ``retryOn`` matches, ``type`` first (``step_error_from`` adds the exception's base
    classes)."""

    exit_code = 1
    type: str = "RunError"

    def __init__(
        self,
        message: str,
        *,
        step: str | None = None,
        type: str | None = None,
        status: int | None = None,
        details: Mapping[str, Any] | None = None,
        traceback: str | _Unset | None = _FROM_RAISE,
        cause: Mapping[str, Any] | _Unset | None = _FROM_RAISE,
        types: tuple[str, ...] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.step = step
        if type is not None:
            self.type = type
        self.status = status
        self.details = _json_mapping(details)
        self._traceback = traceback
        self._cause = cause if isinstance(cause, _Unset) or cause is None else dict(cause)
        self._types = types

    @property
    def types(self) -> tuple[str, ...]:
        """The names ``retryOn`` matches: ``type``, then what it is a kind of."""
        return self._types or (self.type,)

    @property
    def traceback(self) -> str | None:
        if isinstance(self._traceback, _Unset):
            if self.__traceback__ is None:
                return None  # not raised (yet)
            self._traceback = user_traceback(self)
        return self._traceback

    @property
    def cause(self) -> dict[str, Any] | None:
        if isinstance(self._cause, _Unset):
            if self.__traceback__ is None:
                return None
            self._cause = _cause_of(self)
        return self._cause

    @property
    def plain(self) -> str:
        return self.message or self.type

    @property
    def type_name(self) -> str:
        return self.type

    def to_dict(self) -> dict[str, Any]:
        """The error as JSON data: every key of ``ERROR_KEYS``, None when empty."""
        return {
            "type": self.type,
            "message": self.message,
            "step": self.step,
            "status": self.status,
            "details": self.details,
            "cause": self.cause,
            "traceback": self.traceback,
        }

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep every field when the error crosses a process boundary (the process
        # executor pickles it in the worker, where its traceback still is).
        fields = (self.message, self.step, self.type, self.status, self.details)
        return (_rebuild_run_error, (type(self), *fields, self.traceback, self.cause, self.types))


def _rebuild_run_error(
    cls: type[RunError],
    message: str,
    step: str | None,
    type_: str,
    status: int | None = None,
    details: dict[str, Any] | None = None,
    traceback: str | None = None,
    cause: dict[str, Any] | None = None,
    types: tuple[str, ...] | None = None,
) -> RunError:
    # Not cls(...): a subclass's __init__ may take other arguments (StepError's title).
    error = cls.__new__(cls)
    RunError.__init__(
        error,
        message,
        step=step,
        type=type_,
        status=status,
        details=details,
        traceback=traceback,
        cause=cause,
        types=types,
    )
    return error


@dataclass(frozen=True, slots=True, eq=False)
class ErrorInfo(Mapping[str, Any]):
    """One error as a run's result gives it (``StepResult.error``, ``RunResult.error``),
    the same whether the run just ended or was read back from the store.

    Read it by attribute (``error.traceback``) or, as a mapping of ``ERROR_KEYS``, by
    key (``error["type"]``): it compares equal to its ``to_dict()``, which is what the
    run document and the store hold."""

    type: str
    message: str
    step: str | None = None
    status: int | None = None
    details: dict[str, Any] | None = None
    cause: dict[str, Any] | None = None
    traceback: str | None = None

    @classmethod
    def of(cls, error: RunError) -> ErrorInfo:
        return cls(
            error.type,
            error.message,
            error.step,
            error.status,
            error.details,
            error.cause,
            error.traceback,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ErrorInfo:
        """From JSON data; keys an older plait did not record read None."""
        return cls(
            str(data.get("type", "RunError")),
            str(data.get("message", "")),
            data.get("step"),
            data.get("status"),
            data.get("details"),
            data.get("cause"),
            data.get("traceback"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in ERROR_KEYS}

    def __getitem__(self, key: str) -> Any:
        if key not in ERROR_KEYS:
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(ERROR_KEYS)

    def __len__(self) -> int:
        return len(ERROR_KEYS)


def plain(exc: BaseException) -> str:
    """Any error's own words: a plait error's ``plain``, else its text or its class name."""
    if isinstance(exc, PlaitError):
        return exc.plain
    return str(exc) or type(exc).__name__


def type_name(exc: BaseException) -> str:
    """Any error's type as a step records it: a plait error's ``type_name``, else its
    class name (``ValueError``)."""
    return exc.type_name if isinstance(exc, PlaitError) else type(exc).__name__


class StepFailed(RunError):
    """A step's tool raised; ``type`` is the tool's error type (e.g. ``ValueError``)."""

    type = "StepFailed"


class StepTimedOut(RunError):
    """A step, its group or its run ran out of time while the step was running."""

    type = "TimeoutError"


class PoolFull(RunError):
    """A pool's queue was full, so the step was rejected rather than left waiting."""

    type = "PoolFull"


class CircuitOpen(RunError):
    """A circuit breaker of the step's pool or tool is open: the call was not made."""

    type = "CircuitOpen"


class OutputTooLarge(RunError):
    """A step's output is larger than the run's ``maxOutputSize`` (as JSON): the step
    failed and its output was dropped."""

    type = "OutputTooLarge"


class RunTooLarge(RunError):
    """The step outputs of a run add up past its ``maxRunSize``: the run failed."""

    type = "RunTooLarge"


class RunCancelled(RunError):
    """The run was cancelled."""

    type = "Cancelled"


class RunTimedOut(RunError):
    """The run ran past its ``maxDuration``."""

    type = "RunTimedOut"


class StepError(StepFailed):
    """Raise it from a tool to fail the step with a chosen ``type``, ``status`` and
    ``details``: the fields of an RFC 7807 problem, ``title`` being the message.

    ``type`` defaults to the class's name: ``class RateLimited(plait.StepError)`` fails
    with type ``RateLimited``, and ``retryOn: [RateLimited]`` also matches its
    subclasses. An ``onError`` handler reads ``${error.type}``, ``${error.status}`` and
    ``${error.details.KEY}``. ``details`` is JSON data (what is not becomes its repr).
    """

    type = "StepError"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "type" not in cls.__dict__:
            cls.type = cls.__name__

    def __init__(
        self,
        title: str | None = None,
        *,
        type: str | None = None,
        status: int | None = None,
        details: Mapping[str, Any] | None = None,
        step: str | None = None,
    ) -> None:
        kind = type or self.type
        names = [kind]
        for cls in self.__class__.__mro__:
            if cls is StepError:
                break
            if cls.__name__ not in names:
                names.append(cls.__name__)
        super().__init__(
            title or kind, step=step, type=kind, status=status, details=details, types=tuple(names)
        )

    @property
    def title(self) -> str:
        return self.message


class ToolError(StepError):
    """StepError's former name, kept so that code raising it goes on working. Its
    default type stays ``ToolError``, so the ``retryOn`` lists written for it still
    match; new code raises ``StepError``."""


class StoreError(PlaitError):
    """The store cannot be opened, read or written; nothing recorded was changed."""

    exit_code = 2


class RunNotFound(StoreError):
    """No run with that id in the store."""


class LeaseHeld(StoreError):
    """Another live process holds the run's lease: it is executing the run now."""


# -- an exception raised by a step's code, as a step error ------------------------------


def step_error_from(exc: BaseException, step: str | None = None) -> RunError:
    """The step error for whatever a step's code raised: a ``RunError`` as it is (given
    ``step`` if it has none); anything else as a ``StepFailed`` whose type is the
    exception's class name, with its traceback (plait's frames dropped), its cause, and
    the names of its classes for ``retryOn`` (``OSError`` covers ``ConnectionResetError``).
    """
    if isinstance(exc, RunError):
        if exc.step is None:
            exc.step = step
        return exc
    kind = exc.__class__
    return StepFailed(
        _own_words(exc),
        step=step,
        type=kind.__name__,
        types=tuple(c.__name__ for c in kind.__mro__ if c is not object),
        traceback=user_traceback(exc),
        cause=_cause_of(exc),
    )


def _own_words(exc: BaseException) -> str:
    """An exception's message (a ``WorkflowError``'s without its location prefix)."""
    if isinstance(exc, WorkflowError):
        return "; ".join(problem.message for problem in exc.problems)
    if isinstance(exc, RunError):
        return exc.message
    return str(exc) or exc.__class__.__name__


def _cause_of(exc: BaseException) -> dict[str, Any] | None:
    """``{type, message}`` of the exception ``exc`` was raised from, or None."""
    cause = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    if cause is None:
        return None
    kind = cause.type if isinstance(cause, RunError) else cause.__class__.__name__
    return {"type": kind, "message": _own_words(cause)}


MAX_FRAMES = 50  # frames kept of a traceback (the innermost): a deep recursion stays short
_PLAIT_DIR = os.path.dirname(os.path.realpath(__file__)) + os.sep
_STDLIB_DIR = os.path.dirname(os.path.realpath(os.__file__)) + os.sep
# What runs a step's function for plait: the thread pool's and the event loop's frames.
_PLUMBING = tuple(_STDLIB_DIR + name for name in ("concurrent" + os.sep, "asyncio" + os.sep))
_PLUMBING += (_STDLIB_DIR + "threading.py",)


def user_traceback(exc: BaseException) -> str | None:
    """``exc``'s traceback as Python prints it, with plait's own frames (and the thread
    pool's frames that called the step's function) left out: the user's file, line and
    function remain. None if nothing remains of a ``PlaitError``; any other exception
    raised in plait's own code alone is a bug in plait, so its frames are kept."""
    frames = list(_tb.walk_tb(exc.__traceback__))
    kept = [(f, n) for f, n in frames if not _is_plait(f.f_code.co_filename)]
    while kept and _is_plumbing(kept[0][0].f_code.co_filename):
        del kept[0]
    if not kept:
        if isinstance(exc, PlaitError) or not frames:
            return None
        kept = frames
    omitted = max(0, len(kept) - MAX_FRAMES)
    lines = ["Traceback (most recent call last):\n"]
    if omitted:
        lines.append(f"  [{omitted} outer frames left out]\n")
    lines += _tb.StackSummary.extract(iter(kept[omitted:])).format()
    lines += _tb.format_exception_only(exc)
    return "".join(lines).rstrip("\n")


@lru_cache(maxsize=1024)
def _is_plait(filename: str) -> bool:
    return os.path.realpath(filename).startswith(_PLAIT_DIR)


@lru_cache(maxsize=1024)
def _is_plumbing(filename: str) -> bool:
    return os.path.realpath(filename).startswith(_PLUMBING)


def _json_mapping(details: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``details`` as JSON data (a value JSON cannot hold becomes its repr), or None."""
    if not details:
        return None
    try:
        data = json.loads(json.dumps(dict(details), default=repr))
    except (TypeError, ValueError, RecursionError):
        return {"repr": repr(details)}
    return data if isinstance(data, dict) else None
