"""Which callables a step can name: the registry, the built-in tools, entry points."""

from plait.tools.context import StepContext
from plait.tools.registry import Tool, ToolRegistry, default_registry, get_tool, tool

__all__ = ["StepContext", "Tool", "ToolRegistry", "default_registry", "get_tool", "tool"]
