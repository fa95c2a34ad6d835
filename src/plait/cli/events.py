"""A run's event log: ``plait runs events RUN_ID [--follow] [--jsonl]``, and
``--events FILE`` on ``plait run`` and ``plait resume``.

One event is one row of the store's events table; as a JSON line::

    {"seq": 3, "at": "2026-12-02T00:41:07.118204+00:00", "kind": "step_running",
     "node_id": "fetch", "payload": {"attempt": 1}}

``--follow`` polls the table for rows past the last ``seq`` it printed (one indexed
query every ``POLL`` seconds) and ends after ``run_finished``. ``--events FILE`` wraps
the run's store (``EventFile``): each batch the writer thread commits, its events are
appended to FILE and flushed, so the file holds what the store holds, line for line.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Annotated, Any

import typer

from plait.cli.common import (
    EXIT_OK,
    EXIT_RUN_FAILED,
    StoreOption,
    error_line,
    fail,
    json_text,
    open_store_or_exit,
)
from plait.errors import StoreError
from plait.store import Store
from plait.store.records import EventRecord, RunRecord, StepRecord, Write

POLL = 0.2  # seconds between two reads of a followed run's new events
EXIT_INTERRUPTED = 130  # Ctrl-C ended a follow (128 + SIGINT, as a shell reports it)
_OPEN = ("running",)  # a run in this status may still write events


def event_document(event: EventRecord) -> dict[str, Any]:
    """The event as ``runs events --jsonl`` prints it: the row's columns, its payload
    parsed (a payload that is not JSON, a damaged row, is kept as its text)."""
    return {
        "seq": event.seq,
        "at": event.time,
        "kind": event.kind,
        "node_id": event.node_id,
        "payload": _payload(event.payload),
    }


def event_line(event: EventRecord) -> str:
    """One JSON line (RFC 8259: a NaN in a payload is written ``null``)."""
    return json_text(event_document(event))


def _payload(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


_HEADER = f"{'seq':>5}  {'at':<32}  {'kind':<14}  {'node':<20}  payload"


def _table_line(event: EventRecord) -> str:
    payload = "" if event.payload is None else json_text(_payload(event.payload))
    node = event.node_id or "-"
    return f"{event.seq:>5}  {event.time:<32}  {event.kind:<14}  {node:<20}  {payload}".rstrip()


def runs_events(
    run_id: Annotated[str, typer.Argument(help="The run's id (or a unique prefix of it).")],
    follow: Annotated[
        bool,
        typer.Option("--follow", "-f", help="Keep printing a live run's events until it finishes."),
    ] = False,
    jsonl: Annotated[
        bool, typer.Option("--jsonl", help="One JSON object a line (the events table's rows).")
    ] = False,
    store: StoreOption = None,
) -> None:
    """A run's event log, oldest first: run_started, step_running, step_ended, ...,
    run_finished. With --follow, a live run's events as they are recorded."""
    the_store = open_store_or_exit(store)
    try:
        record = the_store.get_run(run_id)
        code = _print_events(the_store, record, follow, jsonl)
    except StoreError as exc:
        raise fail(exc.plain) from None
    except KeyboardInterrupt:  # Ctrl-C ends a follow: no traceback, no "aborted"
        code = EXIT_INTERRUPTED
    except BrokenPipeError:  # `plait runs events ID | head`: the reader has had enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = EXIT_OK
    raise typer.Exit(code)


def _print_events(store: Store, record: RunRecord, follow: bool, jsonl: bool) -> int:
    render = event_line if jsonl else _table_line
    if not jsonl:
        _write([_HEADER])
    last = 0
    while True:
        batch = store.get_events(record.id, since=last)
        if batch:
            _write([render(event) for event in batch])
            last = batch[-1].seq
            if any(event.kind == "run_finished" for event in batch):
                return EXIT_OK
        if not follow:
            return EXIT_OK
        if not batch:
            ended = _ended(store, record.id, last)
            if ended is not None:
                return ended
            time.sleep(POLL)


def _ended(store: Store, run_id: str, last: int) -> int | None:
    """Whether a followed run that wrote nothing new will write no more: it is no
    longer running (its events are all read: they are written before its status), or
    its process died (its lease expired). None: keep following."""
    record = store.get_run(run_id)
    if record.status in _OPEN:
        expires = record.lease_expires_at
        if expires is None or expires >= time.time():
            return None
        if store.get_events(run_id, since=last):
            return None  # it wrote more meanwhile: print them first
        error_line(
            f"run {run_id} is recorded running, but its process stopped (its lease "
            f"expired); plait resume {run_id} goes on with it"
        )
        return EXIT_RUN_FAILED
    if store.get_events(run_id, since=last):
        return None
    return EXIT_OK


def _write(lines: Sequence[str]) -> None:
    sys.stdout.write("".join(line + "\n" for line in lines))
    sys.stdout.flush()


# -- plait run --events FILE ----------------------------------------------------------------

EventsOption = Annotated[
    Path | None,
    typer.Option(
        "--events",
        metavar="FILE",
        help="Append the run's events to FILE as JSON lines as they are recorded (the "
        "lines plait runs events --jsonl prints).",
        show_default=False,
    ),
]


def with_events(store: Store, path: Path | None) -> Store:
    """The store, writing its events to ``path`` too (``--events``); or one line and
    exit status 2 if the file cannot be appended to."""
    if path is None:
        return store
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise fail(f"--events {path}: {exc.strerror or exc}") from None
    if mode is not None and not (stat.S_ISREG(mode) or stat.S_ISCHR(mode)):
        # A FIFO would block the run until someone reads it; a folder cannot be written.
        kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file"
        raise fail(f"--events {path}: this is {kind}; give a file to append events to")
    try:
        sink = path.open("a", encoding="utf-8", newline="\n")
    except OSError as exc:
        raise fail(f"--events {path}: cannot open it: {exc.strerror or exc}") from None
    return EventFile(store, sink, str(path))


class EventFile:
    """A store that also appends each committed batch's events to a file, flushed per
    batch: only what the store accepted is written, in ``seq`` order (one writer thread
    commits a run's batches in order)."""

    def __init__(self, store: Store, sink: IO[str], name: str) -> None:
        self.store = store
        self.url = store.url
        self.sink = sink
        self.name = name
        self._lock = threading.Lock()

    def write(self, batch: Sequence[Write], fence: tuple[str, str] | None = None) -> None:
        self.store.write(batch, fence)
        lines = [event_line(item) + "\n" for item in batch if isinstance(item, EventRecord)]
        if not lines:
            return
        with self._lock:
            try:
                self.sink.write("".join(lines))
                self.sink.flush()
            except (OSError, ValueError) as exc:  # a full disk, a closed file
                raise StoreError(f"--events {self.name}: cannot write: {exc}") from None

    def acquire_lease(
        self, run_id: str, owner: str, ttl: float, now: float, steal_from: str | None = None
    ) -> bool:
        return self.store.acquire_lease(run_id, owner, ttl, now, steal_from)

    def renew_lease(self, run_id: str, owner: str, ttl: float, now: float) -> bool:
        return self.store.renew_lease(run_id, owner, ttl, now)

    def release_lease(self, run_id: str, owner: str) -> None:
        self.store.release_lease(run_id, owner)

    def request_cancel(self, run_id: str) -> None:
        self.store.request_cancel(run_id)

    def cancel_requested(self, run_id: str) -> bool:
        return self.store.cancel_requested(run_id)

    def get_run(self, run_id: str) -> RunRecord:
        return self.store.get_run(run_id)

    def list_runs(
        self, *, status: str | None = None, workflow: str | None = None, limit: int = 50
    ) -> list[RunRecord]:
        return self.store.list_runs(status=status, workflow=workflow, limit=limit)

    def get_steps(self, run_id: str) -> list[StepRecord]:
        return self.store.get_steps(run_id)

    def get_events(self, run_id: str, since: int = 0) -> list[EventRecord]:
        return self.store.get_events(run_id, since)

    def max_event_seq(self, run_id: str) -> int:
        return self.store.max_event_seq(run_id)

    def close(self) -> None:
        with self._lock:
            self.sink.close()
        self.store.close()


__all__ = ["EventFile", "EventsOption", "event_line", "runs_events", "with_events"]
