"""Runs a compiled Plan: every ready step at once, under its pools' limits, recorded.

How a line finds its home (the layers, top to bottom, are an import-linter contract
in pyproject.toml: a module imports only those below it)::

    run         Run: the handle a caller holds (execute, cancel, counts, waiting_for)
    summary     the RunResult of a run that ended (reads, never changes it)
    graph       Graph: one graph's state machine: launch → end → propagate →
                release / route / skip. The workflow, each map branch, loop pass and
                sub-workflow is one; start reading here
    starts      how each kind of node starts (a table), ``when``, skips, restores
    tasks       a task's life: slot, attempts (backoff holds no slot), call, timeout
    groups      GroupRunner: a static group's window, its timeout, its losers
    bodies/     MapRunner, LoopRunner, SubworkflowRunner, DynamicGroupRunner:
                a body run as child graphs
    protocols   Host: what starts, tasks, groups and bodies may touch of a graph
    session     Session: what the whole run shares (pools, executors, breakers,
                recorder, observer, tasks, timers, signals, meter, records) and the
                pause decision
    observe     Observer: what watches a run besides its recorder (traces, metrics:
                plait.observability), called where the recorder is
    finished    Records: what is kept of a body graph that ended (compact columns)
    recording   Recorder: every transition to the store; writer: its batch thread
    result      RunResult, StepResult, GroupResult: what a run produced
    pools/      WorkerPool: slots, queue, rate, breaker, adaptive limit; seed 001's
                task API (execute, execute_many, execute_with_strategy)
    joins       Join: the one decision "a member ended: decide, winner, output,
                error" for groups, dynamic groups, maps and the task API
    strategies, retry, breaker, ratelimit, adaptive    pure policies
    monitor     structured logs (plait.pool, plait.parallel)
    state       StepState (one node in one run), the names ``${...}`` sees, Stop
    ready       ReadyQueue: edges, dead-path elimination, control edges
    deadlines   Deadline: the one timer kind; ``within`` for a step's timeout
    meter       Meter: each output weighed against the run's ``limits:``
"""

from plait.engine.pools import PoolStats, PoolStatus, StrategyResult, WorkerPool, WorkerTask
from plait.engine.result import GroupResult, RunResult, StepResult
from plait.engine.run import Run

__all__ = [
    "GroupResult",
    "PoolStats",
    "PoolStatus",
    "Run",
    "RunResult",
    "StepResult",
    "StrategyResult",
    "WorkerPool",
    "WorkerTask",
]
