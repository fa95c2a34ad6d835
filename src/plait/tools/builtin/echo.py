from __future__ import annotations

from typing import Any

from plait.tools.registry import Tool


async def echo(value: Any) -> Any:
    """Output the resolved input, unchanged."""
    return value


ECHO = Tool("echo", echo, is_async=True, style="input", description="output the input unchanged")
