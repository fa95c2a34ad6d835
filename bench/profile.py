"""Where plait spends its time (cProfile) or memory (tracemalloc) on one workload.

python -m bench.profile W3                 # cProfile of one run, top functions
python -m bench.profile W4 --quick         # W4 at 10,000 nodes, every phase
python -m bench.profile W4 --memory        # allocation sites alive at the peak
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import sys
import tempfile
import tracemalloc
from pathlib import Path

from bench import workloads as w
from bench.child import Spec, prepare, warm_up
from bench.cli import FULL, QUICK, write_w4_file


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("workload", choices=("W1", "W2", "W3", "W4"))
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
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


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
    n = {"W1": sizes.w1, "W2": sizes.w2, "W3": sizes.w3, "W4": sizes.w4}[args.workload]
    with tempfile.TemporaryDirectory(prefix="plait-profile-") as folder:
        file = write_w4_file(Path(folder), n, "json") if args.workload == "W4" else None
        spec = Spec(args.workload, "plait", n, 1, file=str(file) if file else None)
        report = memory_profile if args.memory else time_profile
        sys.stdout.write(report(spec, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
