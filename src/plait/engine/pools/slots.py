"""A pool's slots: a bounded number of them, a bounded queue, limits, statistics.

The engine uses the slot API (``try_acquire`` / ``enqueue`` / ``release``): a queued step
is a callback in a deque, not a task, so 100,000 queued steps cost 100,000 small
entries. A freed slot is handed straight to the next waiter (FIFO, no thundering herd).
Seed 001's task API (``execute`` ...) is built on it, in task_api.py.

A pool may also have (issue 5):

- a rate (a token bucket, engine/ratelimit.py): a slot is granted only with a token,
  and a step short of one waits in the same queue, holding nothing; one timer per
  pool wakes the queue when the next token is due;
- a circuit breaker (engine/breaker.py), checked by ``guarded`` around each call;
- an adaptive limit (engine/adaptive.py): ``guarded`` times each call and the
  controller moves ``max_concurrent``; a raised limit starts queued steps at once, a
  lowered one takes effect as slots come back.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from plait.compiler.reliability import AdaptiveSpec, BreakerSpec
from plait.engine.adaptive import AdaptiveLimit, AdaptiveStats
from plait.engine.breaker import BreakerStats, CircuitBreaker, Ticket
from plait.engine.deadlines import loop_time
from plait.engine.monitor import limit_changed, queue_full
from plait.engine.ratelimit import BucketStats, TokenBucket
from plait.errors import CircuitOpen, PoolFull

T = TypeVar("T")

# A queued waiter: called when a slot is handed to it; returns False if it no longer
# wants the slot (it was cancelled while queued), and the slot goes to the next one.
Starter = Callable[[], bool]
# Whether a queued waiter still wants its slot (a step cancelled while queued does not):
# a full queue drops such entries before it refuses anyone.
Alive = Callable[[], bool]


@dataclass(frozen=True, slots=True)
class PoolStats:
    """``get_stats()``: counters since the pool was made (seed 001's fields, in seconds)."""

    tasks_completed: int
    tasks_failed: int
    tasks_timed_out: int
    total_wait_time: float
    average_wait_time: float
    active_workers: int
    queue_length: int
    max_concurrent: int = 0  # the limit now (an adaptive pool moves it)
    circuit_breaker: BreakerStats | None = None
    rate_limit: BucketStats | None = None
    adaptive: AdaptiveStats | None = None

    def to_dict(self) -> dict[str, Any]:
        """Seed 001's camelCase spelling, wait times in milliseconds (the run document);
        then the limit, and the breaker, rate and adaptive limit of a pool that has them."""
        found: dict[str, Any] = {
            "tasksCompleted": self.tasks_completed,
            "tasksFailed": self.tasks_failed,
            "tasksTimedOut": self.tasks_timed_out,
            "totalWaitTime": round(self.total_wait_time * 1000, 3),
            "averageWaitTime": round(self.average_wait_time * 1000, 3),
            "activeWorkers": self.active_workers,
            "queueLength": self.queue_length,
            "maxConcurrent": self.max_concurrent,
        }
        if self.circuit_breaker is not None:
            found["circuitBreaker"] = self.circuit_breaker.to_dict()
        if self.rate_limit is not None:
            found["rateLimit"] = self.rate_limit.to_dict()
        if self.adaptive is not None:
            found["adaptive"] = self.adaptive.to_dict()
        return found


@dataclass(frozen=True, slots=True)
class PoolStatus:
    """``get_status()``: the pool right now. ``utilization_rate`` is a percentage."""

    active_workers: int
    max_concurrent: int
    queue_length: int
    utilization_rate: float
    circuit_state: str | None = None  # closed, open, half_open; None: no breaker
    rate: float | None = None  # calls started per second; None: no rate limit
    adaptive: bool = False  # max_concurrent moves (maxConcurrent: auto)


class SlotPool:
    """A pool of ``max_concurrent`` slots with an optional bounded queue and timeout;
    optionally a ``rate`` (calls started per second, with ``burst``), a circuit breaker
    and an adaptive limit (``max_concurrent`` is then where it starts). What the engine
    uses; ``WorkerPool`` adds seed 001's task API."""

    def __init__(
        self,
        max_concurrent: int = 10,
        queue_size: int | None = None,
        timeout: float | None = None,
        *,
        name: str = "default",
        rate: float | None = None,
        burst: int = 1,
        circuit_breaker: BreakerSpec | None = None,
        adaptive: AdaptiveSpec | None = None,
        clock: Callable[[], float] = loop_time,
    ) -> None:
        if max_concurrent < 1:
            raise ValueError(f"max_concurrent must be at least 1, not {max_concurrent}")
        if queue_size is not None and queue_size < 0:
            raise ValueError(f"queue_size must be 0 or more, not {queue_size}")
        self.name = name
        self.clock = clock
        self.adaptive = AdaptiveLimit(adaptive) if adaptive is not None else None
        self.max_concurrent = self.adaptive.limit if self.adaptive else max_concurrent
        self.queue_size = queue_size
        self.timeout = timeout
        self.bucket = TokenBucket(rate, burst, clock=clock) if rate is not None else None
        self.breaker = (
            CircuitBreaker(circuit_breaker, name=name, clock=clock)
            if circuit_breaker is not None
            else None
        )
        # Whether calls go through ``guarded`` (a breaker or an adaptive limit to feed).
        self.guards = self.breaker is not None or self.adaptive is not None
        self._timer: asyncio.TimerHandle | None = None  # wakes the queue for a token
        self._active = 0
        self._waiters: deque[tuple[float, Starter, Alive]] = deque()
        self._started = 0
        self._completed = 0
        self._failed = 0
        self._timed_out = 0
        self._wait_total = 0.0
        self.peak_active = 0

    # -- the slot API (the engine's) ------------------------------------------------

    def try_acquire(self) -> bool:
        """Take a slot if one is free (and a token, with a rate), without waiting."""
        if self._active < self.max_concurrent and not self._waiters:
            bucket = self.bucket
            if bucket is not None and not bucket.try_take():
                return False
            self._active += 1
            self._started += 1
            if self._active > self.peak_active:
                self.peak_active = self._active
            return True
        return False

    def enqueue(self, starter: Starter, alive: Alive = lambda: True) -> bool:
        """Queue ``starter`` for the next free slot; False if the queue is full of
        waiters that still want a slot."""
        if self.queue_size is not None and len(self._waiters) >= self.queue_size:
            self._waiters = deque(w for w in self._waiters if w[2]())
            if len(self._waiters) >= self.queue_size:
                return False
        self._waiters.append((time.monotonic(), starter, alive))
        if self.bucket is not None and self._active < self.max_concurrent:
            self._wake_later()  # a slot is free: only a token is missing
        return True

    def release(self) -> None:
        """Free a slot: hand it to the next waiter that still wants it, or give it back."""
        waiters = self._waiters
        if self.bucket is None and self._active <= self.max_concurrent:
            while waiters:
                queued_at, starter, _ = waiters.popleft()
                if starter():
                    self._started += 1
                    self._wait_total += time.monotonic() - queued_at
                    return
            self._active -= 1
            return
        # A rate to respect, or a limit lowered below the slots in use.
        self._active -= 1
        if waiters:
            self._pump()

    def _pump(self, timed: bool = False) -> None:
        """Start queued waiters while there are free slots (and tokens); ``timed``: the
        timer for the next token woke us (the steps started now waited for a token)."""
        if timed:
            self._timer = None
        waiters = self._waiters
        bucket = self.bucket
        while waiters and self._active < self.max_concurrent:
            if bucket is not None and not bucket.ready():
                self._wake_later()
                return
            queued_at, starter, _ = waiters.popleft()
            if starter():
                if bucket is not None:
                    bucket.take()
                    bucket.waited += timed
                self._active += 1
                self._started += 1
                self._wait_total += time.monotonic() - queued_at
                if self._active > self.peak_active:
                    self.peak_active = self._active

    def _wake_later(self) -> None:
        """One timer per pool: pump the queue when the next token is due."""
        if self._timer is None and self.bucket is not None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.bucket.delay(), self._pump, True)

    async def acquire(self) -> None:
        """Wait for a slot. Raises ``PoolFull`` when the queue is full."""
        if self.try_acquire():
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def starter() -> bool:
            if future.done():  # the waiter was cancelled: pass the slot on
                return False
            future.set_result(None)
            return True

        if not self.enqueue(starter, lambda: not future.done()):
            queue_full(self, None)
            raise PoolFull(self._full_message())
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # the slot arrived as we were cancelled
            raise

    def record(self, *, failed: bool = False, timed_out: bool = False) -> None:
        """Count how a task that held a slot ended."""
        if timed_out:
            self._timed_out += 1
        elif failed:
            self._failed += 1
        else:
            self._completed += 1

    async def guarded(
        self,
        call: Callable[[], Awaitable[T]],
        breaker: CircuitBreaker | None = None,
        *,
        step: str | None = None,
    ) -> T:
        """Make one call (in a slot already held) through the pool's circuit breaker and
        ``breaker`` (a tool's): ``CircuitOpen`` if either is open. Its outcome goes to
        both breakers, and its latency to the adaptive limit."""
        tickets: list[tuple[CircuitBreaker, Ticket]] = []
        for each in (self.breaker, breaker):
            if each is None:
                continue
            try:
                tickets.append((each, each.admit(step)))
            except CircuitOpen:
                _settle(tickets, CircuitBreaker.dropped)
                raise
        started = self.clock()
        try:
            result = await call()
        except Exception:
            _settle(tickets, CircuitBreaker.failed)
            self._observe(self.clock() - started, failed=True)
            raise
        except BaseException:  # cancelled: no outcome to count
            _settle(tickets, CircuitBreaker.dropped)
            raise
        _settle(tickets, CircuitBreaker.succeeded)
        self._observe(self.clock() - started, failed=False)
        return result

    def _observe(self, latency: float, *, failed: bool) -> None:
        adaptive = self.adaptive
        if adaptive is None:
            return
        previous = self.max_concurrent
        why = adaptive.observe(latency, failed, busy=self._active >= previous)
        if why is None:
            return
        self.max_concurrent = adaptive.limit
        limit_changed(self, previous, why)
        if self.max_concurrent > previous and self._waiters:
            self._pump()

    def rejects(self) -> bool:
        """Whether the pool's circuit breaker would refuse a call now."""
        return self.breaker is not None and self.breaker.rejects()

    def _full_message(self) -> str:
        return (
            f"pool '{self.name}' is full: {self._active} running and {len(self._waiters)} "
            f"queued (queueSize {self.queue_size}); raise queueSize or maxConcurrent"
        )

    # -- statistics -------------------------------------------------------------------

    @property
    def active(self) -> int:
        return self._active

    @property
    def queue_length(self) -> int:
        """Waiters that still want a slot."""
        return sum(1 for w in self._waiters if w[2]())

    @property
    def capacity(self) -> int:
        """The most slots the pool may ever have at once (an adaptive pool's ``max``)."""
        return self.adaptive.spec.maximum if self.adaptive is not None else self.max_concurrent

    def get_stats(self) -> PoolStats:
        return PoolStats(
            tasks_completed=self._completed,
            tasks_failed=self._failed,
            tasks_timed_out=self._timed_out,
            total_wait_time=self._wait_total,
            average_wait_time=self._wait_total / self._started if self._started else 0.0,
            active_workers=self._active,
            queue_length=self.queue_length,
            max_concurrent=self.max_concurrent,
            circuit_breaker=self.breaker.statistics() if self.breaker is not None else None,
            rate_limit=self.bucket.statistics() if self.bucket is not None else None,
            adaptive=self.adaptive.statistics() if self.adaptive is not None else None,
        )

    def get_status(self) -> PoolStatus:
        return PoolStatus(
            active_workers=self._active,
            max_concurrent=self.max_concurrent,
            queue_length=self.queue_length,
            utilization_rate=round(100.0 * self._active / self.max_concurrent, 2),
            circuit_state=self.breaker.state.value if self.breaker is not None else None,
            rate=self.bucket.rate if self.bucket is not None else None,
            adaptive=self.adaptive is not None,
        )


def _settle(
    tickets: list[tuple[CircuitBreaker, Ticket]], how: Callable[[CircuitBreaker, Ticket], None]
) -> None:
    """Tell each breaker that admitted a call how it ended."""
    for breaker, ticket in tickets:
        how(breaker, ticket)
