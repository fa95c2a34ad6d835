"""Looking for a secret where a run wrote: in clear, in any form plait may write it, or
in part (what a cut would leave of it).

    assert_hidden("the store", text, TOKEN)       # fails naming the form found, and where
"""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import text as sql

from plait.secrets import forms
from plait.store import open_store

PIECE = 6  # characters: a part of the secret this long, found anywhere, is a leak


def telltales(secret: str) -> dict[str, str]:
    """Every text that gives ``secret`` away, by what it is: each form plait writes it
    in, each as JSON escapes it in a record, and each piece of ``PIECE`` characters of
    the secret and of its JSON-escaped form (a cut keeps pieces)."""
    found: dict[str, str] = {}
    for name, text in forms(secret).items():
        found[f"form {name}"] = text
        found[f"form {name}, JSON-escaped"] = json.dumps(text)[1:-1]
    for name, text in (("raw", secret), ("json", json.dumps(secret)[1:-1])):
        for i in range(len(text) - PIECE + 1):
            found[f"piece {i} of the {name} form"] = text[i : i + PIECE]
    return found


def assert_hidden(where: str, written: str | bytes, *secrets: str) -> None:
    shown = written.decode("utf-8", "replace") if isinstance(written, bytes) else written
    for secret in secrets:
        for what, text in telltales(secret).items():
            assert text not in shown, f"{where} holds the secret ({what}: {text!r})"


def sqlite_bytes(db: Path) -> bytes:
    """The database file and its journal files, as bytes."""
    return b"".join(p.read_bytes() for p in sorted(db.parent.glob(db.name + "*")))


def stored_rows(url: str, run_id: str) -> str:
    """Every column of a run's rows (the run, its step executions, its events)."""
    store = open_store(url)
    try:
        with store.engine.connect() as conn:  # type: ignore[attr-defined]
            rows = [
                *conn.execute(sql("SELECT * FROM runs WHERE id = :id"), {"id": run_id}),
                *conn.execute(
                    sql("SELECT * FROM step_executions WHERE run_id = :id"), {"id": run_id}
                ),
                *conn.execute(sql("SELECT * FROM events WHERE run_id = :id"), {"id": run_id}),
            ]
    finally:
        store.close()
    assert rows, f"no rows for run {run_id}"
    return "\n".join(" | ".join(str(v) for v in row) for row in rows)
