"""Reliability settings compiled: circuit breakers, rate limits, adaptive limits.

    pools.api: {maxConcurrent: auto, rate: 10/s, circuitBreaker: {...}}  ─▶ PoolSpec
    circuitBreakers: {http: {...}}                                        ─▶ Plan.breakers

Frozen values only; the engine turns them into live objects (engine/breaker.py,
engine/ratelimit.py, engine/adaptive.py), one set per run, as it does pools.
"""

from __future__ import annotations

from dataclasses import dataclass

from plait.definition.models import AdaptiveDef, BreakerDef, PoolDef, WorkflowDef
from plait.errors import Problem, UnknownToolError
from plait.tools.registry import ToolRegistry


@dataclass(frozen=True, slots=True)
class BreakerSpec:
    """``circuitBreaker``: open after ``failure_threshold`` failures in a row; after
    ``reset_timeout`` seconds let ``half_open_max`` trial calls through."""

    failure_threshold: int = 5
    reset_timeout: float = 60.0
    half_open_max: int = 1


@dataclass(frozen=True, slots=True)
class AdaptiveSpec:
    """``maxConcurrent: auto``: the limit moves between ``minimum`` and ``maximum``."""

    minimum: int = 1
    maximum: int = 100
    initial: int = 10
    tolerance: float = 2.0


def breaker_spec(breaker: BreakerDef) -> BreakerSpec:
    return BreakerSpec(
        breaker.failure_threshold,
        breaker.reset_timeout if breaker.reset_timeout is not None else 60.0,
        breaker.half_open_max,
    )


def adaptive_spec(limit: AdaptiveDef) -> AdaptiveSpec:
    # Unless told, start where a fixed pool does by default (10), within the bounds.
    initial = limit.initial if limit.initial is not None else min(max(10, limit.min), limit.max)
    return AdaptiveSpec(limit.min, limit.max, initial, limit.tolerance)


def pool_limit(pool: PoolDef) -> int:
    """The pool's starting limit: its number, or an adaptive pool's initial limit."""
    if isinstance(pool.max_concurrent, AdaptiveDef):
        return adaptive_spec(pool.max_concurrent).initial
    return pool.max_concurrent


def pool_breaker(pool: PoolDef) -> BreakerSpec | None:
    return breaker_spec(pool.circuit_breaker) if pool.circuit_breaker is not None else None


def pool_adaptive(pool: PoolDef) -> AdaptiveSpec | None:
    limit = pool.max_concurrent
    return adaptive_spec(limit) if isinstance(limit, AdaptiveDef) else None


def tool_breakers(
    definition: WorkflowDef, registry: ToolRegistry, problems: list[Problem], file: str | None
) -> dict[str, BreakerSpec]:
    """``circuitBreakers``: tool name → breaker. A name no tool has is a problem (a typo
    would otherwise protect nothing, silently)."""
    found = {}
    for name, breaker in definition.circuit_breakers.items():
        try:
            registry.get(name)
        except UnknownToolError:
            problems.append(
                Problem(
                    f"unknown tool '{name}'; a circuit breaker is keyed by the tool name steps use",
                    file,
                    None,
                    f"circuitBreakers.{name}",
                )
            )
            continue
        found[name] = breaker_spec(breaker)
    return found
