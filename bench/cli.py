"""Run every workload, plait and plain asyncio, each in a fresh process; print the table.

python -m bench [--quick] [--json] [--repeat N] [--only W1,S1] [--w4-format yaml]
                [--pg-url URL]

S1 runs W1 with no store and recorded in each store (memory, SQLite, PostgreSQL).
T1 runs W1 and W3 with and without tracing and metrics (bench/tracing.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from bench import report, stores, tracing, workloads
from bench.child import Spec

ROOT = Path(__file__).resolve().parent.parent
IMPLS = ("asyncio", "plait")
WORKLOADS = ("W1", "W2", "W3", "W4", "S1", "T1")
CHILD_TIMEOUT_S = 900


@dataclass(frozen=True)
class Sizes:
    w1: int
    w2: int
    w3: int
    w4: int
    repeat: int
    repeat_w4: int


FULL = Sizes(w1=10_000, w2=10_000, w3=1_000, w4=100_000, repeat=5, repeat_w4=3)
QUICK = Sizes(w1=1_000, w2=1_000, w3=1_000, w4=10_000, repeat=2, repeat_w4=1)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--repeat", type=int, help="timed repeats per measurement")
    parser.add_argument("--only", default=",".join(WORKLOADS), help="e.g. W1,W3 or S1")
    parser.add_argument("--w4-format", choices=("json", "yaml"), default="json")
    parser.add_argument(
        "--pg-url",
        default=stores.DEFAULT_PG_URL,
        help=f"S1's PostgreSQL (default {stores.DEFAULT_PG_URL}); skipped if unreachable",
    )
    return parser.parse_args(argv)


def specs(sizes: Sizes, only: list[str], w4_file: Path | None, pg_url: str) -> list[Spec]:
    n = {"W1": sizes.w1, "W2": sizes.w2, "W3": sizes.w3, "W4": sizes.w4, "S1": sizes.w1}
    found = []
    for workload in only:
        if workload == "T1":  # W1 and W3, each with its variants in one process
            found += [
                Spec("T1", impl, n[impl], sizes.repeat, pg_url=pg_url) for impl in tracing.VARIANTS
            ]
            continue
        repeat = sizes.repeat_w4 if workload == "W4" else sizes.repeat
        file = str(w4_file) if workload == "W4" and w4_file else None
        impls = stores.STORE_KINDS if workload == "S1" else IMPLS
        found += [
            Spec(workload, impl, n[workload], repeat, file=file, pg_url=pg_url) for impl in impls
        ]
    return found


def write_w4_file(folder: Path, n: int, suffix: str) -> Path:
    """The W4 workflow file, written once, read by both implementations."""
    template = Spec("W4", "plait", n, 1)
    deps = workloads.dag_layers(n, template.width, template.edges, template.seed)
    definition = workloads.dag_definition(deps, template.width)
    return workloads.write_definition(definition, folder / f"w4-dag.{suffix}")


def run_child(spec: Spec) -> dict[str, Any]:
    """Measure one spec in a fresh interpreter; an error is recorded, not raised."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    command = [sys.executable, "-m", "bench.child", json.dumps(asdict(spec))]
    try:
        done = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        return {**asdict(spec), "error": f"timed out after {CHILD_TIMEOUT_S} s"}
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {**asdict(spec), "error": f"exit {done.returncode}: {last}"}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def header(args: argparse.Namespace, sizes: Sizes) -> str:
    mode = "quick" if args.quick else "full"
    return (
        f"plait benchmark ({mode}) — Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, best of {sizes.repeat} (W4: best of {sizes.repeat_w4} "
        f"full passes), each workload in a fresh process after a warm-up"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if args.repeat:
        sizes = replace(sizes, repeat=args.repeat, repeat_w4=args.repeat)
    only = [w.strip().upper() for w in args.only.split(",") if w.strip()]
    unknown = [w for w in only if w not in WORKLOADS]
    if unknown:
        print(f"unknown workload {', '.join(unknown)}: use {', '.join(WORKLOADS)}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="plait-bench-") as folder:
        w4_file = write_w4_file(Path(folder), sizes.w4, args.w4_format) if "W4" in only else None
        results = []
        for spec in specs(sizes, only, w4_file, args.pg_url):
            print(f"… {spec.workload} {spec.impl} (n={spec.n:,})", file=sys.stderr, flush=True)
            results.append(run_child(spec))
    if args.json:
        document = {
            "header": header(args, sizes),
            "results": results,
            "targets": [v.as_dict() for v in report.verdicts(results)],
        }
        print(json.dumps(document, indent=2))
    else:
        print(report.render(results, header(args, sizes)))
    return 1 if any("error" in r for r in results) else 0
