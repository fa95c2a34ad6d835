"""Schema version 4 → 5: a step attempt keeps what its code logged (issue 13).

``step_executions.logs`` is the text of the records the attempt's code logged
(``engine/steplogs.py``): masked, cut at 1 MiB with a note. NULL for an attempt that
logged nothing, and for every row written before. Plain ``ALTER TABLE ... ADD
COLUMN``: the same SQL on SQLite and PostgreSQL.
"""

from __future__ import annotations

from sqlalchemy import Connection, text


def migrate(conn: Connection) -> None:
    conn.execute(text("ALTER TABLE step_executions ADD COLUMN logs TEXT"))
