"""Peak resident set size of this process."""

from __future__ import annotations

import resource
import sys


def max_rss_kib() -> int:
    """This process's peak resident set size so far, in KiB.

    On Linux, ``/proc/self/status`` VmHWM: ``getrusage().ru_maxrss`` survives ``exec``,
    so in a child it is at least the parent's RSS at ``fork`` time, which would hide
    the workload. Elsewhere, ``ru_maxrss``.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return ru_maxrss_kib()


def ru_maxrss_kib() -> int:
    """``getrusage(RUSAGE_SELF).ru_maxrss`` in KiB (macOS reports bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak
