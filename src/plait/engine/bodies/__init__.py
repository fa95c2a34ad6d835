"""Bodies: steps that run a body of steps as child runs of the run (SPEC §1).

base.py          BodyRunner: the node, its timer, its live children, a trampoline
maps.py          MapRunner: ``parallel:``, one branch per item, decided by a Join
loops.py         LoopRunner: ``loop:``, one pass after another
subworkflows.py  SubworkflowRunner: ``workflow:``, another workflow run once
dynamic.py       DynamicGroupRunner: a group whose members a callable gives

map/loop/workflow/dynamic group node starts ─▶ runner.start() ─▶ child Host per
branch, pass or member ─▶ child ends ─▶ runner.ended() ─▶ … ─▶ the node ends
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from plait.compiler.plan import NodeKind
from plait.engine.bodies.base import BodyRunner
from plait.engine.bodies.dynamic import DynamicGroupRunner, GroupContext
from plait.engine.bodies.loops import LoopLimitExceeded, LoopRunner
from plait.engine.bodies.maps import MAX_ITEMS, MapRunner
from plait.engine.bodies.subworkflows import SubworkflowRunner
from plait.engine.state import StepState

if TYPE_CHECKING:
    from plait.engine.protocols import Host

__all__ = [
    "MAX_ITEMS",
    "BodyRunner",
    "DynamicGroupRunner",
    "GroupContext",
    "LoopLimitExceeded",
    "LoopRunner",
    "MapRunner",
    "SubworkflowRunner",
    "runner_for_node",
]


def runner_for_node(run: Host, state: StepState) -> BodyRunner:
    """The runner of a map, a loop, a sub-workflow or a dynamic group node."""
    kind = state.node.kind
    if kind is NodeKind.MAP:
        return MapRunner(run, state)
    if kind is NodeKind.LOOP:
        return LoopRunner(run, state)
    if kind is NodeKind.GROUP:
        return DynamicGroupRunner(run, state)
    return SubworkflowRunner(run, state)
