"""Every timer of a run, in one kind: a ``Deadline`` that fires once or is cancelled.

A run's timers (its ``maxDuration``, a group's, a map's, a loop's or a sub-workflow's
``timeout``, a ``wait`` step's) are all made by one ``Deadlines`` per run, so that a
pause stops every one of them in a single walk and a fired timer knows that it was
the one that fired (Trio's ``CancelScope.cancelled_caught``)::

    deadlines.after(5.0, on_expiry) ─▶ Deadline ─▶ fires once: .fired is True
                                          └─▶ .cancel(): never fires
    deadlines.cancel_all()   (a pause: nothing may fire after the run ended)

A step's own ``timeout`` bounds a coroutine rather than a callback: ``within`` runs a
call under it and tells this deadline expiring from a ``TimeoutError`` the call
raised of its own accord.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


def loop_time() -> float:
    """The running event loop's clock (a test's fake one under looptime), else monotonic."""
    try:
        return asyncio.get_running_loop().time()
    except RuntimeError:
        return time.monotonic()


class Deadline:
    """One timer. ``fired`` says whether it went off; ``cancel()`` is safe at any time."""

    __slots__ = ("_handle", "_owner", "fired")

    def __init__(self, owner: Deadlines) -> None:
        self._owner = owner
        self._handle: asyncio.TimerHandle | None = None
        self.fired = False

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
            self._owner._live.discard(self)

    @property
    def pending(self) -> bool:
        """Set and neither fired nor cancelled."""
        return self._handle is not None


class Deadlines:
    """The live timers of one run (every graph of it shares this)."""

    __slots__ = ("_live",)

    def __init__(self) -> None:
        self._live: set[Deadline] = set()

    def after(self, seconds: float, callback: Callable[..., Any], *args: Any) -> Deadline:
        """A deadline ``seconds`` from now that calls ``callback(*args)`` once."""
        deadline = Deadline(self)

        def fire() -> None:
            deadline._handle = None
            self._live.discard(deadline)
            deadline.fired = True
            callback(*args)

        deadline._handle = asyncio.get_running_loop().call_later(seconds, fire)
        self._live.add(deadline)
        return deadline

    def cancel_all(self) -> None:
        """Stop every pending timer of the run (it is pausing or has ended)."""
        for deadline in list(self._live):
            deadline.cancel()

    def __len__(self) -> int:
        return len(self._live)


class DeadlineExpired(Exception):
    """``within``'s own limit ran out (not a ``TimeoutError`` the call raised)."""

    def __init__(self, limit: float) -> None:
        super().__init__(f"timed out after {limit:g}s")
        self.limit = limit


async def within(limit: float | None, call: Callable[[], Awaitable[T]]) -> T:
    """Await ``call()`` for at most ``limit`` seconds (None: no limit). Raises
    ``DeadlineExpired`` when this limit ran out; a ``TimeoutError`` that the call raised
    itself passes through unchanged, so the caller can tell the two apart."""
    if limit is None:
        return await call()
    try:
        async with asyncio.timeout(limit) as scope:
            return await call()
    except TimeoutError:
        if scope.expired():
            raise DeadlineExpired(limit) from None
        raise
