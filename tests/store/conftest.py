"""Store backends for the conformance suite: memory, SQLite, and the real PostgreSQL.

PostgreSQL tests get a fresh database for the session, made on the server at
``PLAIT_TEST_POSTGRES`` (default postgresql://postgres@127.0.0.1:5432/test) and dropped
afterwards. They skip, saying why, only when no server can be reached.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from plait.store import Store, open_store

ADMIN_URL = os.environ.get("PLAIT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def _admin_connect():  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(
        ADMIN_URL.replace("postgresql://", "postgresql://", 1), autocommit=True, connect_timeout=3
    )


def _new_database() -> Iterator[str]:
    """A new, empty PostgreSQL database, dropped afterwards."""
    try:
        admin = _admin_connect()
    except Exception as exc:  # the driver's errors vary; any means "cannot reach it"
        pytest.skip(f"PostgreSQL at {ADMIN_URL} cannot be reached: {exc}")
    name = f"plait_test_{uuid.uuid4().hex[:10]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = ADMIN_URL.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with _admin_connect() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session."""
    yield from _new_database()


@pytest.fixture
def empty_postgres_url() -> Iterator[str]:
    """A new, empty PostgreSQL database for this one test (no tables yet)."""
    yield from _new_database()


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "memory":
        return "memory://"
    if request.param == "sqlite":
        return str(tmp_path / "plait.db")
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = open_store(store_url)
    yield opened
    opened.close()


def new_id() -> str:
    return uuid.uuid4().hex
