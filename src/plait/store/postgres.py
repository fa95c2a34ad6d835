"""PostgreSQL: the store for teams and many machines (``plait[postgres]``).

Timeouts, set in the store URL's query (other libpq parameters pass through as given)::

    postgresql://user@host/db?connect_timeout=5&statement_timeout=10s

``connect_timeout``: seconds to wait for a connection (libpq's; default 5).
``statement_timeout``: the longest one statement may take (PostgreSQL's; default 10s;
a number of milliseconds or with a unit: ``500ms``, ``10s``, ``1min``; 0 for none).
A write that waits longer (a lock held elsewhere, a stalled server) fails, and the run
with it, with one line naming the timeout, instead of blocking the run silently.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from plait.errors import StoreError
from plait.store.sql import SqlStore

CONNECT_TIMEOUT = 5  # seconds
STATEMENT_TIMEOUT = "10s"
_DURATION = re.compile(r"^\d+\s*(us|ms|s|min|h|d)?$")
# pg_advisory_xact_lock's key for "the schema is being created or migrated" (any
# 64-bit number other applications are unlikely to pick: "plait" in ASCII, and 1).
SCHEMA_LOCK = 0x706C616974_0001


class PostgresStore(SqlStore):
    insert = staticmethod(pg_insert)

    def __init__(self, url: str) -> None:
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise StoreError(
                "the PostgreSQL store needs psycopg: pip install 'plait[postgres]'"
            ) from None
        shown = _redact(url)
        driver_url, connect_args = _connection(_with_driver(url), shown)
        self.statement_timeout = connect_args.pop("_statement_timeout")
        try:
            engine = create_engine(driver_url, pool_pre_ping=True, connect_args=connect_args)
        except (SQLAlchemyError, ValueError, ImportError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            raise StoreError(
                f"store {shown}: not a PostgreSQL URL plait can use: {reason}"
            ) from None
        super().__init__(engine, shown)

    def schema_lock(self, conn: Connection) -> None:
        # Forty processes opening one new database at once: one creates the tables, the
        # others wait here, then find them (a lost CREATE TABLE race failed five).
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK})

    def explain(self, message: str) -> str:
        if "statement timeout" in message:
            return (
                f"{message} (statement_timeout={self.statement_timeout}: the database did "
                "not answer in time; to wait longer, raise ?statement_timeout= in the store URL)"
            )
        return message


def _connection(url: str, shown: str) -> tuple[Any, dict[str, Any]]:
    """The URL without plait's timeout parameters, and the driver's connect arguments."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:  # ValueError: a port that is not a number
        raise StoreError(f"store {shown}: not a PostgreSQL URL plait can use: {exc}") from None
    query = dict(parsed.query)
    connect = _one(query.pop("connect_timeout", str(CONNECT_TIMEOUT)), "connect_timeout", shown)
    statement = _one(query.pop("statement_timeout", STATEMENT_TIMEOUT), "statement_timeout", shown)
    if not connect.isdigit():
        raise StoreError(
            f"store {shown}: connect_timeout must be a whole number of seconds, not {connect!r}"
        )
    if not _DURATION.match(statement):
        raise StoreError(
            f"store {shown}: statement_timeout must be milliseconds or a duration such as "
            f"10s or 500ms, not {statement!r}"
        )
    options = _one(query.pop("options", ""), "options", shown)
    options = f"{options} -c statement_timeout={statement.replace(' ', '')}".strip()
    args: dict[str, Any] = {
        "connect_timeout": int(connect),
        "options": options,
        "_statement_timeout": statement,
    }
    return parsed.set(query=query), args


def _one(value: str | tuple[str, ...], name: str, shown: str) -> str:
    if isinstance(value, tuple):
        if len(value) != 1:
            raise StoreError(f"store {shown}: {name} is given {len(value)} times")
        return value[0]
    return value


def _with_driver(url: str) -> str:
    scheme, _sep, rest = url.partition("://")
    if scheme in ("postgres", "postgresql"):
        return f"postgresql+psycopg://{rest}"
    return url


def _redact(url: str) -> str:
    """Never print a password."""
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if at and ":" in creds:
        user = creds.split(":", 1)[0]
        return f"{scheme}{sep}{user}:***@{host}"
    return url
