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
        + StepTimedOut         a step ran past its timeout
        + PoolFull             a pool's queue was full; the step was rejected
        + CircuitOpen          a circuit breaker is open; the tool was not called
        + RunCancelled         the run was cancelled
        + RunTimedOut          the run ran past ``maxDuration``
      x StoreError             the store cannot be opened, read or written (exit status 2)
        + RunNotFound          no run with that id
        + LeaseHeld            another live process is executing the run

Messages name the file, the step and the key where there is one, and say the fix
where one is known (see ``Problem.render``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a workflow definition, and where it is."""

    message: str
    file: str | None = None
    step: str | None = None
    key: str | None = None

    def render(self) -> str:
        where = [self.file or "<workflow>"]
        if self.step is not None:
            where.append(f"step '{_short(self.step)}'")
        if self.key is not None:
            where.append(f"key '{_short(self.key)}'")
        return f"{': '.join(where)}: {_short(self.message, 1000)}"


def _short(text: str, limit: int = 200) -> str:
    """A one-line message stays readable when a file names a megabyte-long key or id:
    the middle of anything longer than ``limit`` is cut, saying how much."""
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


class RunError(PlaitError):
    """A run did not succeed. ``type`` is the error type users match on (``retryOn``)."""

    exit_code = 1
    type: str = "RunError"

    def __init__(self, message: str, *, step: str | None = None, type: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.step = step
        if type is not None:
            self.type = type

    @property
    def plain(self) -> str:
        return self.message or self.type

    @property
    def type_name(self) -> str:
        return self.type

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "message": self.message, "step": self.step}

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep the fields when the error crosses a process boundary.
        return (_rebuild_run_error, (type(self), self.message, self.step, self.type))


def plain(exc: BaseException) -> str:
    """Any error's own words: a plait error's ``plain``, else its text or its class name."""
    if isinstance(exc, PlaitError):
        return exc.plain
    return str(exc) or type(exc).__name__


def type_name(exc: BaseException) -> str:
    """Any error's type as a step records it: a plait error's ``type_name``, else its
    class name (``ValueError``)."""
    return exc.type_name if isinstance(exc, PlaitError) else type(exc).__name__


def _rebuild_run_error(cls: type[RunError], message: str, step: str | None, type_: str) -> RunError:
    return cls(message, step=step, type=type_)


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


class RunCancelled(RunError):
    """The run was cancelled."""

    type = "Cancelled"


class RunTimedOut(RunError):
    """The run ran past its ``maxDuration``."""

    type = "RunTimedOut"


class ToolError(StepFailed):
    """Raised by tools (``fail``, user tools) to fail a step with a chosen error type."""

    def __init__(self, message: str, *, type: str = "ToolError", step: str | None = None) -> None:
        super().__init__(message, step=step, type=type)


class StoreError(PlaitError):
    """The store cannot be opened, read or written; nothing recorded was changed."""

    exit_code = 2


class RunNotFound(StoreError):
    """No run with that id in the store."""


class LeaseHeld(StoreError):
    """Another live process holds the run's lease: it is executing the run now."""
