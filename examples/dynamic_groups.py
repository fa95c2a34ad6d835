"""Dynamic parallel groups (seed 001, Python API): the members of a group are made when
it starts, from an earlier step's result.

    python examples/dynamic_groups.py
"""

from __future__ import annotations

import asyncio
from typing import Any

import plait


@plait.tool("fetch_items")
async def fetch_items() -> list[dict[str, Any]]:
    return [{"id": n, "size": n * 10} for n in range(1, 6)]


@plait.tool("process")
async def process(id: int, size: int) -> dict[str, int]:
    await asyncio.sleep(0.01 * (6 - id))  # the last ones finish first
    return {"id": id, "cost": size * 3}


def per_item(ctx: Any) -> list[dict[str, Any]]:
    """One member step per fetched item: `process_1`, `process_2`, ..."""
    items = ctx.results.get("fetch_items")
    return [{"id": f"process_{item['id']}", "tool": "process", "input": item} for item in items]


workflow = (
    plait.Workflow("dynamic-groups")
    .task("fetch_items", tool="fetch_items")
    .step(
        "dynamic_parallel",
        depends_on=["fetch_items"],
        parallel_group={
            "id": "dynamic_processing",
            "steps": per_item,
            "max_concurrent": 2,
            "wait_strategy": "allSettled",
        },
    )
    .task("report", tool="echo", input="${len(dynamic_parallel.output)} items processed")
)


def main() -> plait.RunResult:
    result = plait.run_sync(workflow)
    group = result.groups["dynamic_processing"]
    print(result.status.value, sorted(group.completed_steps))
    print(result.steps["dynamic_parallel"].output)
    return result


if __name__ == "__main__":
    main()
