"""A store that keeps nothing past the process: tests, benchmarks, embedding."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence

from plait.errors import LeaseHeld, RunNotFound
from plait.store.records import (
    DAMAGED,
    EventRecord,
    RunRecord,
    RunUpdate,
    StepRecord,
    Write,
    checked_run,
    checked_step,
    keep_final,
)


class MemoryStore:
    url = "memory://"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, RunRecord] = {}
        self._steps: dict[str, dict[tuple[str, int], StepRecord]] = {}
        self._events: dict[str, list[EventRecord]] = {}

    def write(self, batch: Sequence[Write], fence: tuple[str, str] | None = None) -> None:
        with self._lock:
            if fence is not None and self._find(fence[0]).lease_owner != fence[1]:
                holder = self._find(fence[0]).lease_owner
                raise LeaseHeld(
                    f"run {fence[0]}: this process no longer holds its lease (held by "
                    f"{holder}); it stops writing"
                )
            for item in batch:
                if isinstance(item, StepRecord):
                    rows = self._steps.setdefault(item.run_id, {})
                    key = (item.node_id, item.attempt)
                    rows[key] = keep_final(rows.get(key), item)
                elif isinstance(item, EventRecord):
                    self._events.setdefault(item.run_id, []).append(item)
                elif isinstance(item, RunUpdate):
                    run = self._runs[item.run_id]
                    self._runs[item.run_id] = dataclasses.replace(run, **item.values)
                else:
                    self._runs[item.id] = item

    def _update(self, run_id: str, **values: object) -> None:
        self._runs[run_id] = dataclasses.replace(self._find(run_id), **values)  # type: ignore[arg-type]

    def _find(self, run_id: str) -> RunRecord:
        run = self._runs.get(run_id)
        if run is None:
            # A prefix finds its only run; an empty one finds none (as in SqlStore).
            matches = [r for r in self._runs.values() if run_id and r.id.startswith(run_id)]
            if len(matches) != 1:
                raise RunNotFound(f"no run {run_id!r} in {self.url}")
            run = matches[0]
        return run

    def acquire_lease(
        self, run_id: str, owner: str, ttl: float, now: float, steal_from: str | None = None
    ) -> bool:
        with self._lock:
            run = self._find(run_id)
            expired = run.lease_expires_at is None or run.lease_expires_at < now
            if run.lease_owner in (None, owner, steal_from) or expired:
                self._update(run_id, lease_owner=owner, lease_expires_at=now + ttl)
                return True
            return False

    def renew_lease(self, run_id: str, owner: str, ttl: float, now: float) -> bool:
        with self._lock:
            if self._find(run_id).lease_owner != owner:
                return False
            self._update(run_id, lease_expires_at=now + ttl)
            return True

    def release_lease(self, run_id: str, owner: str) -> None:
        with self._lock:
            if self._find(run_id).lease_owner == owner:
                self._update(run_id, lease_owner=None, lease_expires_at=None)

    def request_cancel(self, run_id: str) -> None:
        with self._lock:
            self._update(run_id, cancel_requested=True)

    def cancel_requested(self, run_id: str) -> bool:
        with self._lock:
            return self._find(run_id).cancel_requested

    def get_run(self, run_id: str) -> RunRecord:
        with self._lock:
            found = self._find(run_id)
        return checked_run(found)

    def list_runs(
        self, *, status: str | None = None, workflow: str | None = None, limit: int = 50
    ) -> list[RunRecord]:
        with self._lock:
            found = [
                checked_run(r)
                for r in self._runs.values()
                if (status in (None, DAMAGED) or r.status == status)
                and (workflow is None or r.workflow == workflow)
            ]
        if status == DAMAGED:
            found = [r for r in found if r.status == DAMAGED]
        found.sort(key=lambda r: (r.created_at or "", r.id), reverse=True)
        return found[: max(0, limit)]

    def get_steps(self, run_id: str) -> list[StepRecord]:
        with self._lock:
            steps = list(self._steps.get(run_id, {}).values())
        checked = [checked_step(step) for step in steps]
        return sorted(checked, key=lambda s: (s.started_at or "", s.node_id, s.attempt))

    def get_events(self, run_id: str, since: int = 0) -> list[EventRecord]:
        with self._lock:
            found = [e for e in self._events.get(run_id, []) if e.seq > since]
        return sorted(found, key=lambda e: e.seq)

    def max_event_seq(self, run_id: str) -> int:
        with self._lock:
            return max((e.seq for e in self._events.get(run_id, [])), default=0)

    def close(self) -> None:
        pass
