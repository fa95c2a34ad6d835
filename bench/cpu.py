"""E1's unit of CPU-bound work, importable by worker processes (``bench.cpu:burn``)."""

from __future__ import annotations

import time


def burn(n: int) -> int:
    """A fixed amount of pure-Python work (``n`` loop turns): it holds the GIL for as
    long as it runs, so threads take turns while processes run side by side. (A loop
    that spins until a deadline would not do: N threads would all reach their deadlines
    together.)"""
    x = 0
    for i in range(n):
        x = (x + i * i) % 1_000_003
    return x


def calibrate(ms: float) -> int:
    """The ``n`` for which ``burn(n)`` takes about ``ms`` milliseconds here, alone."""
    n = 10_000
    while True:
        start = time.perf_counter()
        burn(n)
        elapsed = time.perf_counter() - start
        if elapsed > 0.02:
            return max(1, int(n * ms / 1000 / elapsed))
        n *= 2
