"""What a person sees: a live view of a run on the terminal, and a summary at the end.

The live view samples the run's counters ten times a second; it never sits on the
engine's hot path.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from types import TracebackType
from typing import Any, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from plait.compiler.plan import NodeKind, Plan
from plait.engine.progress import BodyProgress, RunProgress
from plait.engine.result import RunResult, StepResult, duration_ms, from_iso
from plait.engine.run import Run
from plait.errors import ErrorInfo
from plait.status import RunStatus, StepStatus
from plait.store.records import RunRecord, damage_of

TRACEBACK_FRAMES = 3  # frames of the first failure's traceback a summary shows
LOG_LINES = 20  # lines of the failed step's logs a summary shows, before its traceback

STATUS_STYLE = {
    StepStatus.SUCCEEDED: "green",
    StepStatus.FAILED: "red",
    StepStatus.TIMED_OUT: "red",
    StepStatus.CANCELLED: "yellow",
    StepStatus.SKIPPED: "dim",
    StepStatus.RUNNING: "cyan",
    StepStatus.QUEUED: "blue",
    StepStatus.PENDING: "dim",
    StepStatus.DAMAGED: "bold magenta",
}
RUN_STYLE = {
    RunStatus.SUCCEEDED: "bold green",
    RunStatus.FAILED: "bold red",
    RunStatus.TIMED_OUT: "bold red",
    RunStatus.CANCELLED: "bold yellow",
    RunStatus.DAMAGED: "bold magenta",
}
PROGRESS_INTERVAL_ENV = "PLAIT_PROGRESS_INTERVAL"  # seconds between plain lines
PLAIN_INTERVAL = 5.0
_SHOWN_FAILURES = 50  # failures printed as they happen; the summary has them all
_SHOWN_BODIES = 20  # body lines in the live view
_SHARE = 20  # a sample waits at least this many times what it took before the next
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
_FAILED = (StepStatus.FAILED, StepStatus.TIMED_OUT)


class Progress:
    """``async with Progress(console, run):`` shows the run live until it ends: on a
    terminal, a live view (the workflow's count and bar, then one line per running map,
    loop and group, nested under its parent) with each failure printed above it as it
    happens; elsewhere (``plain``), a plain line every ``interval`` seconds and one per
    failure, with no control characters. It samples ``run.progress()`` a few times a
    second: never on the engine's hot path."""

    def __init__(
        self,
        console: Console,
        run: Run,
        refresh: float = 0.25,
        *,
        plain: bool = False,
        interval: float = PLAIN_INTERVAL,
        stream: TextIO | None = None,
    ) -> None:
        self.console = console
        self.run = run
        self.plain = plain
        self.interval = interval
        self.refresh = min(refresh, interval) if plain else refresh
        self.stream = stream if stream is not None else sys.stderr
        self._live = None if plain else Live(console=console, refresh_per_second=4, transient=True)
        self._task: asyncio.Task[None] | None = None
        self._started = time.monotonic()
        self._failures_seen = 0
        self._last_line = -1.0

    async def __aenter__(self) -> Progress:
        if self._live is not None:
            self._live.start()
        self._task = asyncio.create_task(self._loop())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.tick(final=True)
        if self._live is not None:
            self._live.stop()

    async def _loop(self) -> None:
        while True:
            began = time.perf_counter()
            self.tick()
            # A sample of a huge run takes a while (~4 µs a node): sample less often then,
            # so that progress never takes more than a twentieth of the event loop.
            await asyncio.sleep(max(self.refresh, _SHARE * (time.perf_counter() - began)))

    def tick(self, final: bool = False) -> None:
        """One sample: new failures printed, the view (or a plain line, when due) shown."""
        snap = self.run.progress()
        elapsed = time.monotonic() - self._started
        self._print_failures(snap, elapsed)
        if self._live is not None:
            self._live.update(self.view(snap, elapsed))
        elif final or self._last_line < 0 or elapsed - self._last_line >= self.interval:
            self._last_line = elapsed
            self._write(plain_line(self.run.plan.name, snap, elapsed))

    def _print_failures(self, snap: RunProgress, elapsed: float) -> None:
        before = self._failures_seen
        new = snap.failures[before:]
        self._failures_seen = len(snap.failures)
        room = max(0, _SHOWN_FAILURES - before)
        for failure in new[:room]:
            line = _clean(f"{failure.status.value}: {failure.step}: {failure.error}")
            if self._live is not None:
                self._live.console.print(Text(line, style="red"), soft_wrap=True)
            else:
                self._write(f"[{elapsed:7.1f}s] {line}")
        hidden = len(new) - room
        if hidden > 0:
            note = f"{hidden:,} more failure{'s' if hidden != 1 else ''} (the summary lists them)"
            if self._live is not None:
                self._live.console.print(Text(note, style="red"))
            else:
                self._write(f"[{elapsed:7.1f}s] {note}")

    def _write(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()

    def view(self, snap: RunProgress, elapsed: float) -> Group:
        """The live view: the workflow's line and bar, then the running bodies, nested."""
        top = snap.workflow
        head = Text.assemble(
            (f"{self.run.plan.name} ", "bold"),
            (f"{top.ended:,}/{top.total:,} steps  ", ""),
            _tally(top),
            (f"  {elapsed:.1f}s", "dim"),
        )
        lines: list[Any] = [head, _bar(top, 40)]
        bodies = [line for line in snap.bodies[1:] if line.active]
        width = max((len(line.name) + 2 * line.depth for line in bodies), default=0)
        for line in bodies[:_SHOWN_BODIES]:
            label = "  " * line.depth + line.name
            lines.append(
                Text.assemble(
                    (f"{label:<{width}}  ", "bold"),
                    _bar(line, 20),
                    (f" {line.ended:,}/{line.total:,} {line.unit} ", ""),
                    _tally(line),
                )
            )
        if len(bodies) > _SHOWN_BODIES:
            lines.append(Text(f"  (+{len(bodies) - _SHOWN_BODIES} more running)", style="dim"))
        return Group(*lines)


def _bar(line: BodyProgress, width: int) -> Text:
    filled = int(width * line.ended / line.total) if line.total else width
    return Text("█" * filled + "░" * (width - filled), style="green")


def _tally(line: BodyProgress) -> Text:
    parts = [Text(f"✓ {line.succeeded:,}", style="green")]
    if line.failed:
        parts.append(Text(f"✗ {line.failed:,}", style="red"))
    if line.running:
        parts.append(Text(f"{line.running:,} running", style="cyan"))
    return Text(" ").join(parts)


def plain_line(name: str, snap: RunProgress, elapsed: float) -> str:
    """One line of progress for a log: the workflow's count, then each running body's
    (``outer/inner``); plain text, no control characters."""

    def counts(line: BodyProgress) -> str:
        extra = [f"{line.succeeded:,} ok"]
        if line.failed:
            extra.append(f"{line.failed:,} failed")
        if line.running:
            extra.append(f"{line.running:,} running")
        return f"{line.ended:,}/{line.total:,} {line.unit} ({', '.join(extra)})"

    parts = [f"{name}: {counts(snap.workflow)}"]
    for line in snap.bodies[1:]:
        if line.active:
            parts.append(f"{'/'.join(line.path)}: {counts(line)}")
    return _clean(f"[{elapsed:7.1f}s] " + "; ".join(parts), limit=2000)


def _clean(text: str, limit: int = 500) -> str:
    """One line, no control characters (a log reads it as text), at most ``limit``."""
    text = _CONTROL.sub(" ", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Fold:
    """A map's or loop's branches (passes), across all its instances, as one line."""

    def __init__(self, kind: str, unit: str) -> None:
        self.kind = kind
        self.unit = unit
        self.branches: dict[str, list[int]] = {}  # suffix: [steps, failed, ok, other]

    def add(self, suffix: str, status: StepStatus) -> None:
        tally = self.branches.setdefault(suffix, [0, 0, 0, 0])
        tally[0] += 1
        if status in _FAILED:
            tally[1] += 1
        elif status in (StepStatus.SUCCEEDED, StepStatus.SKIPPED):
            tally[2] += 1
        else:
            tally[3] += 1

    def describe(self) -> str:
        failed = sum(1 for t in self.branches.values() if t[1])
        ok = sum(1 for t in self.branches.values() if not t[1] and t[2] == t[0])
        other = len(self.branches) - failed - ok
        text = f"{self.kind}  {len(self.branches):,} {self.unit}: ✓ {ok:,} ✗ {failed:,}"
        return text + (f" · {other:,} cancelled or not run" if other else "")


_SUFFIX = re.compile(r"((?:<\d+>|\[\d+\])+)$")


def _is_body(step_id: str) -> bool:
    return step_id.endswith((">", "]"))


def fold_bodies(result: RunResult, plan: Plan | None) -> dict[str, Fold]:
    """Each map's and loop's branches, one ``Fold`` each, by the map's label: its path
    (``outer / inner``) when ``plan`` is known, else the body step's shape
    (``thumb<*>``, from a stored run)."""
    owners = _owners(plan) if plan is not None else {}
    folds: dict[str, Fold] = {}
    for step_id in result.steps:
        if not _is_body(step_id):
            continue
        found = _SUFFIX.search(step_id)
        if found is None:
            continue
        suffix = found.group(1)
        base = step_id[: found.start()].rsplit("/", 1)[-1]
        owner = owners.get(base)
        last = re.search(r"(<\d+>|\[\d+\])$", suffix)
        assert last is not None
        loop = last.group(1).startswith("[")
        if owner is None:
            label = base + re.sub(r"\d+", "*", suffix)
            kind, unit = ("loop", "passes") if loop else ("map", "branches")
        else:
            label, kind, unit = owner
        fold = folds.get(label)
        if fold is None:
            fold = folds[label] = Fold(kind, unit)
        fold.add(suffix, result.steps[step_id].status)
    return folds


def _owners(plan: Plan, path: tuple[str, ...] = ()) -> dict[str, tuple[str, str, str]]:
    """A body step's id: the map or loop it is a step of (its label, kind and unit)."""
    owners: dict[str, tuple[str, str, str]] = {}
    for node in plan.nodes:
        body = node.body
        if body is None:
            continue
        here = (*path, node.id)
        if node.kind is NodeKind.MAP or node.kind is NodeKind.LOOP:
            kind, unit = ("map", "branches") if node.kind is NodeKind.MAP else ("loop", "passes")
            for member in body.nodes:
                owners.setdefault(member.id, (" / ".join(here), kind, unit))
        owners.update({k: v for k, v in _owners(body, here).items() if k not in owners})
    return owners


def _add_step(table: Table, step: StepResult, mask: Any, fold: Fold | None = None) -> None:
    detail = ""
    if step.error:
        detail = f"{step.error.type}: {step.error.message}"
    elif fold is not None:
        detail = fold.describe()
    elif step.reason:
        detail = step.reason
    duration = step.duration_ms
    table.add_row(
        step.id,
        Text(step.status.value, style=STATUS_STYLE[step.status]),
        f"{duration:.1f}" if duration is not None else "",
        str(step.attempts) if step.attempts else "",
        Text(mask(detail)),  # not markup: an error message such as "[/x]" would break it
    )


def render_summary(
    console: Console, result: RunResult, max_rows: int = 50, plan: Plan | None = None
) -> None:
    """A table of the steps and outputs: the failures first, then each map's and loop's
    branches folded into one line with their counts, then the workflow's own steps; at
    most ``max_rows`` rows of steps (``--json`` has them all). ``plan`` names the map or
    loop a body step belongs to. The run's secrets read ``***``."""
    mask = result.secrets.text
    console.print(Text.assemble((result.workflow, "bold"), f"  run {result.run_id}"))
    table = Table()
    table.add_column("step")
    table.add_column("status")
    table.add_column("ms", justify="right")
    table.add_column("tries", justify="right")
    table.add_column("detail", overflow="fold")
    folds = fold_bodies(result, plan)
    failed: list[StepResult] = []
    own: list[StepResult] = []
    for step_id in result.steps:
        step = result.steps[step_id]
        if step.status in _FAILED:
            failed.append(step)
        elif not _is_body(step_id):
            own.append(step)
    failed.sort(key=lambda s: s.finished_at or 0.0)
    own.sort(key=lambda s: s.status is StepStatus.SUCCEEDED)  # the interesting ones first
    shown = 0
    for step in failed[:max_rows]:
        _add_step(table, step, mask, folds.get(step.id))
        shown += 1
    top_ids = {step.id for step in own} | {step.id for step in failed}
    for label, fold in folds.items():
        if label not in top_ids:  # a top-level map's fold is on its own row
            table.add_row(Text(label), "", "", "", Text(fold.describe()))
    for step in own[: max(0, max_rows - shown)]:
        _add_step(table, step, mask, folds.get(step.id))
        shown += 1
    hidden = len(failed) + len(own) - shown
    if hidden > 0:
        table.caption = f"{hidden:,} more steps not shown (use --json for all)"
    console.print(table)
    duration = result.duration_ms
    console.print(
        Text.assemble(
            ("run ", ""),
            (result.status.value, RUN_STYLE.get(result.status, "")),
            (f" in {duration:.1f} ms" if duration is not None else "", ""),
        )
    )
    if result.error:
        error = f"error: {result.error.type}: {result.error.message}"
        console.print(Text(mask(error), "red"), soft_wrap=True)  # one line, as the JSON has it
    failure = first_failure(result)
    if failure is not None and failure.traceback:
        _print_step_logs(console, result, failure.step)
        console.print(
            Text(mask(f"traceback of step '{failure.step}', innermost frames:"), "red"),
            Text(mask(traceback_tail(failure.traceback))),
            sep="\n",
            soft_wrap=True,  # a frame's line stays one line, as Python prints it
        )
        if failure.cause:
            cause = f"caused by {failure.cause.get('type')}: {failure.cause.get('message')}"
            console.print(Text(mask(cause)), soft_wrap=True)
    if result.outputs is not None:
        console.print("outputs:")
        console.print_json(json.dumps(result.secrets.value(result.outputs), default=repr))


def _print_step_logs(console: Console, result: RunResult, step_id: str | None) -> None:
    """The last lines the failed step logged, before its traceback (issue 13)."""
    step = result.steps.get(step_id) if step_id is not None else None
    if step is None or not step.logs:
        return
    lines = step.logs.splitlines()
    shown = lines[-LOG_LINES:]
    more = (
        f" (last {len(shown)} of {len(lines)}: plait runs logs)" if len(lines) > len(shown) else ""
    )
    console.print(
        Text(f"logs of step '{step_id}'{more}:", "red"),
        Text(result.secrets.text("\n".join(shown))),
        sep="\n",
        soft_wrap=True,
    )


def first_failure(result: RunResult) -> ErrorInfo | None:
    """The error whose traceback the summary shows: the run's, else that of the step
    that failed first (under ``continueOnError`` the run may have succeeded)."""
    if result.error is not None and result.error.traceback:
        return result.error
    failed = [s for s in result.steps.values() if s.error is not None and s.error.traceback]
    if not failed:
        return None
    return min(failed, key=lambda s: s.finished_at or 0.0).error


def traceback_tail(text: str, frames: int = TRACEBACK_FRAMES) -> str:
    """The last ``frames`` frames of a formatted traceback and its exception line: where
    it went wrong, on one screen (``--json`` has it all)."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith('  File "')]
    if len(starts) <= frames:
        return text
    hidden = len(starts) - frames
    more = f"  [{hidden} outer frame{'s' if hidden != 1 else ''} not shown; --json has them]"
    return "\n".join([lines[0], more, *lines[starts[-frames] :]])


def render_runs(console: Console, records: list[RunRecord]) -> None:
    """``plait runs list``: one line a run, newest first; then what is damaged in any
    of them (issue 19)."""
    if not records:
        console.print("no runs recorded")
        return
    table = Table()
    for column in ("run id", "workflow", "status", "started", "duration"):
        table.add_column(
            column,
            justify="right" if column == "duration" else "left",
            no_wrap=column in ("run id", "started"),
        )
    for record in records:
        status = RunStatus(record.status)
        table.add_row(
            record.id[:12],  # a unique prefix is enough for show, resume and cancel
            Text(record.workflow),
            Text(status.value, style=RUN_STYLE.get(status, "")),
            (record.started_at or "")[:19].replace("T", " "),
            _duration(record.started_at, record.finished_at),
        )
    console.print(table)
    for record in records:
        damage = damage_of(record)
        if damage is not None:
            note = f"run {record.id[:12] or '(no id)'}: {damage}"
            console.print(Text(note, style="magenta"), soft_wrap=True)


def _duration(start: str | None, end: str | None) -> str:
    ms = duration_ms(from_iso(start), from_iso(end))
    if ms is None:
        return ""
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"
