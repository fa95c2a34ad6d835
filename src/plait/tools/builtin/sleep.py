from __future__ import annotations

import asyncio
from typing import Any

from plait.tools.builtin._args import duration, mapping
from plait.tools.registry import Tool


async def sleep(value: Any) -> Any:
    """Wait ``duration`` (cancellably), then output ``output`` (default null)."""
    args = mapping(value, "sleep")
    await asyncio.sleep(duration(args, "duration", "sleep"))
    return args.get("output")


SLEEP = Tool(
    "sleep",
    sleep,
    is_async=True,
    style="input",
    description="wait `duration`, then output `output`",
    inputs={"duration": "duration", "output": "any"},
)
