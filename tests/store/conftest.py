"""Store backends for the conformance suite: memory, SQLite, and the real PostgreSQL.

PostgreSQL tests get a fresh database for the session, made on the server at
``PLAIT_TEST_POSTGRES`` (default postgresql://postgres@127.0.0.1:5432/test) and dropped
afterwards. They skip, saying why, only when no server can be reached.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.postgres import new_database
from plait.store import Store, open_store


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session."""
    yield from new_database()


@pytest.fixture
def empty_postgres_url() -> Iterator[str]:
    """A new, empty PostgreSQL database for this one test (no tables yet)."""
    yield from new_database()


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
