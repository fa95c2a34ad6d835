"""Numbered schema migrations, applied when a store is opened.

A new database gets the current tables (``schema.metadata``) and is stamped with the
latest version. An older database is brought forward by each migration after its
version, in order, in one transaction. A newer database is refused: an older plait
must not write into a schema it does not know.

To change the schema: edit ``schema.py``, and add a module ``vNNN_what.py`` here with a
``migrate(conn)`` that takes a database of the previous version to the new one; append
it to ``MIGRATIONS``.

Two processes opening one new (or old) database at once must not both create or
migrate it: the dialect serializes them (``SqlStore.schema_lock``: a PostgreSQL
advisory lock; SQLite's write lock, taken by ``BEGIN IMMEDIATE``), and whoever comes
second finds the schema current.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, inspect, select

from plait.errors import StoreError
from plait.store.migrations import (
    v002_text_columns,
    v003_output_masks,
    v004_trace_ids,
    v005_step_logs,
)
from plait.store.schema import PLAIT_TABLES, metadata, schema_version

Migration = Callable[[Connection], None]

# MIGRATIONS[i] takes version i+1 to version i+2. Version 1 is the first schema.
MIGRATIONS: list[Migration] = [
    v002_text_columns.migrate,  # 1 → 2: TEXT columns, without a length
    v003_output_masks.migrate,  # 2 → 3: step_executions.output_masks
    v004_trace_ids.migrate,  # 3 → 4: runs.trace_id, runs.root_span_id
    v005_step_logs.migrate,  # 4 → 5: step_executions.logs
]
LATEST = 1 + len(MIGRATIONS)


def migrate(conn: Connection, where: str) -> int:
    """Bring the schema to ``LATEST``; return the version found before."""
    tables = set(inspect(conn).get_table_names())
    if "plait_schema" not in tables:
        foreign = tables - PLAIT_TABLES
        if tables:
            raise StoreError(
                f"{where} is not a plait store (it has other tables: "
                f"{', '.join(sorted(foreign or tables))}); point --store elsewhere"
            )
        metadata.create_all(conn)
        conn.execute(schema_version.insert().values(version=LATEST))
        return 0
    found = conn.execute(select(schema_version.c.version)).scalar_one_or_none()
    if found is None:
        raise StoreError(f"{where} has an empty plait_schema table; it is damaged")
    if found > LATEST:
        raise StoreError(
            f"{where} has schema version {found}, newer than this plait knows ({LATEST}); "
            "upgrade plait"
        )
    for migration in MIGRATIONS[found - 1 :]:
        migration(conn)
    if found < LATEST:
        conn.execute(schema_version.update().values(version=LATEST))
    return int(found)
