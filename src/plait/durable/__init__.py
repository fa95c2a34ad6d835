"""Runs that outlive their process: record a new run, resume one, cancel one from
elsewhere, and rebuild a run's result from what the store holds.

    A run row has a lease (owner, expiry) renewed by a heartbeat. Whoever holds it
    executes the run; a dead holder's lease expires (or, on the same machine, is taken
    over at once once its process is gone), and ``resume`` can then go on with the run.

One module per job, each importing only those below it:

    cancel.py    request_cancel: from anywhere, a live run or one whose process is gone
    resume.py    prepare_resume: checks, signals, the recorded plan, restorable steps
    lease.py     take_lease: a lease, or the lease of a holder that is dead on this machine
    start.py     new_run: a run that records itself; Definition, as_store
    document.py  result_from_store: a run's RunResult rebuilt from its records
"""

from __future__ import annotations

from plait.durable.cancel import request_cancel
from plait.durable.document import result_from_store
from plait.durable.resume import prepare_resume
from plait.durable.start import Definition, as_store, definition_hash, new_run, outline
from plait.errors import LeaseHeld, StoreError

__all__ = [
    "Definition",
    "LeaseHeld",
    "StoreError",
    "as_store",
    "definition_hash",
    "new_run",
    "outline",
    "prepare_resume",
    "request_cancel",
    "result_from_store",
]
