"""Targets, verdicts and the printed table. A missed target is reported, never fatal."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

Result = dict[str, Any]  # one child's JSON line (see bench.child.measure)

W12_MAX_RATIO = 4.0
W3_MAX_OVER_IDEAL = 0.10
W4_BUDGET_S = 15.0  # for 100,000 nodes; scaled linearly for other sizes (--quick)
W4_FULL_N = 100_000
W4_MAX_BYTES_PER_NODE = 2048
S1_SQLITE_MAX_RATIO = 3.0  # SQLite-recorded W1 within 3× the run with no store
S1_SQLITE_MIN_STEPS_S = 10_000  # recorded steps per second
S1_POSTGRES_MIN_STEPS_S = 3_000
T1_OFF_MAX_RATIO = 1.03  # W1, tracing set up but off: within 3% of no tracing
T1_ON_MAX_RATIO = 4.0  # W1 traced (a span per zero-work step): at most 4×
T1_W3_MAX_RATIO = 1.05  # W3 (10 ms steps) traced: at most 5% more
T1_METRICS_MAX_US = 3.0  # in-process metrics: at most 3 µs per step attempt

TITLES = {
    "W1": "W1 fan-out/fan-in",
    "W2": "W2 chain",
    "W3": "W3 bounded sleep",
    "W4": "W4 random DAG",
}
W4_PHASES = ("load", "validate", "compile", "run")


@dataclass(frozen=True)
class Verdict:
    workload: str
    target: str
    measured: str
    passed: bool
    skipped: bool = False  # not measured (e.g. PostgreSQL unreachable): neither

    @property
    def mark(self) -> str:
        return "SKIP" if self.skipped else "PASS" if self.passed else "MISS"

    def as_dict(self) -> dict[str, Any]:
        return {
            "workload": self.workload,
            "target": self.target,
            "measured": self.measured,
            "result": self.mark,
        }


def find(results: list[Result], workload: str, impl: str) -> Result | None:
    for r in results:
        if r["workload"] == workload and r["impl"] == impl and not failed(r):
            return r
    return None


def failed(r: Result) -> bool:
    """No figures: the child crashed (``error``) or could not measure (``skipped``)."""
    return "error" in r or "skipped" in r


def ratio(results: list[Result], workload: str, key: str = "best_s") -> float | None:
    """plait's best time over asyncio's: wall clock (``best_s``) or CPU (``best_cpu_s``)."""
    plait, base = find(results, workload, "plait"), find(results, workload, "asyncio")
    if plait is None or base is None:
        return None
    return float(plait[key]) / float(base[key])


def w3_ideal(result: Result) -> float:
    return math.ceil(int(result["n"]) / int(result["window"])) * float(result["sleep_s"])


def bytes_per_node(result: Result) -> float:
    return float(result["delta_rss_kib"]) * 1024 / int(result["n"])


def verdicts(results: list[Result]) -> list[Verdict]:
    found: list[Verdict] = []
    for workload in ("W1", "W2"):
        r, cpu = ratio(results, workload), ratio(results, workload, "best_cpu_s")
        if r is not None:
            target = f"plait ≤ {W12_MAX_RATIO:g}× asyncio"
            measured = f"{r:.2f}× (CPU time {cpu:.2f}×)"
            found.append(Verdict(workload, target, measured, r <= W12_MAX_RATIO))
    w3 = find(results, "W3", "plait")
    if w3 is not None:
        ideal = w3_ideal(w3)
        limit = ideal * (1 + W3_MAX_OVER_IDEAL)
        over = w3["best_s"] / ideal - 1
        target = f"≤ {limit:.3f} s (ideal {ideal:.3f} s + 10%)"
        measured = f"{w3['best_s']:.3f} s ({over:+.1%})"
        base = find(results, "W3", "asyncio")
        if base is not None:
            measured += f"; asyncio {base['best_s'] / ideal - 1:+.1%}"
        found.append(Verdict("W3", target, measured, w3["best_s"] <= limit))
    w4 = find(results, "W4", "plait")
    if w4 is not None:
        budget = W4_BUDGET_S * w4["n"] / W4_FULL_N
        target = f"total < {budget:g} s"
        found.append(Verdict("W4", target, f"{w4['best_s']:.2f} s", w4["best_s"] < budget))
        per_node = bytes_per_node(w4)
        target = f"peak memory < {W4_MAX_BYTES_PER_NODE} B/node"
        passed = per_node < W4_MAX_BYTES_PER_NODE
        found.append(Verdict("W4", target, f"{per_node:,.0f} B/node", passed))
    return found + s1_verdicts(results) + t1_verdicts(results)


def steps_per_s(r: Result) -> float:
    return float(r["steps"]) / float(r["best_s"])


def store_ratio(
    results: list[Result], impl: str, key: str = "best_s", base_impl: str = "none"
) -> float | None:
    """A store's best time over the best with no store, or with ``base_impl`` (S1)."""
    r, base = find(results, "S1", impl), find(results, "S1", base_impl)
    if r is None or base is None:
        return None
    return float(r[key]) / float(base[key])


def s1_verdicts(results: list[Result]) -> list[Verdict]:
    found: list[Verdict] = []
    sqlite = find(results, "S1", "sqlite")
    if sqlite is not None:
        rel, cpu = store_ratio(results, "sqlite"), store_ratio(results, "sqlite", "best_cpu_s")
        if rel is not None:
            target = f"SQLite ≤ {S1_SQLITE_MAX_RATIO:g}× no store"
            measured = f"{rel:.2f}× (CPU time {cpu:.2f}×)"
            found.append(Verdict("S1", target, measured, rel <= S1_SQLITE_MAX_RATIO))
        # The other reading of "the in-memory run": the same recording, into memory://.
        mem = store_ratio(results, "sqlite", base_impl="memory")
        if mem is not None:
            target = f"SQLite ≤ {S1_SQLITE_MAX_RATIO:g}× memory:// store"
            found.append(Verdict("S1", target, f"{mem:.2f}×", mem <= S1_SQLITE_MAX_RATIO))
        rate = steps_per_s(sqlite)
        target = f"SQLite ≥ {S1_SQLITE_MIN_STEPS_S:,} recorded steps/s"
        found.append(Verdict("S1", target, f"{rate:,.0f} steps/s", rate >= S1_SQLITE_MIN_STEPS_S))
    target = f"PostgreSQL ≥ {S1_POSTGRES_MIN_STEPS_S:,} recorded steps/s"
    pg = find(results, "S1", "postgres")
    if pg is not None:
        rate = steps_per_s(pg)
        passed = rate >= S1_POSTGRES_MIN_STEPS_S
        found.append(Verdict("S1", target, f"{rate:,.0f} steps/s", passed))
    elif any(r["workload"] == "S1" and r["impl"] == "postgres" and "skipped" in r for r in results):
        found.append(Verdict("S1", target, "not measured: unreachable", False, skipped=True))
    return found


def t1_steps(r: Result) -> int:
    """The steps of one T1 run: W1's members, group and join; W3's members and group."""
    return int(r["n"]) + (2 if r["impl"] == "W1" else 1)


def t1_ratio(r: Result, variant: str, key: str) -> float:
    variants = r["variants"]
    return float(variants[variant][key]) / float(variants["none"][key])


def t1_verdicts(results: list[Result]) -> list[Verdict]:
    """W1's on CPU time (what the hooks and spans cost the process; wall clock on a
    shared machine adds other programs' load), W3's on wall clock (its steps sleep)."""
    found: list[Verdict] = []
    w1, w3 = find(results, "T1", "W1"), find(results, "T1", "W3")
    if w1 is not None:
        off, off_wall = t1_ratio(w1, "off", "best_cpu_s"), t1_ratio(w1, "off", "best_s")
        target = f"W1 tracing off ≤ {T1_OFF_MAX_RATIO:g}× none (CPU)"
        measured = f"{off:.3f}× (wall {off_wall:.3f}×)"
        found.append(Verdict("T1", target, measured, off <= T1_OFF_MAX_RATIO))
        on, on_wall = t1_ratio(w1, "on", "best_cpu_s"), t1_ratio(w1, "on", "best_s")
        target = f"W1 tracing on ≤ {T1_ON_MAX_RATIO:g}× none (CPU)"
        measured = f"{on:.2f}× (wall {on_wall:.2f}×)"
        found.append(Verdict("T1", target, measured, on <= T1_ON_MAX_RATIO))
        variants = w1["variants"]
        extra = variants["metrics"]["best_cpu_s"] - variants["none"]["best_cpu_s"]
        end_to_end = extra / t1_steps(w1) * 1e6
        per_step = float(w1["metrics_us_per_step"])
        target = f"metrics ≤ {T1_METRICS_MAX_US:g} µs/step (CPU)"
        measured = f"{per_step:.2f} µs/step (W1: {end_to_end:+.2f})"
        found.append(Verdict("T1", target, measured, per_step <= T1_METRICS_MAX_US))
    if w3 is not None:
        on = t1_ratio(w3, "on", "best_s")
        target = f"W3 tracing on ≤ {T1_W3_MAX_RATIO:g}× none (wall)"
        measured = f"{on:.3f}× (CPU {t1_ratio(w3, 'on', 'best_cpu_s'):.2f}×)"
        found.append(Verdict("T1", target, measured, on <= T1_W3_MAX_RATIO))
    return found


# -- the table ---------------------------------------------------------------------------

ROW = "{:<28} {:<8} {:>10} {:>9} {:>9} {:>8} {:>9} {:>10} {:>10}"


def mib(kib: float) -> str:
    return f"{kib / 1024:.1f} MiB"


def result_row(label: str, r: Result, results: list[Result]) -> str:
    if "error" in r:
        return f"{label:<28} {r['impl']:<8} ERROR: {r['error']}"
    per_step = r["best_s"] / r["n"] * 1e6
    cpu_per_step = r["best_cpu_s"] / r["n"] * 1e6
    rel = ratio(results, r["workload"]) if r["impl"] == "plait" else 1.0
    setup = f"{r['setup_s']:.3f} s" if r["setup_s"] else "—"
    return ROW.format(
        label,
        r["impl"],
        f"{r['best_s']:.4f} s",
        f"{per_step:.2f}",
        f"{cpu_per_step:.2f}",
        f"{rel:.2f}×" if rel is not None else "—",
        setup,
        mib(r["peak_rss_kib"]),
        mib(r["delta_rss_kib"]),
    )


def main_table(results: list[Result]) -> list[str]:
    lines = [
        ROW.format(
            "workload", "impl", "best", "µs/step", "CPU µs", "ratio", "setup", "peak RSS", "ΔRSS"
        ),
        "-" * 110,
    ]
    for workload, title in TITLES.items():
        rows = [r for r in results if r["workload"] == workload]
        for i, r in enumerate(rows):
            label = f"{title} ({r['n']:,})" if i == 0 else ""
            lines.append(result_row(label, r, results))
    return lines


W4_ROW = "{:<8} {:<16}" + " {:>9}" * 5 + " {:>10} {:>14}"


def w4_rows(r: Result) -> list[str]:
    """Two rows for one implementation: each phase's time, then the peak RSS over the
    baseline once that phase is over (the phase that raises it holds the peak)."""
    times = [f"{r['phases'][p]:.3f}" if p in r["phases"] else "—" for p in W4_PHASES]
    peaks = r.get("phase_delta_rss_kib", {})
    memory = [f"{peaks[p] / 1024:.1f}" if p in peaks else "—" for p in W4_PHASES]
    peak_per_node = r["peak_rss_kib"] * 1024 / r["n"]
    return [
        W4_ROW.format(
            r["impl"],
            "time (s)",
            *times,
            f"{r['best_s']:.3f}",
            f"{bytes_per_node(r):,.0f} B",
            f"{peak_per_node:,.0f} B",
        ),
        W4_ROW.format("", "peak ΔRSS (MiB)", *memory, "", "", "").rstrip(),
    ]


def w4_table(results: list[Result]) -> list[str]:
    rows = [r for r in results if r["workload"] == "W4" and "error" not in r]
    if not rows:
        return []
    lines = [
        "",
        f"W4 phases, best pass, {rows[0]['n']:,} nodes",
        W4_ROW.format("impl", "", *W4_PHASES, "total", "ΔRSS/node", "peak RSS/node"),
    ]
    for r in rows:
        lines += w4_rows(r)
    return lines


S1_ROW = "{:<9} {:>9} {:>9} {:>9} {:>10} {:>7} {:>7} {:>8} {:>24}"


def s1_row(r: Result, results: list[Result]) -> str:
    if "error" in r:
        return f"{r['impl']:<9} ERROR: {r['error']}"
    if "skipped" in r:
        return f"{r['impl']:<9} SKIPPED: {r['skipped']}"
    rel = store_ratio(results, r["impl"])
    cpu = store_ratio(results, r["impl"], "best_cpu_s")
    verified = f"{r['rows']:,} steps, {r['events']:,} events" if r["verified"] else "—"
    return S1_ROW.format(
        r["impl"],
        f"{r['best_s']:.4f} s",
        f"{r['best_cpu_s']:.4f} s",
        f"{r['best_main_cpu_s']:.4f} s",
        f"{steps_per_s(r):,.0f}",
        f"{rel:.2f}×" if rel is not None else "—",
        f"{cpu:.2f}×" if cpu is not None else "—",
        f"{r['open_s'] * 1000:.1f} ms" if r["open_s"] is not None else "—",
        verified,
    )


def s1_table(results: list[Result]) -> list[str]:
    rows = [r for r in results if r["workload"] == "S1"]
    if not rows:
        return []
    n = rows[0]["n"]
    return [
        "",
        f"S1 W1 ({n:,} no-op steps + group + join = {n + 2:,} steps) recorded in a store, "
        "a fresh store each run",
        S1_ROW.format(
            "store", "best", "CPU", "main CPU", "steps/s", "ratio", "CPU ×", "open", "verified"
        ),
        "-" * 101,
        *(s1_row(r, results) for r in rows),
    ]


T1_ROW = "{:<4} {:<8} {:>10} {:>9} {:>10} {:>9} {:>8} {:>8}"


def t1_table(results: list[Result]) -> list[str]:
    rows = [r for r in results if r["workload"] == "T1"]
    if not rows:
        return []
    lines = [
        "",
        "T1 tracing and metrics: each workload's variants interleaved in one process",
        T1_ROW.format("", "variant", "best", "µs/step", "CPU", "CPU µs", "ratio", "CPU ×"),
        "-" * 74,
    ]
    for r in rows:
        if failed(r):
            lines.append(f"{r['impl']:<4} {'ERROR: ' + str(r.get('error', r.get('skipped')))}")
            continue
        steps = t1_steps(r)
        for name, v in r["variants"].items():
            lines.append(
                T1_ROW.format(
                    r["impl"] if name == "none" else "",
                    name,
                    f"{v['best_s']:.4f} s",
                    f"{v['best_s'] / steps * 1e6:.2f}",
                    f"{v['best_cpu_s']:.4f} s",
                    f"{v['best_cpu_s'] / steps * 1e6:.2f}",
                    f"{t1_ratio(r, name, 'best_s'):.3f}×",
                    f"{t1_ratio(r, name, 'best_cpu_s'):.3f}×",
                )
            )
    return lines


def verdict_table(found: list[Verdict]) -> list[str]:
    lines = ["", "Targets"]
    for v in found:
        lines.append(f"  {v.workload:<4} {v.target:<36} {v.measured:<34} {v.mark}")
    return lines


def render(results: list[Result], header: str) -> str:
    lines = [header]
    if any(r["workload"] in TITLES for r in results):
        lines += ["", *main_table(results)]
    lines += [*w4_table(results), *s1_table(results), *t1_table(results)]
    return "\n".join([*lines, *verdict_table(verdicts(results))])
