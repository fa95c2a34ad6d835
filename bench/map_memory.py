"""M2: what a map over 1,000,000 items holds, with and without a store.

Runs ``parallel: {count: N, maxConcurrent: W}`` whose body is one ``echo`` step of
``${parallel.index}`` (each branch's output is its index), for W = 10 and 100, with no
store and with the ``memory://`` store, each in a fresh process, beside plain asyncio
holding the same outputs: one task per item, created as the window frees a slot, each
writing its index into a list of N outputs.

    python -m bench.map_memory              # N = 1,000,000
    python -m bench.map_memory --n 100000   # a quicker look
    python -m bench.map_memory --json       # the figures as JSON on stdout

Figures per row: *peak RSS* (the process's, interpreter and imports included),
*ΔRSS* (peak minus the baseline after imports and a small warm-up), *B/item* (ΔRSS
per item) and the run's time. Target: plait's peak RSS under 400 MB at N = 1,000,000,
window 100, without a store. What the run must keep per item is its output, in the
map's list, and one record per body node for ``RunResult.steps`` (engine/finished.py);
``memory://`` also keeps every step row and event it records.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import subprocess
import sys
import time
from typing import Any

from bench.memory import max_rss_kib

N = 1_000_000
WINDOWS = (10, 100)
WARMUP = 1_000
TARGET_MB = 400


def _definition(n: int, window: int) -> dict[str, Any]:
    return {
        "name": "map-memory",
        "parallelConfig": {"maxConcurrent": window},
        "steps": [
            {
                "id": "m",
                "parallel": {
                    "count": n,
                    "maxConcurrent": window,
                    "steps": [{"id": "b", "tool": "echo", "input": "${parallel.index}"}],
                },
            }
        ],
    }


def _plait(n: int, window: int, store: str | None) -> dict[str, Any]:
    import plait

    async def once(size: int) -> plait.RunResult:
        wf = plait.Workflow.from_dict(_definition(size, window))
        return await wf.run(store=store)

    asyncio.run(once(WARMUP))
    gc.collect()
    before = max_rss_kib()
    start = time.perf_counter()
    result = asyncio.run(once(n))
    elapsed = time.perf_counter() - start
    assert result.status.value == "succeeded", result.error
    output = result.steps["m"].output
    assert len(output) == n
    assert output[-1] == n - 1
    return _figures(before, elapsed)


def _asyncio(n: int, window: int) -> dict[str, Any]:
    async def main(size: int) -> list[Any]:
        outputs: list[Any] = [None] * size
        slots = asyncio.Semaphore(window)
        tasks: set[asyncio.Task[None]] = set()

        async def branch(i: int) -> None:
            await asyncio.sleep(0)
            outputs[i] = i

        def done(task: asyncio.Task[None]) -> None:
            tasks.discard(task)
            slots.release()

        for i in range(size):
            await slots.acquire()
            task = asyncio.create_task(branch(i))
            tasks.add(task)
            task.add_done_callback(done)
        while tasks:
            await asyncio.gather(*tasks)
        return outputs

    asyncio.run(main(WARMUP))
    gc.collect()
    before = max_rss_kib()
    start = time.perf_counter()
    outputs = asyncio.run(main(n))
    elapsed = time.perf_counter() - start
    assert len(outputs) == n
    assert outputs[-1] == n - 1
    return _figures(before, elapsed)


def _figures(before_kib: int, seconds: float) -> dict[str, Any]:
    peak = max_rss_kib()
    return {"seconds": seconds, "baseline_kib": before_kib, "peak_kib": peak}


def _child(impl: str, n: int, window: int, store: str | None) -> dict[str, Any]:
    call = f"_asyncio({n}, {window})" if impl == "asyncio" else f"_plait({n}, {window}, {store!r})"
    code = f"import json; from bench.map_memory import _asyncio, _plait; print(json.dumps({call}))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr else "crashed"}
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=N, help="items of the map (1,000,000)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    n = args.n
    rows = []
    for window in WINDOWS:
        for impl, store in (("asyncio", None), ("plait", None), ("plait", "memory://")):
            print(f"… {impl} {store or ''} window {window}", file=sys.stderr, flush=True)
            figures = _child(impl, n, window, store)
            rows.append({"impl": impl, "store": store, "window": window, "n": n, **figures})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"M2 map of {n:,} items, body: echo ${{parallel.index}}; a fresh process per row")
    header = f"{'impl':<8} {'store':<9} {'window':>6} {'seconds':>8} {'µs/item':>8}"
    print(f"{header} {'peak RSS':>10} {'ΔRSS':>10} {'B/item':>7}")
    failed = False
    for row in rows:
        where = f"{row['impl']:<8} {row['store'] or 'none':<9} {row['window']:>6}"
        if "error" in row:
            print(f"{where} ERROR {row['error']}")
            failed = True
            continue
        delta = row["peak_kib"] - row["baseline_kib"]
        print(
            f"{where} {row['seconds']:>8.2f} {row['seconds'] / n * 1e6:>8.1f} "
            f"{row['peak_kib'] / 1024:>8.1f}Mi {delta / 1024:>8.1f}Mi {delta * 1024 / n:>7.0f}"
        )
    for row in rows:
        if (row["impl"], row["store"], row["window"]) == ("plait", None, 100) and "peak_kib" in row:
            peak_mb = row["peak_kib"] * 1024 / 1e6
            if n == N:
                verdict = "PASS" if peak_mb < TARGET_MB else "MISS"
            else:
                verdict = f"(the target is for {N:,} items)"
            print(
                f"target: plait, no store, window 100: peak RSS {peak_mb:.0f} MB < "
                f"{TARGET_MB} MB: {verdict}"
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
