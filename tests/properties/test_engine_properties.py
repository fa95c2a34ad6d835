"""Properties of every run of every small workflow (SPEC §1–2, issue 5).

Hypothesis builds random DAGs of groups (all/any/allSettled/race, windows, timeouts,
nesting), maps, failures, flaky steps with retries, timeouts, pools with limits and
small queues, threads and subprocesses, runs each on looptime's fake clock, and checks
that whatever happened:

* no pool, group window or map window ever held more calls than its limit;
* no step started before its dependencies ended (a live one's call returned), outside
  its running group or map, or after it was ended;
* every node ended in a terminal status, with no call still in its tool; a skipped
  node never ran; every pool is back to no slot held and nothing queued;
* nothing leaks: no task is left on the loop, every thread the run started is gone
  once its pool is shut down (joined, not slept on), and no child process remains.

The examples are derandomized: the same ones run every time, in CI too.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import looptime
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import plait
from plait.engine.run import Run
from plait.status import RunStatus, StepStatus
from properties.gauge import Gauge, all_states, child_processes, install
from properties.workflows import Generated, workflows

PROPERTY_SETTINGS = settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
JOIN = 10.0  # seconds a finished run's threads may take to exit (an upper bound only)


@pytest.fixture(autouse=True)
def _no_gauge_left() -> Any:
    yield
    install(None)


def run_generated(gen: Generated, cancel_at: int | None) -> tuple[Run, Gauge, bool]:
    """Run the workflow on a fake clock; with ``cancel_at``, cancel the caller's task
    when the n-th gauge call starts (a Ctrl-C through the Python API)."""
    gauge = Gauge(gen.limits)
    install(gauge)
    threads_before = set(threading.enumerate())
    # Earlier tests may leave multiprocessing's helpers (forkserver, resource tracker):
    # only what this run started counts.
    children_before = set(child_processes())
    run = plait.Workflow.from_dict(gen.data).create_run()
    gauge.run = run
    cancelled = False

    async def main() -> None:
        nonlocal cancelled
        task = asyncio.create_task(run.execute())
        if cancel_at is not None:

            def maybe_cancel(starts: int) -> None:
                if starts == cancel_at:
                    asyncio.get_running_loop().call_soon(task.cancel)

            gauge.on_start = maybe_cancel
        try:
            await task
        except asyncio.CancelledError:
            cancelled = True
        current = asyncio.current_task()
        left = [t for t in asyncio.all_tasks() if t is not current]
        assert not left, f"tasks left on the loop: {left}"

    with asyncio.Runner(loop_factory=looptime.new_event_loop) as runner:
        runner.run(main())
    for thread in set(threading.enumerate()) - threads_before:
        thread.join(JOIN)
        assert not thread.is_alive(), f"thread {thread.name} still running after the run"
    assert set(child_processes()) - children_before == set(), "a subprocess outlived the run"
    return run, gauge, cancelled


def check_invariants(gen: Generated, run: Run, gauge: Gauge) -> None:
    assert gauge.violations == []
    event(f"run {run.status.value}")
    for status in sorted({state.status.value for state in all_states(run)}):
        event(f"a step {status}")
    limits = gen.limits
    for name, limit in limits.pools.items():
        assert gauge.peak[f"pool:{name}"] <= limit, name
        pool = run.pools[name]
        assert pool.peak_active <= limit, name
        assert (pool.active, pool.queue_length) == (0, 0), name
    for group, limit in limits.groups.items():
        assert gauge.peak[f"group:{group}"] <= limit, group
    for map_id, limit in limits.maps.items():
        assert gauge.peak[f"map:{map_id}"] <= limit, map_id
    assert +gauge.running == {}, "a call is still inside its tool"
    assert run.status.finished, run.status
    started = {node for _, how, node in gauge.log if how == "start"}
    returned = {node for _, how, node in gauge.log if how == "end"}
    for state in all_states(run):
        assert state.status.terminal, (state.node_id, state.status)
        assert state.done, state.node_id
        assert state.task is None or state.task.done(), state.node_id
        if state.status is StepStatus.SKIPPED:
            assert state.node_id not in started, f"skipped {state.node_id} ran"
        if state.status is StepStatus.SUCCEEDED and gen.kinds.get(state.node.id) == "gauge":
            assert state.node_id in returned, (
                f"{state.node_id} succeeded but its call never returned"
            )


@PROPERTY_SETTINGS
@given(workflows())
def test_any_workflow_keeps_every_limit_and_order_and_leaves_nothing(gen: Generated) -> None:
    run, gauge, cancelled = run_generated(gen, None)
    assert not cancelled
    check_invariants(gen, run, gauge)
    assert run.status is not RunStatus.CANCELLED


@PROPERTY_SETTINGS
@given(workflows(), st.integers(1, 6))
def test_cancelling_any_workflow_anywhere_stops_everything(gen: Generated, at: int) -> None:
    run, gauge, cancelled = run_generated(gen, at)
    check_invariants(gen, run, gauge)
    # A cancel that lands after the run decided (its last step ended in the same loop
    # turn) still raises CancelledError to the caller, as asyncio requires, and the run
    # keeps the outcome it had: so `cancelled` does not imply a cancelled run.
    if run.status is RunStatus.CANCELLED:
        assert cancelled
