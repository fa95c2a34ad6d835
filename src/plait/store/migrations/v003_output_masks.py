"""Version 2 → 3: ``step_executions.output_masks``.

Where the secrets masked out of a step's recorded output stood (``secrets.json_masked``),
so that a resume gives dependents the real values again instead of ``***``. Rows
recorded before have none: nothing of theirs can be rebuilt, as before.
"""

from __future__ import annotations

from sqlalchemy import Connection, text


def migrate(conn: Connection) -> None:
    # Plain DDL, the same on SQLite and PostgreSQL: a nullable column, no default, so
    # neither rewrites the table.
    conn.execute(text("ALTER TABLE step_executions ADD COLUMN output_masks TEXT"))
