"""What the user wrote: workflow definitions as data, with no behaviour."""

from plait.definition.durations import parse_duration
from plait.definition.loader import load_definition, parse_definition
from plait.definition.models import (
    GroupDef,
    InputDef,
    PoolDef,
    RetryDef,
    StepDef,
    WaitStrategy,
    WorkflowDef,
)

__all__ = [
    "GroupDef",
    "InputDef",
    "PoolDef",
    "RetryDef",
    "StepDef",
    "WaitStrategy",
    "WorkflowDef",
    "load_definition",
    "parse_definition",
    "parse_duration",
]
