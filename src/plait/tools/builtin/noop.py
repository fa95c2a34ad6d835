from __future__ import annotations

from typing import Any

from plait.tools.registry import Tool


async def noop(value: Any) -> None:
    """Do nothing; output null."""
    return None


NOOP = Tool("noop", noop, is_async=True, style="input", description="do nothing; output null")
