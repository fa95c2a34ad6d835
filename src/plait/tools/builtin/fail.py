from __future__ import annotations

import asyncio
from typing import Any, NoReturn

from plait.errors import StepError
from plait.tools.builtin._args import duration, mapping
from plait.tools.registry import Tool


async def fail(value: Any) -> NoReturn:
    """Wait ``after`` (default 0), then fail with ``message``, error ``type`` and, if
    given, ``status`` (a whole number) and ``details`` (a mapping). The default type
    stays ``ToolError``, the name it had before ``StepError``."""
    args = mapping(value, "fail")
    delay = duration(args, "after", "fail")
    status, details = args.get("status"), args.get("details")
    if status is not None and (isinstance(status, bool) or not isinstance(status, int)):
        raise StepError("fail: 'status' is a whole number", type="InputError")
    if details is not None and not isinstance(details, dict):
        raise StepError("fail: 'details' is a mapping", type="InputError")
    if delay:
        await asyncio.sleep(delay)
    raise StepError(
        str(args.get("message", "failed on purpose")),
        type=str(args.get("type", "ToolError")),
        status=status,
        details=details,
    )


FAIL = Tool(
    "fail",
    fail,
    is_async=True,
    style="input",
    description="wait `after`, then fail with `message`, `type`, `status`, `details`",
    inputs={
        "message": "any",
        "type": "string",
        "status": "integer",
        "details": "mapping",
        "after": "duration",
    },
)
