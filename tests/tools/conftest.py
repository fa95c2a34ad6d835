"""The real things the tool tests talk to: an HTTP server of their own on 127.0.0.1,
the PostgreSQL server and the Redis server. The servers are skipped, saying why, only
when they cannot be reached."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from fixtures.http_server import LocalServer
from fixtures.services import POSTGRES_URL, REDIS_URL


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer().running() as running:
        yield running


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The test database; each test makes (and drops) tables of unique names in it."""
    import psycopg

    try:
        psycopg.connect(POSTGRES_URL, connect_timeout=3).close()
    except Exception as exc:  # the driver's errors vary; any means "cannot reach it"
        pytest.skip(f"PostgreSQL at {POSTGRES_URL} cannot be reached: {exc}")
    return POSTGRES_URL


@pytest.fixture
def pg_table(postgres_url: str) -> Iterator[str]:
    """A unique table name, dropped after the test whatever the test made of it."""
    import psycopg

    name = f"plait_tool_test_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'DROP TABLE IF EXISTS "{name}"')


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A unique key prefix on the real Redis; every key under it is deleted afterwards."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        pytest.skip(f"Redis at {REDIS_URL} cannot be reached: {exc}")
    prefix = f"plait-test:{uuid.uuid4().hex[:10]}:"
    try:
        yield prefix
    finally:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture
def fresh_postgres_db(postgres_url: str) -> Iterator[str]:
    """A database of its own on the server, dropped afterwards (for tools that make
    tables of fixed names, such as the cache's ``plait_cache``)."""
    import psycopg

    name = f"plait_tool_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = postgres_url.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
