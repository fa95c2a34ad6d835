"""Version 1 → 2: every text column is ``TEXT``, without a length.

Version 1 declared ``VARCHAR(n)`` columns (255 for names and ids, 512 for node ids,
16 for statuses). SQLite ignores the length, PostgreSQL enforces it: a workflow that
ran on SQLite failed mid-run on PostgreSQL (a long step id, a nested map's node id).

On PostgreSQL, ``VARCHAR(n)`` → ``TEXT`` is binary-compatible: the column's type is
changed in the catalog, no row is rewritten and no index rebuilt. On SQLite the
declared type is only an affinity (``TEXT`` for both): nothing to do.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

COLUMNS = {
    "runs": [
        "id", "workflow", "status", "definition_hash", "lease_owner",
        "created_at", "started_at", "finished_at", "updated_at",
    ],
    "step_executions": [
        "run_id", "node_id", "step_id", "parent_step_id", "branch_name", "join_policy",
        "status", "started_at", "finished_at",
    ],
    "events": ["run_id", "time", "kind", "node_id"],
}  # fmt: skip


def migrate(conn: Connection) -> None:
    if conn.dialect.name != "postgresql":
        return
    for table, columns in COLUMNS.items():
        changes = ", ".join(f"ALTER COLUMN {column} TYPE text" for column in columns)
        conn.execute(text(f"ALTER TABLE {table} {changes}"))
