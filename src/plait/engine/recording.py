"""Recording a run in a store without ever blocking the event loop.

Transitions become records on the loop (cheap: a JSON dump and a queue put) and the
writer thread (``engine/writer.py``) commits them in batches:

    loop:   step ends ──put──▶ [queue] ──▶ writer thread: commit batch
    loop:   ◀──call_soon_threadsafe── "durable": release the step's dependents

A step's success is released to its dependents only once it is on disk, so what a
dependent consumed is what a resume will reuse. Failures and skips need no wait.
Every failed attempt keeps its own row, with its error (traceback included).

The lease and its fence are ``engine/lease.py``'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any

from plait.engine.lease import LeaseKeeper, RunControl, configured_lease_ttl, lease_owner
from plait.engine.result import RunResult, iso
from plait.engine.state import StepState
from plait.engine.writer import BatchWriter, Callback
from plait.errors import LeaseHeld, RunError, StoreError
from plait.secrets import NO_SECRETS, Secrets
from plait.status import StepStatus
from plait.store.base import Store
from plait.store.records import (
    EventRecord,
    RunRecord,
    RunUpdate,
    StepRecord,
    dumps,
)

# `dumps` is the store's JSON text helper (store/records.py), here for the engine.
__all__ = ["Recorder", "Restored", "RunControl", "dumps"]

START_DELAY = 0.05  # a step still running this long after it started gets its `running` row
POLL_INTERVAL = 0.25  # how often a run looks for a cancel request from another process


# The step_ended event's payload: one text per (status, attempt) shared by every event
# that says it, not one per step (86 bytes each, a million times over in memory://).
_ENDED: dict[tuple[str, int], str] = {}


def _ended_payload(status: str, attempt: int) -> str:
    text = _ENDED.get((status, attempt))
    if text is None:
        text = f'{{"status": "{status}", "attempt": {attempt}}}'
        if attempt <= 100:
            _ENDED[status, attempt] = text
    return text


@dataclass(frozen=True, slots=True)
class Restored:
    """A step that succeeded in an earlier process, as its record says."""

    output: Any
    attempts: int
    started_at: float | None
    finished_at: float | None
    winner: str | None = None


class Recorder(LeaseKeeper):
    """Everything one run writes: its row, its step executions, its events, its lease.

    ``record`` is a new run's row (written before the first step starts); for a resumed
    run it is None, ``owner`` already holds the lease, and ``seq`` is the last event's.
    """

    def __init__(
        self,
        store: Store,
        *,
        record: RunRecord | None = None,
        seq: int = 0,
        owner: str | None = None,
        lease_ttl: float | None = None,
        poll_interval: float = POLL_INTERVAL,
    ) -> None:
        self.store = store
        self.record = record
        self.owner = (
            owner or (record.lease_owner if record is not None else None) or (lease_owner())
        )
        self.lease_ttl = lease_ttl if lease_ttl is not None else configured_lease_ttl()
        # When no new step may start without confirming the lease first (time.time(),
        # the clock the stored expiry is on); set when the run begins.
        self.lease_deadline = 0.0
        self._renewed_at = 0.0
        self._renewal: asyncio.Future[bool] | None = None
        self._lease_lost = False
        self.poll_interval = poll_interval
        self._writer: BatchWriter | None = None
        self._seq = seq
        # Each running step's input and start, so the row that ends it still carries them.
        self._open: dict[StepState, tuple[str | None, str | None]] = {}
        # Steps started but whose `running` row is not written yet (see step_started).
        self._unwritten: dict[StepState, StepState] = {}
        self._start_timer: asyncio.TimerHandle | None = None
        self._run: RunControl | None = None
        self._watch: asyncio.Task[None] | None = None
        self.error: StoreError | None = None
        # What the run read from ${env.NAME}: masked out of every text written.
        self._secrets = NO_SECRETS

    # -- the run's life -------------------------------------------------------------

    async def begin(self, run: RunControl) -> None:
        """Start recording: write a new run's row, or mark a resumed one running."""
        self._run = run
        self._secrets = run.secrets
        loop = asyncio.get_running_loop()
        # Every batch is written only while this process holds the run's lease: a
        # process that stalled past its lease and lost it cannot write over the new one.
        fence = (run.run_id, self.owner)
        if self.record is not None:
            now = time.time()
            if self.record.lease_expires_at is not None:  # as new_run took it
                now = self.record.lease_expires_at - self.lease_ttl
            await asyncio.to_thread(self.store.write, [self.record])
        else:
            now = time.time()
            update = RunUpdate(
                run.run_id,
                {
                    "status": "running",
                    "finished_at": None,
                    "cancel_requested": False,
                    "updated_at": iso(now),
                    "lease_expires_at": now + self.lease_ttl,
                },
            )
            try:
                await asyncio.to_thread(self.store.write, [update], fence)
            except StoreError:
                with contextlib.suppress(StoreError):  # let whoever comes next take it
                    await asyncio.to_thread(self.store.release_lease, run.run_id, self.owner)
                raise
        self._lease_renewed(now)
        self._writer = BatchWriter(self.store, loop, self._on_store_error, fence)
        self.event("run_started" if self.record is not None else "run_resumed")
        self._watch = asyncio.create_task(self._watch_loop())

    async def finish(self, result: RunResult) -> None:
        """Record the run's end, wait until everything is on disk, give the lease back.
        Raises ``StoreError`` if anything could not be written."""
        assert self._writer is not None
        assert self._run is not None
        if self._watch is not None:
            self._watch.cancel()
            await asyncio.gather(self._watch, return_exceptions=True)
        if self._renewal is not None:  # never renew the lease after giving it back
            await asyncio.gather(self._renewal, return_exceptions=True)
        if self._start_timer is not None:
            self._start_timer.cancel()
            self._start_timer = None
        run_id = self._run.run_id
        self.event("run_finished", payload={"status": result.status.value})
        error = result.error
        values = {
            "status": result.status.value,
            "outputs": self._secrets.json_text(_loose(result.outputs)),
            "error": None if error is None else self._secrets.json_text(dumps(error.to_dict())),
            "stats": dumps(result.stats),
            "started_at": iso(result.started_at),
            "finished_at": iso(result.finished_at),
            "updated_at": iso(time.time()),
            "lease_owner": None,
            "lease_expires_at": None,
        }
        self._writer.put(RunUpdate(self._run.run_id, values))
        await self._writer.close()
        failed = self._writer.failed
        if failed is not None:  # the run's end was not written
            self.error = (
                failed
                if isinstance(failed, LeaseHeld)
                else await _record_failed(self.store, self._run, self.owner, self._secrets, failed)
            )
        elif self.error is not None and not isinstance(self.error, LeaseHeld):
            # A read or a renewal failed, and stopped the run; its end is written.
            status = result.status.value
            self.error = type(self.error)(f"{self.error.plain}; run {run_id} is recorded {status}")
        if self.error is not None:
            raise self.error

    def _on_store_error(self, exc: StoreError) -> None:
        if self.error is None:
            self.error = exc
        if self._run is not None:
            self._run.fail_store(exc)

    # -- transitions ------------------------------------------------------------------

    def event(self, kind: str, node_id: str | None = None, payload: Any = None) -> None:
        self._event_text(kind, node_id, None if payload is None else dumps(payload))

    def _event_text(self, kind: str, node_id: str | None, payload: str | None) -> None:
        assert self._writer is not None
        assert self._run is not None
        self._seq += 1
        now = iso(time.time()) or ""
        if self._secrets:
            payload = self._secrets.json_text(payload)
        self._writer.put(EventRecord(self._run.run_id, self._seq, now, kind, node_id, payload))

    def update_run(self, values: dict[str, Any]) -> None:
        """Set columns of the run's row (an observer's: the run's ``trace_id``)."""
        assert self._writer is not None
        assert self._run is not None
        self._writer.put(RunUpdate(self._run.run_id, values))

    def step_started(self, st: StepState, value: Any) -> None:
        """A ``running`` row, and its ``step_running`` event, are written only for a
        step still running ``START_DELAY`` later: most short steps end first, and their
        one row (and ``step_ended`` event) says it all."""
        self._open[st] = (_loose(value), iso(st.started_at))
        self._unwritten[st] = st
        if self._start_timer is None:
            loop = asyncio.get_running_loop()
            self._start_timer = loop.call_later(START_DELAY, self._write_starts)

    def _write_starts(self) -> None:
        self._start_timer = None
        assert self._writer is not None
        for st in self._unwritten:
            if st.status is StepStatus.RUNNING and not st.done:
                text, started = self._open.get(st, (None, None))
                record = _step_row(
                    self._run, self._secrets, st, st.status.value, input=text, started=started
                )
                self._writer.put(record)
                # Queued right after the row: a follower (plait runs events --follow)
                # sees the start once the store has it.
                self._event_text("step_running", st.node_id, f'{{"attempt": {st.attempts}}}')
        self._unwritten.clear()

    def step_waiting(self, st: StepState, signal: str) -> None:
        """A ``wait`` node began waiting: its ``running`` row names the signal at once
        (the run may pause right after), so a resume knows what the run waits for."""
        assert self._writer is not None
        started = iso(st.started_at)
        self._open[st] = (None, started)
        detail = dumps({"waiting_for": signal})
        self._writer.put(
            _step_row(self._run, self._secrets, st, st.status.value, detail=detail, started=started)
        )
        self.event("step_waiting", st.node_id, {"signal": signal})

    def attempt_failed(self, st: StepState, error: RunError, logs: str | None = None) -> None:
        assert self._writer is not None
        self._unwritten.pop(st, None)
        text, started = self._open.get(st, (None, iso(st.started_at)))
        finished = iso(time.time())
        failed = StepStatus.FAILED.value
        error_json = dumps(error.to_dict())
        record = _step_row(
            self._run,
            self._secrets,
            st,
            failed,
            input=text,
            error=error_json,
            started=started,
            finished=finished,
            logs=logs,
        )
        self._writer.put(record)
        # The event says why; the attempt's row holds the whole error (its traceback).
        why = {"attempt": st.attempts, "type": error.type, "message": error.message}
        self.event("step_retrying", st.node_id, why)

    def step_ended(self, st: StepState, output_json: str | None, durable: Callback | None) -> None:
        assert self._writer is not None
        assert self._run is not None
        self._unwritten.pop(st, None)
        text, started = self._open.pop(st, (None, iso(st.started_at)))
        finished = iso(st.finished_at) or ""
        status = st.status.value
        error = None if st.error is None else dumps(st.error.to_dict())
        detail = None if st.winner is None else dumps({"winner": st.winner})
        self._seq += 1
        payload = _ended_payload(status, st.attempts)
        if detail is not None:  # a group's or a map's decision: which member won
            payload = f'{payload[:-1]}, "winner": {dumps(st.winner)}}}'
        put = self._writer.put
        put(EventRecord(self._run.run_id, self._seq, finished, "step_ended", st.node_id, payload))
        logs = st.logs if type(st.logs) is str else None
        record = _step_row(
            self._run,
            self._secrets,
            st,
            status,
            input=text,
            output=output_json,
            error=error,
            detail=detail,
            started=started,
            finished=finished,
            logs=logs,
        )
        put(record, durable)


def _step_row(
    run: RunControl | None,
    secrets: Secrets,
    st: StepState,
    status: str,
    *,
    input: str | None = None,
    output: str | None = None,
    error: str | None = None,
    detail: str | None = None,
    started: str | None = None,
    finished: str | None = None,
    logs: str | None = None,
) -> StepRecord:
    """One step execution's row: the texts given, and where the node sits (its group,
    or the map branch / loop pass it ran in), with the run's secrets masked out."""
    assert run is not None
    masks = None
    if secrets:
        mask = secrets.json_text
        input, error, detail = mask(input), mask(error), mask(detail)
        # (logs were masked before they were cut: engine/steplogs.py)
        # Where the output's secrets stood, so a resume can put them back.
        output, masks = secrets.json_masked(output)
    node = st.node
    frame = st.frame
    parent_id = join = None
    if node.group is not None:
        group = (run.plan if frame is None else frame.plan).nodes[node.group]
        parent_id = group.id if frame is None else frame.node_id(group.id)
        join = group.strategy.value
    elif frame is not None:
        parent_id, join = frame.parent_id, frame.join
    return StepRecord(
        run.run_id,
        st.node_id,
        st.attempts,
        node.id,
        status,
        parent_id,
        None,
        None if frame is None else frame.branch,
        None if frame is None else frame.iteration,
        join,
        input,
        output,
        error,
        st.reason,
        detail,
        started,
        finished,
        masks,
        logs,
    )


def _loose(value: Any) -> str | None:
    """A step's input or a run's outputs, for the record: None stays NULL."""
    return None if value is None else dumps(value, loose=True)


async def _record_failed(
    store: Store, run: RunControl, owner: str, secrets: Secrets, error: StoreError
) -> StoreError:
    """The store refused a write mid-run: record the run ``failed`` if the store
    still takes that one small write, so it is never left ``running`` until its
    lease expires; the error says which it was."""
    now = iso(time.time())
    failure = RunError(error.plain, type="StoreError").to_dict()
    update = RunUpdate(
        run.run_id,
        {
            "status": "failed",
            "error": secrets.json_text(dumps(failure)),
            "finished_at": now,
            "updated_at": now,
            "lease_owner": None,
            "lease_expires_at": None,
        },
    )
    fence = (run.run_id, owner)
    try:
        await asyncio.to_thread(store.write, [update], fence)
    except StoreError:
        return type(error)(
            f"{error.plain}; run {run.run_id} is still recorded running: "
            f"plait resume {run.run_id} goes on with it"
        )
    return type(error)(f"{error.plain}; run {run.run_id} is recorded failed")
