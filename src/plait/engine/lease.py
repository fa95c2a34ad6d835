"""A run's lease: who executes it, and the fence that keeps a second process out.

The lease fences the run twice. Every batch is written only while this process holds
the run's lease (the store checks the owner in the batch's transaction). And no step
starts once the lease may have been lost: the watch loop renews it every third of its
TTL, and each renewal confirmed moves a local deadline (``lease_deadline``) to a sixth
of the TTL before the lease would expire. A step about to call its tool past that
deadline first renews the lease itself (``confirm_lease``); if another process took
it meanwhile, the run stops and the step never starts (issue 19: a process frozen by
SIGSTOP past its lease came back and ran four steps its successor had recorded)::

    A: renewed ─ SIGSTOP ─────────────── SIGCONT: past the deadline → renew: lost → stop
    B:             lease expires ─ resume: takes the lease, runs the steps, finishes
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from abc import ABC, abstractmethod
from typing import Protocol

from plait.compiler.plan import Plan
from plait.errors import RunCancelled, StoreError, WorkflowError
from plait.secrets import Secrets
from plait.store.base import Store

LEASE_TTL = 30.0  # a dead holder's lease expires this long after its last heartbeat
LEASE_TTL_VAR = "PLAIT_LEASE_TTL"


class RunControl(Protocol):
    """What the recorder needs of the run it records (the run's ``Session``)."""

    run_id: str
    plan: Plan
    secrets: Secrets

    def cancel(self, reason: str) -> None: ...
    def fail_store(self, exc: StoreError) -> None: ...


def lease_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def configured_lease_ttl() -> float:
    """Seconds a lease outlives its last renewal: ``$PLAIT_LEASE_TTL``, else 30. A
    shorter one lets another machine take over a dead holder's run sooner (tests use
    a second or two); every renewal is a write, every third of it."""
    given = os.environ.get(LEASE_TTL_VAR)
    if not given:
        return LEASE_TTL
    try:
        value = float(given)
    except ValueError:
        value = float("nan")
    if not 1.0 <= value <= 86_400.0:
        raise WorkflowError(
            f"{LEASE_TTL_VAR} must be a number of seconds from 1 to 86400, not {given!r}"
        )
    return value


class LeaseKeeper(ABC):
    """The lease's half of a ``Recorder``: renewals, the deadline before which a step
    may start without asking the store, the watch for cancel requests."""

    store: Store
    owner: str
    lease_ttl: float
    lease_deadline: float
    poll_interval: float
    _run: RunControl | None
    _renewed_at: float
    _renewal: asyncio.Future[bool] | None
    _lease_lost: bool

    @abstractmethod
    def _on_store_error(self, exc: StoreError) -> None:
        """The store failed: the run stops (the Recorder's)."""

    def _lease_renewed(self, at: float) -> None:
        """The store confirmed the lease, renewed at ``at``: it holds until ``at + TTL``;
        new steps may start until a sixth of the TTL before (a margin for clock skew
        between machines)."""
        self._renewed_at = at
        self.lease_deadline = at + self.lease_ttl * 5 / 6

    async def confirm_lease(self) -> None:
        """Called before a step calls its tool once ``lease_deadline`` has passed: renew
        the lease now (one renewal for every step waiting). If another process took it,
        the run is cancelled and ``RunCancelled`` raised: the step never starts."""
        if not await asyncio.shield(self._renew()):
            raise RunCancelled("the run's lease was lost: another process executes it now")

    def _renew(self) -> asyncio.Future[bool]:
        if self._renewal is None or self._renewal.done():
            self._renewal = asyncio.ensure_future(self._renew_now())
        return self._renewal

    async def _renew_now(self) -> bool:
        run = self._run
        assert run is not None
        if self._lease_lost:
            return False
        sent = time.time()
        try:
            held = await asyncio.to_thread(
                self.store.renew_lease, run.run_id, self.owner, self.lease_ttl, sent
            )
        except StoreError as exc:  # the store fails: the run stops, failed
            self._on_store_error(exc)
            return False
        if held:
            self._lease_renewed(sent)
            return True
        self._lease_lost = True
        self.lease_deadline = 0.0
        run.cancel("lost the run's lease to another process")
        return False

    async def _watch_loop(self) -> None:
        """Keep the lease alive; poll for a cancel request from another process."""
        run = self._run
        assert run is not None
        while True:
            await asyncio.sleep(self.poll_interval)
            due = time.time() - self._renewed_at >= self.lease_ttl / 3
            if due and not await asyncio.shield(self._renew()):
                return  # lost: the run is cancelled
            try:
                if await asyncio.to_thread(self.store.cancel_requested, run.run_id):
                    run.cancel("cancelled from another process (plait cancel)")
            except StoreError as exc:
                self._on_store_error(exc)
                return
