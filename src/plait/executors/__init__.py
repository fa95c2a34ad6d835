"""Where a step's call is carried out. The engine sees only ``Executor``."""

from plait.executors.base import Executor
from plait.executors.local import LocalExecutor

__all__ = ["Executor", "LocalExecutor"]
