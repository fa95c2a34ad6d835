"""Liveness: taking a run's lease, at once from a holder whose process is gone.

A run row has a lease (owner, expiry) renewed by a heartbeat. The owner is
``host:pid:...`` (``lease_owner``), so on the same host a holder can be seen dead
(no such process, or a zombie) without waiting for its lease to expire.
"""

from __future__ import annotations

import os
import socket
import time

from plait.engine.lease import configured_lease_ttl
from plait.store import Store
from plait.store.records import RunRecord


def take_lease(store: Store, record: RunRecord, owner: str, ttl: float | None = None) -> bool:
    """Whether ``owner`` now holds the run's lease (it was free, expired, or held by a
    dead process on this machine), for ``ttl`` seconds (default: ``configured_lease_ttl()``)."""
    ttl = configured_lease_ttl() if ttl is None else ttl
    now = time.time()
    if store.acquire_lease(record.id, owner, ttl, now):
        return True
    # Still leased: on this machine, a holder whose process is gone can be taken over
    # at once (the lease would expire anyway; there is no reason to wait for it).
    fresh = store.get_run(record.id)
    if fresh.lease_owner and _holder_is_dead(fresh.lease_owner):
        return store.acquire_lease(record.id, owner, ttl, now, steal_from=fresh.lease_owner)
    return False


def _holder_is_dead(owner: str) -> bool:
    host, _, rest = owner.partition(":")
    pid_text = rest.split(":", 1)[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False
