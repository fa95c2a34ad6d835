"""M1: a map over many items starts its branches lazily, through its window.

Runs ``parallel: {count: N, maxConcurrent: 100}`` with a one-step no-op body for
several N, each in a fresh process, and prints time per item and the peak RSS growth
per item, against plain asyncio (a semaphore of 100 and one task per item, all created
up front, as ``asyncio.gather`` code is usually written) in the same run.

    python -m bench.map_window            # N = 10,000 and 100,000
    python -m bench.map_window --quick    # N = 2,000 and 20,000

What to read: if branch state grew with N, ΔRSS per item would be that of a whole
branch (a child run: states, queue, scope — kilobytes). It is what the run must keep
anyway for each item: its output in the map's list and one compact record per body
node for the run document (about 50 bytes, engine/finished.py). Plain asyncio's
per-item cost is its tasks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time

from bench.memory import max_rss_kib

WINDOW = 100


def _plait(n: int) -> dict[str, float]:
    import plait

    wf = plait.Workflow.from_dict(
        {
            "name": "map-window",
            "parallelConfig": {"maxConcurrent": WINDOW},
            "steps": [
                {
                    "id": "m",
                    "parallel": {
                        "count": n,
                        "maxConcurrent": WINDOW,
                        "steps": [{"id": "b", "tool": "noop"}],
                    },
                }
            ],
        }
    )
    wf.plan  # noqa: B018 - compile outside the timing
    before = max_rss_kib()
    start = time.perf_counter()
    result = asyncio.run(wf.run())
    elapsed = time.perf_counter() - start
    assert result.status.value == "succeeded", result.error
    assert len(result.steps["m"].output) == n
    return {"seconds": elapsed, "rss_kib": max_rss_kib() - before}


def _asyncio(n: int) -> dict[str, float]:
    async def main() -> list[None]:
        gate = asyncio.Semaphore(WINDOW)

        async def branch(i: int) -> None:
            async with gate:
                await asyncio.sleep(0)

        return await asyncio.gather(*(branch(i) for i in range(n)))

    before = max_rss_kib()
    start = time.perf_counter()
    out = asyncio.run(main())
    elapsed = time.perf_counter() - start
    assert len(out) == n
    return {"seconds": elapsed, "rss_kib": max_rss_kib() - before}


def _child(impl: str, n: int) -> dict[str, float]:
    code = (
        "import json, sys; from bench.map_window import _plait, _asyncio; "
        f"print(json.dumps(_{impl}({n})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    figures: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    sizes = (2_000, 20_000) if args.quick else (10_000, 100_000)
    print(f"M1 map over N items, window {WINDOW}, one no-op body step; fresh process each")
    print(f"{'impl':<8} {'N':>8} {'seconds':>9} {'µs/item':>9} {'ΔRSS':>10} {'B/item':>8}")
    rows: dict[str, list[tuple[int, dict[str, float]]]] = {"asyncio": [], "plait": []}
    for impl in ("asyncio", "plait"):
        for n in sizes:
            figures = _child(impl, n)
            rows[impl].append((n, figures))
            per_item = figures["rss_kib"] * 1024 / n
            print(
                f"{impl:<8} {n:>8,} {figures['seconds']:>9.3f} "
                f"{figures['seconds'] / n * 1e6:>9.1f} {figures['rss_kib'] / 1024:>8.1f}Mi "
                f"{per_item:>8.0f}"
            )
    (n1, small), (n2, large) = rows["plait"]
    marginal = (large["rss_kib"] - small["rss_kib"]) * 1024 / (n2 - n1)
    print(f"plait marginal memory per extra item: {marginal:.0f} B (window state is constant)")


if __name__ == "__main__":
    main()
