"""Small functions that the seed examples call through the `python` tool.

The `python` tool imports this module because it sits beside the workflow files. Each
function takes and returns plain JSON data and never changes its arguments (plait
hands a step the very objects another step recorded).
"""

from __future__ import annotations

import asyncio
from typing import Any

Row = dict[str, Any]

# --- seed 001, Example 1: data aggregation (data_aggregation.yaml) --------------------


def aggregate_data(api_data: list[Row], db_data: list[Row], cache_data: Any) -> Row:
    """Sum the values of each record id over the API and the database; say what the
    cache held (the previous run's aggregate, or nothing on a first run)."""
    totals: dict[int, float] = {}
    for record in [*api_data, *db_data]:
        totals[record["id"]] = totals.get(record["id"], 0) + record["value"]
    return {
        "records": [{"id": key, "value": totals[key]} for key in sorted(totals)],
        "total": sum(totals.values()),
        "sources": {"api": len(api_data), "db": len(db_data)},
        "previous_total": cache_data["total"] if cache_data else None,
    }


# --- seed 001, Quick Start 3: best-effort enrichment (best_effort_enrichment.yaml) ----


async def social_profile(user: Row) -> Row:
    await asyncio.sleep(0.01)  # a stand-in for a call to a social network's API
    return {"handle": "@" + user["name"].lower(), "followers": 42 * user["id"]}


# --- seed 001, Example 4: nested groups (complex_data_pipeline.yaml) ------------------


def validate(readings: list[Row]) -> Row:
    """Which sensors gave a number."""
    bad = [r["sensor"] for r in readings if not isinstance(r.get("value"), int | float)]
    return {"valid": len(readings) - len(bad), "invalid_sensors": bad}


def enrich(readings: list[Row], source: str) -> Row:
    """Statistics of one source, in its own unit."""
    values = [r["value"] for r in readings if isinstance(r.get("value"), int | float)]
    return {"source": source, "count": len(values), "min": min(values), "max": max(values)}


def transform(readings: list[Row], source: str, unit: str) -> list[Row]:
    """The valid readings in degrees Celsius, keyed by source and sensor."""
    out = []
    for r in readings:
        value = r.get("value")
        if not isinstance(value, int | float):
            continue
        celsius = (value - 32) * 5 / 9 if unit == "fahrenheit" else value
        out.append({"sensor": f"{source}-{r['sensor']}", "celsius": round(celsius, 1)})
    return out


# --- seed 001, Example 5: rate-limited batch (rate_limited_batch.yaml) ----------------


def batch_report(items: list[Row], results: list[Any], server: Row) -> Row:
    """Seed 001's `create_report`: what the batch did, from the map's outputs (a failed
    branch's output is null) and from what the API saw."""
    failed = [item["id"] for item, result in zip(items, results, strict=True) if result is None]
    return {
        "total": len(items),
        "completed": len(items) - len(failed),
        "failed": len(failed),
        "failed_ids": failed,
        "api_max_in_flight": server["max_in_flight"],
        "api_rejected": server["rejected"],
    }


# --- seed 002: agents of parallel_workflow_example.json -------------------------------


async def agent(task: str, text: str, delay_ms: int = 20) -> Row:
    """A pretend agent: does one small thing to a text, after thinking for a while."""
    await asyncio.sleep(delay_ms / 1000)
    words = text.split()
    if task == "count_words":
        result: Any = len(words)
    elif task == "title":
        result = " ".join(word.capitalize() for word in words)
    elif task == "longest_word":
        result = max(words, key=len)
    else:
        raise ValueError(f"agent: unknown task {task!r}")
    return {"result": result}


# --- seed 003: routing (switch_routing.yaml) ------------------------------------------


class PaymentDeclined(Exception):
    """Its class name is the error type a step records (and `retryOn` could name)."""


def charge(amount: float, limit: float) -> Row:
    """A pretend card payment: declined above the card's limit."""
    if amount > limit:
        raise PaymentDeclined(f"{amount} is over the card's limit of {limit}")
    return {"charged": amount}
