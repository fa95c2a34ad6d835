"""E1: where CPU-bound steps run. 2,000 steps of ~5 ms of pure-Python work each, on
plait's three executors and on Dask's own ``client.map``, in one invocation.

    python -m bench.executors            # 2,000 steps, best of 3
    python -m bench.executors --quick    # 400 steps, best of 2
    python -m bench.executors --json     # the figures as JSON on stdout

Rows (each the best of the repeats, after one untimed warm-up run of each; the
repeats go round the rows, so that load from elsewhere falls on all of them):

    local     plait, ``executor: local``: the ``python`` tool's function in the run's
              threads (64), which take turns on the GIL
    process   plait, ``executor: {type: process, workers: W}``: a pool of W worker
              processes, started by each run (from a warm fork server)
    dask      plait on the cluster below (``executor: tcp://...``): one future per step,
              at most ``maxInFlight`` (1,000) at once
    client.map  the same function through ``client.map`` + ``client.gather`` on the same
              cluster: Dask with no engine in between

The cluster is a ``LocalCluster`` of W worker processes, one thread each, started
before any timing and shared by the two Dask rows; it lives in a helper process of its
own, so its scheduler shares neither plait's event loop nor the benchmark's, as with a
real cluster. W = the CPUs this process may use.
Every plait row is one map over the steps (``parallel: {count: N}``, a window of 64),
with nothing recorded (no store). Targets: plait on Dask within 1.5x ``client.map``;
process and dask faster than local for this CPU-bound work.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench.cpu import burn, calibrate

WINDOW = 64
STEP_MS = 5.0
DASK_TARGET = 1.5


def workflow(steps: int, n: int) -> Any:
    import plait

    wf = plait.Workflow.from_dict(
        {
            "name": "cpu-bound",
            "parallelConfig": {"maxConcurrent": WINDOW},
            "steps": [
                {
                    "id": "m",
                    "parallel": {
                        "count": steps,
                        "maxConcurrent": WINDOW,
                        "steps": [
                            {
                                "id": "burn",
                                "tool": "python",
                                "input": {"function": "bench.cpu:burn", "args": {"n": n}},
                            }
                        ],
                    },
                }
            ],
        }
    )
    wf.plan  # noqa: B018 - compile outside the timing
    return wf


async def best_of(repeat: int, rows: dict[str, Callable[[], Awaitable[None]]]) -> dict[str, float]:
    """The best time of each row. Rounds interleave the rows (local, process, dask,
    client.map, local, ...), so a burst of load from elsewhere slows one round of every
    row rather than every run of one row."""
    for once in rows.values():
        await once()  # warm-up: imports in the workers, the fork server, the connection
    best = dict.fromkeys(rows, float("inf"))
    for _ in range(repeat):
        for row, once in rows.items():
            gc.collect()
            start = time.perf_counter()
            await once()
            best[row] = min(best[row], time.perf_counter() - start)
    return best


async def measure(steps: int, repeat: int, workers: int, address: str) -> dict[str, float]:
    import distributed

    n = calibrate(STEP_MS)
    wf = workflow(steps, n)
    expected = burn(n)

    def check(outputs: list[int]) -> None:
        assert len(outputs) == steps
        assert outputs[0] == expected

    def plait_run(executor: Any) -> Callable[[], Awaitable[None]]:
        async def once() -> None:
            result = await wf.run(executor=executor)
            assert result.status.value == "succeeded", result.error
            check(result.steps["m"].output)

        return once

    async with distributed.Client(address, asynchronous=True) as client:

        async def plain_map() -> None:
            check(await client.gather(client.map(burn, [n] * steps, pure=False)))

        rows = {
            "local": plait_run("local"),
            "process": plait_run({"type": "process", "workers": workers}),
            "dask": plait_run(address),
            "client.map": plain_map,
        }
        best = await best_of(repeat, rows)
    return {"steps": float(steps), "n": float(n), "workers": float(workers), **best}


def start_cluster(workers: int) -> tuple[subprocess.Popen[str], str]:
    """The helper process that holds the LocalCluster, and its scheduler's address."""
    code = f"from bench.executors import serve_cluster; serve_cluster({workers})"
    helper = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert helper.stdout is not None
    return helper, helper.stdout.readline().strip()


def serve_cluster(workers: int) -> None:
    """In the helper process: a LocalCluster, its address on stdout, until stdin closes."""
    import distributed

    with distributed.LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster:
        print(cluster.scheduler_address, flush=True)
        sys.stdin.read()


def report(figures: dict[str, float]) -> None:
    steps = int(figures["steps"])
    print(
        f"load average before / after: {figures['load_before']:.2f} / {figures['load_after']:.2f}"
    )
    print(
        f"E1 {steps:,} CPU-bound steps (~{STEP_MS:g} ms each: burn({int(figures['n']):,})), "
        f"{int(figures['workers'])} workers"
    )
    print(f"{'row':<11} {'seconds':>8} {'µs/step':>9} {'vs local':>9}")
    for row in ("local", "process", "dask", "client.map"):
        seconds = figures[row]
        print(
            f"{row:<11} {seconds:>8.3f} {seconds / steps * 1e6:>9.0f} "
            f"{figures['local'] / seconds:>8.2f}x"
        )
    ratio = figures["dask"] / figures["client.map"]
    verdict = "PASS" if ratio <= DASK_TARGET else "MISS"
    print(f"plait on dask / client.map = {ratio:.2f} (target <= {DASK_TARGET}): {verdict}")
    for row in ("process", "dask"):
        verdict = "PASS" if figures[row] < figures["local"] else "MISS"
        print(f"{row} faster than local threads: {verdict}")


def main(argv: list[str] | None = None) -> int:
    from plait.executors.process import default_workers

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="400 steps, best of 2")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--steps", type=int, help="how many steps (default 2,000)")
    parser.add_argument("--repeat", type=int, help="timed runs per row (default 3)")
    args = parser.parse_args(argv)
    steps = args.steps or (400 if args.quick else 2_000)
    repeat = args.repeat or (2 if args.quick else 3)
    workers = default_workers()
    helper, address = start_cluster(workers)
    load_before = os.getloadavg()[0]
    try:
        figures = asyncio.run(measure(steps, repeat, workers, address))
        figures["load_before"], figures["load_after"] = load_before, os.getloadavg()[0]
    finally:
        if helper.stdin is not None:
            helper.stdin.close()  # the helper closes its cluster and exits
        helper.wait(60)
    figures["ratio_dask_client_map"] = figures["dask"] / figures["client.map"]
    if args.json:
        sys.stdout.write(json.dumps(figures) + "\n")
    else:
        report(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
