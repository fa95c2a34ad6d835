"""plait: run many workflow steps in parallel, fast, under control, and never lose what
happened.

The public API is this module's ``__all__``; everything else is private to plait.
"""

import contextlib

from plait._version import __version__
from plait.api import Workflow, cancel, get_run, load, register_workflow, resume, run_sync
from plait.compiler.reliability import AdaptiveSpec, BreakerSpec
from plait.definition.models import WaitStrategy
from plait.engine.pools import PoolStats, PoolStatus, StrategyResult, WorkerPool, WorkerTask
from plait.engine.result import GroupResult, RunResult, StepResult
from plait.engine.run import Run
from plait.errors import (
    CircuitOpen,
    CycleError,
    ErrorInfo,
    ExpressionError,
    InputError,
    LeaseHeld,
    LoadError,
    PlaitError,
    PoolFull,
    Problem,
    RunCancelled,
    RunError,
    RunNotFound,
    RunTimedOut,
    StepError,
    StepFailed,
    StepTimedOut,
    StoreError,
    ToolError,
    UnknownToolError,
    ValidationError,
    WorkflowError,
)
from plait.status import RunStatus, StepStatus
from plait.tools import StepContext, Tool, tool

__all__ = [
    "AdaptiveSpec",
    "BreakerSpec",
    "CircuitOpen",
    "CycleError",
    "ErrorInfo",
    "ExpressionError",
    "GroupResult",
    "InputError",
    "LeaseHeld",
    "LoadError",
    "PlaitError",
    "PoolFull",
    "PoolStats",
    "PoolStatus",
    "Problem",
    "Run",
    "RunCancelled",
    "RunError",
    "RunNotFound",
    "RunResult",
    "RunStatus",
    "RunTimedOut",
    "StepContext",
    "StepError",
    "StepFailed",
    "StepResult",
    "StepStatus",
    "StepTimedOut",
    "StoreError",
    "StrategyResult",
    "Tool",
    "ToolError",
    "UnknownToolError",
    "ValidationError",
    "WaitStrategy",
    "WorkerPool",
    "WorkerTask",
    "Workflow",
    "WorkflowError",
    "__version__",
    "cancel",
    "get_run",
    "load",
    "register_workflow",
    "resume",
    "run_sync",
    "tool",
]

# Public names report `plait` as their module (httpx does the same), so reprs and docs
# show `plait.WorkerPool`, not the private module a name happens to live in.
for _name in __all__:
    _obj = globals()[_name]
    if hasattr(_obj, "__module__") and not isinstance(_obj, str):
        with contextlib.suppress(AttributeError, TypeError):
            _obj.__module__ = "plait"
del _name, _obj
