"""The store contract: a narrow, synchronous interface every backend implements.

The engine never calls it on the event loop: writes go through a writer thread in
batches (one transaction each), and reads through ``asyncio.to_thread``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from plait.store.records import EventRecord, RunRecord, StepRecord, Write


class Store(Protocol):
    url: str

    def write(self, batch: Sequence[Write], fence: tuple[str, str] | None = None) -> None:
        """Apply every write in one transaction: all of them, or none. With ``fence``
        (run id, lease owner), only while that owner still holds the run's lease; else
        ``LeaseHeld``, and nothing is written."""
        ...

    def acquire_lease(
        self, run_id: str, owner: str, ttl: float, now: float, steal_from: str | None = None
    ) -> bool:
        """Take the run's lease if it is free, expired, or held by ``steal_from`` (a holder
        known to be dead); True if ``owner`` now holds it. Atomic: of two processes
        racing for one lease, exactly one wins."""
        ...

    def renew_lease(self, run_id: str, owner: str, ttl: float, now: float) -> bool:
        """Extend the lease; False if ``owner`` no longer holds it."""
        ...

    def release_lease(self, run_id: str, owner: str) -> None: ...

    def request_cancel(self, run_id: str) -> None:
        """Ask whoever runs ``run_id`` to cancel it (seen within the poll interval)."""
        ...

    def cancel_requested(self, run_id: str) -> bool: ...

    def get_run(self, run_id: str) -> RunRecord:
        """The run with this id, or the only one whose id starts with it; else
        ``RunNotFound``."""
        ...

    def list_runs(
        self, *, status: str | None = None, workflow: str | None = None, limit: int = 50
    ) -> list[RunRecord]:
        """Newest first."""
        ...

    def get_steps(self, run_id: str) -> list[StepRecord]:
        """Every attempt of every step execution of the run."""
        ...

    def get_events(self, run_id: str, since: int = 0) -> list[EventRecord]:
        """The run's events with a sequence number above ``since``, in order (all of
        them by default): a follower polls with the last one it has seen."""
        ...

    def max_event_seq(self, run_id: str) -> int: ...

    def close(self) -> None: ...
