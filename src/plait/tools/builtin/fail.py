from __future__ import annotations

import asyncio
from typing import Any, NoReturn

from plait.errors import ToolError
from plait.tools.builtin._args import duration, mapping
from plait.tools.registry import Tool


async def fail(value: Any) -> NoReturn:
    """Wait ``after`` (default 0), then fail with ``message`` and error ``type``."""
    args = mapping(value, "fail")
    delay = duration(args, "after", "fail")
    if delay:
        await asyncio.sleep(delay)
    raise ToolError(
        str(args.get("message", "failed on purpose")), type=str(args.get("type", "ToolError"))
    )


FAIL = Tool(
    "fail",
    fail,
    is_async=True,
    style="input",
    description="wait `after`, then fail with `message` and `type`",
)
