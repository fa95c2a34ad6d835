"""PostgreSQL: the store for teams and many machines (``plait[postgres]``)."""

from __future__ import annotations

from sqlalchemy import create_engine
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import SQLAlchemyError

from plait.errors import StoreError
from plait.store.sql import SqlStore


class PostgresStore(SqlStore):
    insert = staticmethod(pg_insert)

    def __init__(self, url: str) -> None:
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise StoreError(
                "the PostgreSQL store needs psycopg: pip install 'plait[postgres]'"
            ) from None
        driver_url = _with_driver(url)
        try:
            engine = create_engine(
                driver_url, pool_pre_ping=True, connect_args={"connect_timeout": 5}
            )
        except (SQLAlchemyError, ValueError, ImportError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            raise StoreError(
                f"store {_redact(url)}: not a PostgreSQL URL plait can use: {reason}"
            ) from None
        super().__init__(engine, _redact(url))


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
