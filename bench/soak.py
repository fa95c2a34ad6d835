"""Soak: many concurrent runs for minutes; memory stays flat, every slot comes back.

Rounds of 20 concurrent runs of a 1,000-step workflow (100 chains of 10 steps; half
the steps in a pool of 50, the global pool 100), each attempt of each step failing
with probability 5 %, retried up to 3 attempts after 1 ms (steps that fail all three
continue on error). After every run: each of its pools holds 0 slots and queues
nothing, no task is left on the loop, no thread beyond the baseline. RSS and the
blocks Python's allocator holds for live objects are sampled (after ``gc.collect()``
and glibc's ``malloc_trim``) at the end of the warm-up (20 s), every 30 s, and at the
end.

The same rounds in plain asyncio (one task per step awaiting its chain predecessor,
two semaphores, the same failure and retry rule) run in the same invocation, each
implementation in a fresh process.

    python -m bench.soak                  # plait 3 minutes, asyncio 1 minute
    python -m bench.soak --minutes 0.5    # a smoke run
    python -m bench.soak --store memory   # record each run in a fresh MemoryStore
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import gc
import json
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

RUNS = 20  # concurrent runs per round
STEPS = 1_000
CHAINS = 100  # STEPS / CHAINS steps per chain; step i depends on step i - CHAINS
WINDOW, POOL = 100, 50  # the global pool, and the pool of the odd steps
FAIL_P = 0.05  # per attempt
ATTEMPTS = 3
BACKOFF_S = 0.001
WARMUP_SECONDS = 20.0  # or a quarter of the soak, if shorter
SAMPLE_EVERY = 30.0  # seconds between two RSS samples
FLAT = 0.10  # RSS at the end within 10 % of RSS after the warm-up

_rng = random.Random(5)
_counts = {"attempts": 0, "failed_attempts": 0}


def rss_kib() -> int:
    """This process's resident set size now (Linux /proc), in KiB."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


async def _step_work() -> int:
    """One attempt: yield to the loop once, then fail with probability FAIL_P."""
    _counts["attempts"] += 1
    await asyncio.sleep(0)
    if _rng.random() < FAIL_P:
        _counts["failed_attempts"] += 1
        raise RuntimeError("soak: a random failure")
    return 1


# -- plait ---------------------------------------------------------------------------------


def definition() -> dict[str, Any]:
    steps: list[dict[str, Any]] = []
    for i in range(STEPS):
        step: dict[str, Any] = {
            "id": f"s{i}",
            "tool": "soak_step",
            "retry": {"maxAttempts": ATTEMPTS, "backoff": {"initial": f"{BACKOFF_S * 1000:g}ms"}},
            "continueOnError": True,
        }
        if i >= CHAINS:
            step["dependsOn"] = [f"s{i - CHAINS}"]
        if i % 2:
            step["pool"] = "half"
        steps.append(step)
    return {
        "name": "soak",
        "parallelConfig": {"maxConcurrent": WINDOW},
        "pools": {"half": {"maxConcurrent": POOL}},
        "steps": steps,
    }


def plait_round(store: str) -> Callable[[], Coroutine[Any, Any, tuple[int, list[str]]]]:
    import plait
    from plait.errors import ToolError

    @plait.tool("soak_step")
    async def soak_step() -> int:
        try:
            return await _step_work()
        except RuntimeError as exc:
            raise ToolError(str(exc), type="Flaky") from None

    wf = plait.Workflow.from_dict(definition())
    wf.validate()

    async def one() -> tuple[int, list[str]]:
        recorder = None
        if store == "memory":
            from plait.store.memory import MemoryStore

            recorder = MemoryStore()
        run = wf.create_run(store=recorder)
        result = await run.execute()
        problems = [
            f"pool {name}: {pool.active} active, {pool.queue_length} queued"
            for name, pool in run.pools.items()
            if pool.active or pool.queue_length
        ]
        if result.status.value != "succeeded":
            problems.append(f"run {result.status.value}")
        return len(result.steps), problems

    async def round_() -> tuple[int, list[str]]:
        outcomes = await asyncio.gather(*(one() for _ in range(RUNS)))
        return _tally(outcomes)

    return round_


# -- plain asyncio -------------------------------------------------------------------------


def asyncio_round() -> Callable[[], Coroutine[Any, Any, tuple[int, list[str]]]]:
    async def one() -> tuple[int, list[str]]:
        window, half = asyncio.Semaphore(WINDOW), asyncio.Semaphore(POOL)
        tasks: list[asyncio.Task[int | None]] = []

        async def step(i: int) -> int | None:
            if i >= CHAINS:
                await asyncio.wait([tasks[i - CHAINS]])
            for attempt in range(1, ATTEMPTS + 1):
                async with window:
                    if i % 2:
                        async with half:
                            outcome = await _attempt()
                    else:
                        outcome = await _attempt()
                if outcome is not None:
                    return outcome
                if attempt < ATTEMPTS:
                    await asyncio.sleep(BACKOFF_S)
            return None  # failed every attempt: continue on error

        for i in range(STEPS):
            tasks.append(asyncio.create_task(step(i)))
        outputs = await asyncio.gather(*tasks)
        return len(outputs), []

    async def round_() -> tuple[int, list[str]]:
        outcomes = await asyncio.gather(*(one() for _ in range(RUNS)))
        return _tally(outcomes)

    return round_


def _tally(outcomes: list[tuple[int, list[str]]]) -> tuple[int, list[str]]:
    """Steps run and problems found in a round, and any task it left on the loop."""
    problems = [p for _, found in outcomes for p in found]
    left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    if left:
        problems.append(f"{len(left)} tasks left on the loop")
    return sum(n for n, _ in outcomes), problems


async def _attempt() -> int | None:
    try:
        return await _step_work()
    except RuntimeError:
        return None


# -- one implementation, in this process ---------------------------------------------------


def soak(impl: str, seconds: float, store: str) -> dict[str, Any]:
    """Rounds until ``seconds`` have passed; the first ``warm-up`` ones are not timed."""
    round_ = plait_round(store) if impl == "plait" else asyncio_round()
    threads = threading.active_count()
    warmup = min(WARMUP_SECONDS, seconds / 4)
    # (seconds after the warm-up, RSS KiB, live Python memory blocks)
    samples: list[tuple[float, int, int]] = []
    problems: list[str] = []
    steps = rounds = 0
    started = time.perf_counter()
    warm_at: float | None = None
    while True:
        n, found = asyncio.run(round_())
        if threading.active_count() > threads:
            found.append(f"{threading.active_count() - threads} threads over the baseline")
        problems += found
        rounds += 1
        now = time.perf_counter()
        if warm_at is None:
            if now - started < warmup:
                continue
            warm_at = now
            samples.append((0.0, *_settled()))
            continue
        steps += n
        if now - started >= seconds:
            break
        if now - warm_at - samples[-1][0] >= SAMPLE_EVERY:
            samples.append((now - warm_at, *_settled()))
            print(
                f"  {impl}: {samples[-1][0]:5.0f} s, RSS {samples[-1][1] / 1024:.1f} MiB",
                file=sys.stderr,
                flush=True,
            )
    timed = time.perf_counter() - warm_at
    samples.append((timed, *_settled()))
    return {
        "impl": impl,
        "runs": rounds * RUNS,
        "runs_timed": steps // STEPS,
        "seconds_timed": timed,
        "steps_per_s": steps / timed,
        "samples": samples,
        "attempts": _counts["attempts"],
        "failed_attempts": _counts["failed_attempts"],
        "problems": problems[:20],
        "problem_count": len(problems),
    }


def _settled() -> tuple[int, int]:
    """RSS, and the blocks Python's allocator holds for live objects: a leak of
    objects grows the second; an allocator keeping freed memory only the first. glibc's
    free heap pages are handed back first (malloc_trim), so RSS shows what is held."""
    gc.collect()
    _trim()
    return rss_kib(), sys.getallocatedblocks()


def _trim() -> None:
    with contextlib.suppress(OSError, AttributeError):  # not glibc: RSS as it is
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _child(impl: str, seconds: float, store: str) -> dict[str, Any]:
    code = (
        "import json; from bench.soak import soak; "
        f"print(json.dumps(soak({impl!r}, {seconds!r}, {store!r})))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], check=True, stdout=subprocess.PIPE, text=True
    )
    figures: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="plait's soak (default 3)")
    parser.add_argument(
        "--baseline-minutes",
        type=float,
        default=None,
        help="plain asyncio's soak (default: a third of --minutes, at least 0.25)",
    )
    parser.add_argument("--store", choices=["none", "memory"], default="none")
    args = parser.parse_args(argv)
    baseline = args.baseline_minutes
    if baseline is None:
        baseline = max(args.minutes / 3, 0.25)
    print(
        f"soak: rounds of {RUNS} concurrent runs x {STEPS} steps ({CHAINS} chains), "
        f"{FAIL_P:.0%} failed attempts, up to {ATTEMPTS} attempts; store {args.store}; "
        f"warm-up {WARMUP_SECONDS:g} s; each implementation in a fresh process"
    )
    ok = True
    for impl, minutes in (("asyncio", baseline), ("plait", args.minutes)):
        f = _child(impl, minutes * 60, args.store)
        samples = f["samples"]
        warm, end = samples[0][1], samples[-1][1]
        blocks_warm, blocks_end = samples[0][2], samples[-1][2]
        growth = end / warm - 1
        flat = "PASS" if growth <= FLAT else "MISS"
        leaks = "none" if not f["problem_count"] else f"{f['problem_count']}: {f['problems'][:3]}"
        print(
            f"{impl}: {f['runs']:,} runs, {f['steps_per_s']:,.0f} steps/s over "
            f"{f['seconds_timed']:.0f} s after the warm-up; {f['attempts']:,} attempts, "
            f"{f['failed_attempts']:,} failed ({f['failed_attempts'] / max(1, f['attempts']):.2%})"
        )
        trail = ", ".join(f"{t:.0f}s {kib / 1024:.1f}" for t, kib, _ in samples)
        print(f"  RSS MiB: {trail}")
        print(
            f"  RSS after warm-up {warm / 1024:.1f} MiB, at the end {end / 1024:.1f} MiB "
            f"({growth:+.1%}; flat within {FLAT:.0%}: {flat}); slots, tasks, threads "
            f"after every run: {leaks}"
        )
        print(
            f"  live Python memory blocks: {blocks_warm:,} after warm-up, {blocks_end:,} at "
            f"the end ({blocks_end - blocks_warm:+,})"
        )
        ok = ok and flat == "PASS" and not f["problem_count"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
