"""Chaos: SIGKILL ``plait run`` and ``plait resume`` at random moments, on SQLite and
PostgreSQL, resume until every run has finished, and count what ran twice.

A workflow of 41 steps (a group of 12 members at most 4 at once, a map of 6 branches, a
side branch of 4, a chain of 8, a join) whose steps append ``start NODE PID`` to a
side-effect log (fsync'ed) before working a few milliseconds. Each run is killed and
resumed, killed again or not, until a resume finishes it; the seeded dice pick how many
times and when: at a random instant after the process starts (in its imports, while
it opens the store or takes the lease, ...) or once its steps have logged a random
number of starts, plus a few milliseconds. After every kill the store is read (every
run readable, its document buildable) and its ``succeeded`` steps noted.

Counted per store:

- kills (in ``run``, in ``resume``), resumes;
- succeeded-then-rerun: a step that started again after the store recorded it
  ``succeeded`` (must be 0: a success is reused, never run again);
- run twice by one process: a step started twice by the same process (must be 0);
- re-run after a kill: starts of a step a kill interrupted before its success was
  recorded (the tool cannot tell; at-least-once, expected);
- unreadable stores, runs not finished with the outputs of an uninterrupted run,
  processes that failed on their own (all must be 0).

    python -m bench.chaos                     # 20 kills per store
    python -m bench.chaos --kills 50 --seed 7 --stores sqlite
    python -m bench.chaos --pg-url postgresql://postgres@127.0.0.1:5432/test

On PostgreSQL a new database is made for the campaign and dropped after it. The exit
status is 1 if any must-be-0 count is not 0.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEADLINE = 60.0  # the longest one process may take before the campaign fails

MEMBERS = [f"m{i:02d}" for i in range(12)]
BRANCHES = 6
SIDE = [f"s{i}" for i in range(4)]
CHAIN = [f"c{i}" for i in range(8)]
MAPPED = [f"each<{i}>" for i in range(BRANCHES)]
TASKS = ["start", *MEMBERS, *MAPPED, *SIDE, *CHAIN, "join"]

HELPER = '''
"""Chaos steps: note the start (durably, with the process id), work a little, answer."""

import hashlib
import json
import os
import random
import time


def work(step, log, value=None):
    with open(log, "a", encoding="utf-8") as f:
        f.write(f"start {step} {os.getpid()}\\n")
        f.flush()
        os.fsync(f.fileno())
    time.sleep(random.uniform(0.002, 0.02))
    text = json.dumps([step, value], sort_keys=True)
    return {"step": step, "digest": hashlib.sha256(text.encode()).hexdigest()[:16]}
'''


def workflow() -> dict[str, Any]:
    def task(step_id: str, node: str, value: object, **keys: object) -> dict[str, Any]:
        args = {"step": node, "log": "${inputs.log}", "value": value}
        return {
            "id": step_id,
            "tool": "python",
            "input": {"function": "chaos_steps:work", "args": args},
            **keys,
        }

    steps: list[dict[str, Any]] = [task("start", "start", 1)]
    steps.append(
        {
            "id": "fan",
            "dependsOn": ["start"],
            "parallelGroup": {"steps": MEMBERS, "maxConcurrent": 4},
        }
    )
    steps += [task(m, m, "${start.output.digest}") for m in MEMBERS]
    body = task("each", "each<${parallel.index}>", "${parallel.item}")
    steps.append(
        {
            "id": "map",
            "dependsOn": ["start"],
            "parallel": {"items": list(range(BRANCHES)), "maxConcurrent": 3, "steps": [body]},
        }
    )
    steps += [task(s, s, i) for i, s in enumerate(SIDE)]
    previous = "${fan.output}"
    for i, step_id in enumerate(CHAIN):
        steps.append(task(step_id, step_id, previous, **({"dependsOn": ["fan"]} if not i else {})))
        previous = f"${{{step_id}.output}}"
    side = [f"${{{s}.output.digest}}" for s in SIDE]
    join = {"chain": f"${{{CHAIN[-1]}.output}}", "side": side, "map": "${map.output}"}
    steps.append(task("join", "join", join))
    return {
        "name": "chaos",
        "inputs": {"log": {"type": "string"}},
        "steps": steps,
        "outputs": {"final": "${join.output.digest}"},
    }


@dataclass
class Counts:
    store: str
    runs: int = 0
    kills: int = 0
    kills_in_run: int = 0
    kills_in_resume: int = 0
    resumes: int = 0
    step_starts: int = 0
    rerun_after_kill: int = 0  # expected: at-least-once for a step a kill interrupted
    succeeded_then_rerun: int = 0  # must be 0
    run_twice_by_one_process: int = 0  # must be 0
    unreadable: int = 0  # must be 0
    not_finished: int = 0  # must be 0
    process_failures: int = 0  # must be 0
    problems: list[str] = field(default_factory=list)

    MUST_BE_ZERO = (
        "succeeded_then_rerun",
        "run_twice_by_one_process",
        "unreadable",
        "not_finished",
        "process_failures",
    )

    @property
    def ok(self) -> bool:
        return all(getattr(self, name) == 0 for name in self.MUST_BE_ZERO)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PLAIT_STORE"}
    env.update(PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1")
    return env


class Campaign:
    """Runs of the chaos workflow in one folder and store, killed and resumed."""

    def __init__(self, folder: Path, url: str, seed: int, say: Callable[[str], None]) -> None:
        from plait.store import open_store

        self.folder, self.url = folder, url
        self.rng = random.Random(seed)
        self.say = say
        (folder / "chaos_steps.py").write_text(textwrap.dedent(HELPER), encoding="utf-8")
        self.file = folder / "chaos.json"
        self.file.write_text(json.dumps(workflow(), indent=1), encoding="utf-8")
        self.store = open_store(url)
        self.counts = Counts(store=url.partition("://")[0] if "://" in url else "sqlite")
        self.expected = self._uninterrupted()

    def close(self) -> None:
        self.store.close()

    # -- processes -------------------------------------------------------------------

    def _start(self, *args: object) -> subprocess.Popen[str]:
        argv = [sys.executable, "-m", "plait", *map(str, args)]
        return subprocess.Popen(
            argv, cwd=self.folder, env=_env(), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    def _uninterrupted(self) -> Any:
        log = self.folder / "uninterrupted.log"
        proc = self._start("run", self.file, "--store", "memory://", "--json", "--input",
                           f"log={log}")  # fmt: skip
        out, err = proc.communicate(timeout=DEADLINE)
        if proc.returncode != 0:
            raise RuntimeError(f"the uninterrupted run failed: {err}")
        return json.loads(out)["outputs"]

    def _kill_or_wait(
        self, proc: subprocess.Popen[str], log: Path, kill: bool, to_start: int
    ) -> bool:
        """Kill ``proc`` at a random moment (True), or let it end (False: it ended
        before the kill, or no kill was wanted). ``to_start``: how many steps it will
        start at least (a kill after k of them then always comes)."""
        if not kill:
            self._ended(proc)
            return False
        deadline = time.monotonic() + DEADLINE
        if self.rng.random() < 0.25 or to_start < 1:  # anywhere: imports, the lease, ...
            until = time.monotonic() + self.rng.uniform(0.0, 1.5)
            ready: Callable[[], bool] = lambda: time.monotonic() >= until  # noqa: E731
        else:  # once it has started k steps
            base = len(_lines(log))
            k = self.rng.randint(1, to_start)
            ready = lambda: len(_lines(log)) >= base + k  # noqa: E731
        while not ready():
            if proc.poll() is not None:
                self._ended(proc)
                return False
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("a process ran past the deadline")
            time.sleep(0.002)
        time.sleep(self.rng.uniform(0.0, 0.02))
        if proc.poll() is not None:
            self._ended(proc)
            return False
        proc.kill()
        proc.communicate()
        return True

    def _ended(self, proc: subprocess.Popen[str]) -> None:
        _out, err = proc.communicate(timeout=DEADLINE)
        if proc.returncode != 0:
            self.counts.process_failures += 1
            self.counts.problems.append(f"exit {proc.returncode}: {err.strip()[-300:]}")

    # -- one run, killed and resumed until it ends ---------------------------------------

    def one_run(self, kills_left: int) -> int:
        """Run the workflow once, killing it (and its resumes) up to ``kills_left``
        times; resume until it has finished. Returns the kills made."""
        counts = self.counts
        log = self.folder / f"run{counts.runs}.log"
        counts.runs += 1
        known = {r.id for r in self.store.list_runs(limit=100_000)}
        made = 0
        proc = self._start("run", self.file, "--store", self.url, "--json", "--input", f"log={log}")
        snapshots: list[tuple[set[str], int]] = []
        if self._kill_or_wait(proc, log, kill=True, to_start=len(TASKS) - 1):
            made += 1
            counts.kills += 1
            counts.kills_in_run += 1
        ids = [r.id for r in self.store.list_runs(limit=100_000) if r.id not in known]
        if not ids:  # killed before its row was written: nothing to resume
            return made
        (run_id,) = ids
        while True:
            snapshot = self._check_readable(run_id, log)
            if snapshot is None:
                return made
            status, succeeded = snapshot
            snapshots.append((succeeded, len(_lines(log))))
            if status == "succeeded":
                break
            counts.resumes += 1
            proc = self._start("resume", run_id, "--store", self.url, "--json")
            kill = made < kills_left and self.rng.random() < 0.7
            if self._kill_or_wait(proc, log, kill, to_start=len(TASKS) - len(succeeded)):
                made += 1
                counts.kills += 1
                counts.kills_in_resume += 1
            elif self.store.get_run(run_id).status != "succeeded":
                counts.not_finished += 1
                counts.problems.append(f"run {run_id}: a resume ended, the run did not")
                return made
        self._tally(run_id, log, snapshots)
        return made

    def _check_readable(self, run_id: str, log: Path) -> tuple[str, set[str]] | None:
        from plait.durable import result_from_store

        try:
            record = self.store.get_run(run_id)
            steps = self.store.get_steps(run_id)
            result_from_store(self.store, run_id).to_document()
        except Exception as exc:  # any failure to read is what is counted
            self.counts.unreadable += 1
            self.counts.problems.append(f"run {run_id} unreadable: {exc!r}")
            return None
        succeeded = {s.node_id for s in steps if s.status == "succeeded"} & set(TASKS)
        started = {line[1] for line in _lines(log)}
        if not succeeded <= started:
            self.counts.problems.append(f"run {run_id}: succeeded but never started")
            self.counts.unreadable += 1
        return record.status, succeeded

    def _tally(self, run_id: str, log: Path, snapshots: list[tuple[set[str], int]]) -> None:
        counts = self.counts
        lines = _lines(log)
        counts.step_starts += len(lines)
        starts = Counter(node for _, node, _pid in lines)
        counts.rerun_after_kill += sum(n - 1 for n in starts.values())
        by_process = Counter((node, pid) for _, node, pid in lines)
        counts.run_twice_by_one_process += sum(1 for n in by_process.values() if n > 1)
        for succeeded, seen in snapshots:
            again = {node for _, node, _pid in lines[seen:]} & succeeded
            counts.succeeded_then_rerun += len(again)
            if again:
                counts.problems.append(f"run {run_id}: ran again after success: {sorted(again)}")
        doc = json.loads(json.dumps(self._document(run_id)))
        if doc["status"] != "succeeded" or doc["outputs"] != self.expected:
            counts.not_finished += 1
            counts.problems.append(f"run {run_id}: ended {doc['status']}, {doc['outputs']}")
        elif set(starts) != set(TASKS):
            counts.not_finished += 1
            counts.problems.append(f"run {run_id}: steps never ran: {set(TASKS) - set(starts)}")

    def _document(self, run_id: str) -> Any:
        from plait.durable import result_from_store

        return result_from_store(self.store, run_id).to_document()


def _lines(log: Path) -> list[tuple[str, str, str]]:
    """The side-effect log's complete lines: ("start", node id, pid)."""
    try:
        text = log.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    found = []
    for line in text.split("\n")[:-1]:  # a partial last line is not yet one
        parts = line.split()
        if len(parts) == 3:
            found.append((parts[0], parts[1], parts[2]))
    return found


def run_campaign(
    url: str, folder: Path, kills: int, seed: int, say: Callable[[str], None]
) -> Counts:
    """Kill runs of the chaos workflow ``kills`` times in all, in ``url``'s store."""
    campaign = Campaign(folder, url, seed, say)
    try:
        made = 0
        while made < kills:
            made += campaign.one_run(kills - made)
            say(f"  {campaign.counts.store}: {made}/{kills} kills, {campaign.counts.runs} runs")
        return campaign.counts
    finally:
        campaign.close()


@contextmanager
def new_postgres_database(admin_url: str) -> Iterator[str]:
    """A new database on the server at ``admin_url``, dropped afterwards."""
    import psycopg

    name = f"plait_chaos_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin_url.rpartition('/')[0]}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.chaos", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--kills", type=int, default=20, help="kills per store (default 20)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--json", action="store_true", help="print the counts as JSON")
    args = parser.parse_args(argv)

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    results: list[Counts] = []
    for backend in args.stores.split(","):
        began = time.monotonic()
        say(f"{backend}: {args.kills} kills, seed {args.seed}")
        with tempfile.TemporaryDirectory(prefix="plait-chaos-") as tmp:
            folder = Path(tmp)
            if backend == "postgres":
                with new_postgres_database(args.pg_url) as url:
                    results.append(run_campaign(url, folder, args.kills, args.seed, say))
            else:
                url = str(folder / "plait.db")
                results.append(run_campaign(url, folder, args.kills, args.seed, say))
        say(f"{backend}: {time.monotonic() - began:.0f} s")
    if args.json:
        print(json.dumps([asdict(c) for c in results], indent=1))
    else:
        _print_table(results)
    return 0 if all(c.ok for c in results) else 1


def _print_table(results: list[Counts]) -> None:
    rows = [
        ("runs", "runs"),
        ("kills", "kills"),
        ("  in plait run", "kills_in_run"),
        ("  in plait resume", "kills_in_resume"),
        ("resumes", "resumes"),
        ("step starts", "step_starts"),
        ("re-run after a kill (at-least-once)", "rerun_after_kill"),
        ("succeeded then re-run (must be 0)", "succeeded_then_rerun"),
        ("run twice by one process (must be 0)", "run_twice_by_one_process"),
        ("unreadable (must be 0)", "unreadable"),
        ("not finished as uninterrupted (must be 0)", "not_finished"),
        ("processes failed on their own (must be 0)", "process_failures"),
    ]
    print(f"{'':44}" + "".join(f"{c.store:>12}" for c in results))
    for label, name in rows:
        print(f"{label:44}" + "".join(f"{getattr(c, name):>12}" for c in results))
    for c in results:
        for problem in c.problems:
            print(f"{c.store}: {problem}")


if __name__ == "__main__":
    sys.exit(main())
