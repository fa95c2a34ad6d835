"""A PostgreSQL database of a test's own on the real server (``PLAIT_TEST_POSTGRES``,
default postgresql://postgres@127.0.0.1:5432/test), dropped afterwards; the test skips,
saying why, only when no server can be reached."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

ADMIN_URL = os.environ.get("PLAIT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def admin_connect():  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3)


def new_database(prefix: str = "plait_test") -> Iterator[str]:
    """A new, empty PostgreSQL database's URL, dropped when the generator ends."""
    try:
        admin = admin_connect()
    except Exception as exc:  # the driver's errors vary; any means "cannot reach it"
        pytest.skip(f"PostgreSQL at {ADMIN_URL} cannot be reached: {exc}")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = ADMIN_URL.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with admin_connect() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
