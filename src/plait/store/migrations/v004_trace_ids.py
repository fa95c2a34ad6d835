"""Schema version 3 → 4: a run keeps its trace (issue 13).

``runs.trace_id`` is the OpenTelemetry trace id of a traced run (32 hex digits) and
``runs.root_span_id`` the id of its first root span (16 hex digits), so that a resumed
run goes on in the same trace with a link to where it began. Both are NULL for a run
that was not traced. Plain ``ALTER TABLE ... ADD COLUMN``: the same SQL on SQLite and
PostgreSQL, and nullable, so existing rows need no value.
"""

from __future__ import annotations

from sqlalchemy import Connection, text


def migrate(conn: Connection) -> None:
    conn.execute(text("ALTER TABLE runs ADD COLUMN trace_id TEXT"))
    conn.execute(text("ALTER TABLE runs ADD COLUMN root_span_id TEXT"))
