"""Where plait spends its time (cProfile) or memory (tracemalloc) on one workload.

python -m bench.profile W3                 # cProfile of one run, top functions
python -m bench.profile W4 --quick         # W4 at 10,000 nodes, every phase
python -m bench.profile W4 --memory        # allocation sites alive at the peak
python -m bench.profile S1 --store sqlite  # W1 recorded in a fresh SQLite file
python -m bench.profile S1 --threads       # ... and the writer thread, profiled apart

cProfile sees only the thread it is enabled on: the event loop's. A store's writes are
committed by a writer thread (and the store is opened in ``asyncio.to_thread``), so for
S1 the main thread's and the process's CPU times are printed too; ``--threads`` gives
every thread started during the profiled run a profiler of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path
from types import FrameType
from typing import Any

from bench import stores
from bench import workloads as w
from bench.child import Spec, prepare, warm_up
from bench.cli import FULL, QUICK, write_w4_file


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("workload", choices=("W1", "W2", "W3", "W4", "S1"))
    parser.add_argument("--store", choices=stores.STORE_KINDS, default="sqlite", help="S1's")
    parser.add_argument("--pg-url", default=stores.DEFAULT_PG_URL, help="S1's PostgreSQL")
    parser.add_argument(
        "--threads", action="store_true", help="S1: profile the other threads (writer) too"
    )
    parser.add_argument("--quick", action="store_true", help="the --quick sizes")
    parser.add_argument("--top", type=int, default=20, help="how many rows to print")
    parser.add_argument("--memory", action="store_true", help="tracemalloc instead")
    return parser.parse_args(argv)


async def run_once(spec: Spec, profiler: cProfile.Profile) -> None:
    """Warm up, set up, then profile one full-size run (every phase for W4)."""
    await warm_up(spec)
    if spec.workload == "W4":
        assert spec.file is not None
        profiler.enable()
        await w.plait_dag_phases(Path(spec.file), spec.n)
    else:
        prepared = prepare(spec)
        await prepared.run()
        profiler.enable()
        await prepared.run()
    profiler.disable()


def time_profile(spec: Spec, top: int) -> str:
    profiler = cProfile.Profile()
    asyncio.run(run_once(spec, profiler))
    return print_stats(profiler, top)


def print_stats(profiler: cProfile.Profile | list[cProfile.Profile], top: int) -> str:
    out = io.StringIO()
    profilers = profiler if isinstance(profiler, list) else [profiler]
    stats = pstats.Stats(*profilers, stream=out).strip_dirs()
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def profile_new_threads() -> list[cProfile.Profile]:
    """Give every thread started from now on a profiler of its own (a profiler is per
    thread); ``threading.setprofile(None)`` stops it for later threads."""
    profilers: list[cProfile.Profile] = []

    def start(_frame: FrameType, _event: str, _arg: Any) -> None:
        profiler = cProfile.Profile()
        profilers.append(profiler)
        profiler.enable()  # replaces this hook for the rest of the thread

    threading.setprofile(start)
    return profilers


async def store_run_once(spec: Spec, threads: bool) -> str:
    """S1: warm up, one discarded run, then one profiled run with a fresh store."""
    store = spec.impl
    await stores.warm_up(store, min(spec.n, 200), spec.pg_url)
    wf, _ = stores.workflow(spec.n)
    await stores.run_once(wf, store, spec.n, spec.pg_url)
    main = cProfile.Profile()
    others = profile_new_threads() if threads else []
    with stores.fresh_store(store, spec.pg_url) as target:
        started = time.perf_counter()
        cpu_started, main_started = time.process_time(), time.thread_time()
        main.enable()
        result = await wf.run(store=target)
        main.disable()
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        main_cpu = time.thread_time() - main_started
        threading.setprofile(None)
        w.check_fan(spec.n)(result)
        stores.verify(target, result.run_id, spec.n)
    lines = [
        f"S1 {store}: {spec.n + 2:,} steps, under cProfile: wall {wall:.3f} s, "
        f"process CPU {cpu:.3f} s, main thread CPU {main_cpu:.3f} s, "
        f"other threads (writer, to_thread) CPU {cpu - main_cpu:.3f} s",
        "",
        "== main thread (the event loop) ==",
        print_stats(main, 20),
    ]
    if threads:
        lines += [f"== {len(others)} other threads, merged ==", print_stats(others, 20)]
    else:
        lines.append("(the writer thread is not in this profile: add --threads)")
    return "\n".join(lines) + "\n"


async def dag_until_compiled(path: Path) -> tracemalloc.Snapshot:
    """W4 load, validate, compile: the snapshot is taken where plait's memory peaks
    (the definition models and the Plan both alive)."""
    from plait.compiler import compile_loaded
    from plait.definition.loader import parse_definition, read_document

    data, text = read_document(path)
    loaded = parse_definition(data, file=str(path), source=text)
    del data
    plan = compile_loaded(loaded)
    snapshot = tracemalloc.take_snapshot()
    del plan, loaded
    return snapshot


def memory_profile(spec: Spec, top: int) -> str:
    if spec.workload != "W4" or spec.file is None:
        return "--memory profiles W4 only\n"
    asyncio.run(warm_up(spec))
    tracemalloc.start(1)
    snapshot = asyncio.run(dag_until_compiled(Path(spec.file)))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    lines = [f"traced peak: {peak / 2**20:.1f} MiB ({peak / spec.n:,.0f} B/node)"]
    for stat in snapshot.statistics("lineno")[:top]:
        frame = stat.traceback[0]
        where = f"{Path(frame.filename).name}:{frame.lineno}"
        lines.append(f"{stat.size / 2**20:8.1f} MiB {stat.count:>9,} blocks  {where}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = QUICK if args.quick else FULL
    size = {"W1": sizes.w1, "W2": sizes.w2, "W3": sizes.w3, "W4": sizes.w4, "S1": sizes.w1}
    n = size[args.workload]
    if args.workload == "S1":
        spec = Spec("S1", args.store, n, 1, pg_url=args.pg_url)
        sys.stdout.write(asyncio.run(store_run_once(spec, args.threads)))
        return 0
    with tempfile.TemporaryDirectory(prefix="plait-profile-") as folder:
        file = write_w4_file(Path(folder), n, "json") if args.workload == "W4" else None
        spec = Spec(args.workload, "plait", n, 1, file=str(file) if file else None)
        report = memory_profile if args.memory else time_profile
        sys.stdout.write(report(spec, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
