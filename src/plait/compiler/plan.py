"""The compiled, immutable plan of a workflow: nodes, edges, pools. No pydantic here.

Nodes live in a tuple and point at each other by index, so the engine keeps its
per-run state in flat lists. A group is one node with two sets of edges:

    deps ──▶ [group starts] ──start edges──▶ members ──▶ [group ends] ──▶ out

Its members are released when it starts; its dependents when its wait strategy
decides. A task starts and ends in one piece. A switch ends as soon as it starts,
choosing which of its out-edges are live.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from plait.compiler.reliability import AdaptiveSpec, BreakerSpec
from plait.definition.executor import ExecutorSpec
from plait.definition.limits import DEFAULT_LIMITS, Limits
from plait.definition.models import WaitStrategy
from plait.definition.policy import DEFAULT_POLICY, Policy
from plait.expressions.template import Const, Template
from plait.tools.registry import Tool

DEFAULT_POOL = "default"


class NodeKind(StrEnum):
    TASK = "task"
    GROUP = "group"
    SWITCH = "switch"
    MAP = "map"
    LOOP = "loop"
    WORKFLOW = "workflow"  # another workflow run as one step (its plan is the body)
    WAIT = "wait"  # pauses its branch until a signal is given


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int
    initial: float
    multiplier: float
    max_delay: float
    jitter: float
    retry_on: frozenset[str] | None
    deadline: float | None = None  # no attempt starts this long after the first began

    def delay(self, attempt: int, rand: float) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based); ``rand`` in [0, 1)."""
        base = min(self.max_delay, self.initial * self.multiplier ** (attempt - 1))
        return base * (1.0 - self.jitter * rand)

    def retries(self, *error_types: str) -> bool:
        """Whether ``retryOn`` names any of ``error_types``: an error's type and the names
        of its classes' bases (``RunError.types``), so ``OSError`` covers
        ``ConnectionResetError``; a name that is no class (``PoolFull``, a tool's type)
        matches exactly."""
        return self.retry_on is None or not self.retry_on.isdisjoint(error_types)


@dataclass(frozen=True, slots=True)
class PoolSpec:
    name: str
    max_concurrent: int  # an adaptive pool's starting limit
    queue_size: int | None
    timeout: float | None
    rate: float | None = None  # calls started per second (a token bucket)
    burst: int = 1
    breaker: BreakerSpec | None = None
    adaptive: AdaptiveSpec | None = None


@dataclass(frozen=True, slots=True)
class InputSpec:
    name: str
    type: str
    default: Any
    required: bool


@dataclass(frozen=True, slots=True)
class EnvSpec:
    """An environment variable the workflow declared under ``env:``."""

    name: str
    default: str | None
    required: bool
    secret: bool


@dataclass(frozen=True, slots=True)
class TracingSpec:
    """``tracing:``: this workflow's runs are traced (OpenTelemetry, docs/observability.md).
    ``sample_ratio`` of runs get a trace; a step attempt that succeeds in less than
    ``min_step_duration`` seconds gets no span (it is counted on its parent's)."""

    sample_ratio: float = 1.0
    min_step_duration: float = 0.0


@dataclass(frozen=True, slots=True)
class Node:
    index: int
    id: str
    kind: NodeKind
    deps: tuple[int, ...]
    out: tuple[int, ...]
    group: int | None
    pool: str = DEFAULT_POOL
    continue_on_error: bool = False
    timeout: float | None = None
    # routing: a guard, and the out-edges whose liveness a route decides (a switch's
    # targets, an onError handler) rather than this node's own outcome
    when: Template | None = None
    on_error: tuple[int, ...] = ()
    routed: frozenset[int] = frozenset()
    # switch: (condition, targets) in order; a default case has no condition
    cases: tuple[tuple[Template | None, tuple[int, ...]], ...] = ()
    # map and loop: the body, run once per branch or pass, and what drives it
    body: Plan | None = None
    items: Template | None = None
    count: Template | None = None
    loop_type: str = ""
    condition: Template | None = None
    max_iterations: int = 0
    # wait: the signal whose value the node outputs
    signal: str = ""
    # task
    tool: Tool | None = None
    input: Template = field(default_factory=lambda: Const(None))
    output: Template | None = None
    retry: RetryPolicy | None = None
    executor: ExecutorSpec | None = None  # None: the run's default (issue 7)
    # group
    members: tuple[int, ...] = ()
    # a dynamic group: called with the run context when the group starts, it gives the
    # members' step definitions (compiled then, run as branches)
    dynamic: Callable[..., Any] | None = None
    group_id: str = ""
    strategy: WaitStrategy = WaitStrategy.ALL
    max_concurrent: int | None = None

    @property
    def in_degree(self) -> int:
        """Edges to resolve before this node can start (its deps and its group's start)."""
        return len(self.deps) + (0 if self.group is None else 1)


@dataclass(frozen=True, slots=True)
class Plan:
    name: str
    description: str | None
    nodes: tuple[Node, ...]
    index: dict[str, int]
    pools: dict[str, PoolSpec]
    inputs: dict[str, InputSpec]
    outputs: Template | None
    terminals: tuple[int, ...]
    max_duration: float | None
    file: str | None = None
    folder: Path | None = None
    executor: ExecutorSpec | None = None  # the workflow's default; None: local
    breakers: dict[str, BreakerSpec] = field(default_factory=dict)  # tool name -> breaker
    # `env:` declarations, and every `${env.NAME}` read: NAME -> (step id or None, key)
    env: dict[str, EnvSpec] = field(default_factory=dict)
    env_reads: dict[str, tuple[str | None, str]] = field(default_factory=dict)
    # the signals `wait` steps wait for, in this plan, its bodies and its sub-workflows
    signals: frozenset[str] = frozenset()
    # what whoever runs it allows it to reach (--allow-python...): a dynamic group's
    # members, compiled while the run goes, are held to it too
    policy: Policy = DEFAULT_POLICY
    tracing: TracingSpec | None = None  # `tracing:`; None: not traced unless asked
    # `limits:`: the run's are its workflow plan's (a body's or a sub-workflow's are unused)
    limits: Limits = DEFAULT_LIMITS

    def node(self, step_id: str) -> Node:
        return self.nodes[self.index[step_id]]

    def groups(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.kind is NodeKind.GROUP)
