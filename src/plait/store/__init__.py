"""What happened, durably: runs, step executions and events, in a store chosen by URL.

open_store(None)                      # $PLAIT_STORE, else .plait/plait.db here
open_store("runs.db")                 # an SQLite file
open_store("sqlite:///path/runs.db")
open_store("postgresql://user@host/db")
open_store("memory://")               # nothing kept
"""

from __future__ import annotations

import os
from pathlib import Path

from plait.store.base import Store
from plait.store.memory import MemoryStore
from plait.store.records import EventRecord, RunRecord, RunUpdate, StepRecord, Write

DEFAULT_STORE = ".plait/plait.db"
ENV_VAR = "PLAIT_STORE"


def store_url(url: str | None = None) -> str:
    """The store a command should use: the given URL, ``$PLAIT_STORE``, or the default."""
    return url or os.environ.get(ENV_VAR) or DEFAULT_STORE


def open_store(url: str | None = None) -> Store:
    """Open (creating or migrating as needed) the store at ``url``. Raises ``StoreError``."""
    url = store_url(url)
    scheme, sep, rest = url.partition("://")
    if sep and scheme == "memory":
        return MemoryStore()
    if sep and scheme.startswith("postgres"):
        from plait.store.postgres import PostgresStore

        return PostgresStore(url)
    if sep and scheme == "sqlite":
        path = rest[1:] if rest.startswith("/") else rest
        from plait.store.sqlite import SqliteStore

        return SqliteStore(Path(path) if path else DEFAULT_STORE)
    if sep:
        from plait.errors import StoreError

        raise StoreError(
            f"unknown store {url!r}: use a file path, sqlite:///PATH, postgresql://..., or memory://"
        )
    from plait.store.sqlite import SqliteStore

    return SqliteStore(Path(url))


__all__ = [
    "DEFAULT_STORE",
    "EventRecord",
    "MemoryStore",
    "RunRecord",
    "RunUpdate",
    "StepRecord",
    "Store",
    "Write",
    "open_store",
    "store_url",
]
