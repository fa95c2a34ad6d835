"""Ctrl-C on ``plait run``: seconds from SIGINT to the process's exit (target: < 2 s).

The workflow of tests/cli/test_interrupt.py: a ``shell`` step running ``sleep 60``, a
map of three 60 s sleeps, a group of two, and a step after the shell one, recorded in
a SQLite store. Once the shell step's process is up, SIGINT goes to plait's process
group (as a terminal's Ctrl-C does); the time is taken until plait has exited, the
run is recorded ``cancelled`` and the ``sleep`` is gone.

    python -m bench.interrupt            # 5 rounds
    python -m bench.interrupt --rounds 20
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORKFLOW = """\
name: interrupted
steps:
  - id: long
    tool: shell
    input:
      command: "echo $$ > {pid}.tmp && mv {pid}.tmp {pid} && exec sleep 60"
      shell: true
  - {{id: after, tool: echo, input: "${{long.output}}"}}
  - id: fan
    parallel:
      count: 3
      steps:
        - {{id: nap, tool: sleep, input: {{duration: 60s}}}}
  - id: both
    parallelGroup: {{steps: [left, right]}}
  - {{id: left, tool: sleep, input: {{duration: 60s}}}}
  - {{id: right, tool: sleep, input: {{duration: 60s}}}}
"""


def one_round(folder: Path) -> float:
    pid_file = folder / "sleep.pid"
    pid_file.unlink(missing_ok=True)
    path = folder / "wf.yaml"
    path.write_text(WORKFLOW.format(pid=pid_file), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PLAIT_STORE"}
    store = str(folder / "plait.db")
    proc = subprocess.Popen(
        [sys.executable, "-m", "plait", "run", str(path), "--json", "--store", store],
        cwd=folder,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not pid_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the shell step never started: {proc.communicate()}")
        time.sleep(0.005)
    sleep_pid = int(pid_file.read_text())
    sent = time.perf_counter()
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    elapsed = time.perf_counter() - sent
    doc = json.loads(out)
    if proc.returncode != 1 or doc["status"] != "cancelled":
        raise RuntimeError(f"exit {proc.returncode}, status {doc.get('status')}: {err}")
    try:
        os.kill(sleep_pid, 0)
    except ProcessLookupError:
        pass
    else:
        raise RuntimeError(f"the shell step's process {sleep_pid} outlived the run")
    return elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            times.append(one_round(Path(tmp)))
    print(
        f"Ctrl-C to exit, {args.rounds} rounds: median {statistics.median(times):.3f} s, "
        f"min {min(times):.3f} s, max {max(times):.3f} s (target < 2 s: "
        f"{'PASS' if max(times) < 2 else 'MISS'})"
    )


if __name__ == "__main__":
    main()
