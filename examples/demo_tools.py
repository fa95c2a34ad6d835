"""Tools for the demo workflows: a small SQLite database standing in for real services.

The `python` tool imports this module because it sits beside the workflow file.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

_ROWS = {
    "users": [(1, "ada", "ada@example.com"), (2, "grace", "grace@example.com"),
              (3, "linus", "linus@example.com")],
    "products": [(1, "keyboard", 49.0), (2, "monitor", 219.0), (3, "cable", 9.5),
                 (4, "desk", 320.0)],
    "orders": [(1, 1, 2, 1), (2, 2, 1, 2), (3, 1, 3, 4), (4, 3, 4, 1), (5, 2, 2, 1)],
}
_SCHEMA = {
    "users": "id INTEGER PRIMARY KEY, name TEXT, email TEXT",
    "products": "id INTEGER PRIMARY KEY, name TEXT, price REAL",
    "orders": "id INTEGER PRIMARY KEY, user_id INTEGER, product_id INTEGER, quantity INTEGER",
}


def _connect() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.row_factory = sqlite3.Row
    for table, columns in _SCHEMA.items():
        conn.execute(f"CREATE TABLE {table} ({columns})")
        marks = ", ".join("?" for _ in _ROWS[table][0])
        conn.executemany(f"INSERT INTO {table} VALUES ({marks})", _ROWS[table])
    return conn


def database_query(query: str, params: list[Any] | None = None, latency_ms: int = 0) -> list[dict]:
    """Run a query against the demo database (blocking, so plait runs it in a thread)."""
    time.sleep(latency_ms / 1000)  # a stand-in for a network round trip
    with _connect() as conn:
        return [dict(row) for row in conn.execute(query, params or [])]


def aggregate(users: list[dict], products: list[dict], orders: list[dict]) -> dict:
    """Join the three sources: revenue per user."""
    price = {p["id"]: p["price"] for p in products}
    names = {u["id"]: u["name"] for u in users}
    revenue: dict[str, float] = {}
    for order in orders:
        name = names[order["user_id"]]
        revenue[name] = revenue.get(name, 0.0) + price[order["product_id"]] * order["quantity"]
    return {
        "users": len(users),
        "products": len(products),
        "orders": len(orders),
        "revenue_by_user": dict(sorted(revenue.items())),
        "total": round(sum(revenue.values()), 2),
    }
