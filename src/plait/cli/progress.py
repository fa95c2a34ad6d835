"""What a person sees: a live view of a run on the terminal, and a summary at the end.

The live view samples the run's counters ten times a second; it never sits on the
engine's hot path.
"""

from __future__ import annotations

import asyncio
import json
import time
from types import TracebackType
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from plait.engine.result import RunResult, duration_ms, from_iso
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
_SHOWN_RUNNING = 8


class Progress:
    """``async with Progress(console, run):`` shows the run live until it ends."""

    def __init__(self, console: Console, run: Run, refresh: float = 0.1) -> None:
        self.console = console
        self.run = run
        self.refresh = refresh
        self._live = Live(console=console, refresh_per_second=10, transient=True)
        self._task: asyncio.Task[None] | None = None
        self._started = time.monotonic()

    async def __aenter__(self) -> Progress:
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
        self._live.update(self._view())
        self._live.stop()

    async def _loop(self) -> None:
        while True:
            self._live.update(self._view())
            await asyncio.sleep(self.refresh)

    def _view(self) -> Group:
        run = self.run
        counts = run.counts()
        total = sum(counts.values())
        ended = sum(counts[s] for s in StepStatus if s.terminal)
        elapsed = time.monotonic() - self._started
        head = Text.assemble(
            (f"{run.plan.name} ", "bold"),
            (f"{ended}/{total} steps  ", ""),
            (f"{elapsed:.1f}s", "dim"),
        )
        filled = int(40 * ended / total) if total else 40
        bar = Text("█" * filled + "░" * (40 - filled), style="green")
        tally = Text("  ").join(
            Text(f"{status.value} {counts[status]}", style=STATUS_STYLE[status])
            for status in StepStatus
            if counts[status]
        )
        running = run.running()
        lines: list[Any] = [head, bar, tally]
        if running:
            more = (
                f" (+{len(running) - _SHOWN_RUNNING} more)" if len(running) > _SHOWN_RUNNING else ""
            )
            lines.append(
                Text(f"running: {', '.join(running[:_SHOWN_RUNNING])}{more}", style="cyan")
            )
        return Group(*lines)


def render_summary(console: Console, result: RunResult, max_rows: int = 50) -> None:
    """A table of the steps (the interesting ones first when there are many) and outputs.
    The run's secrets read ``***``."""
    mask = result.secrets.text
    console.print(Text.assemble((result.workflow, "bold"), f"  run {result.run_id}"))
    table = Table()
    table.add_column("step")
    table.add_column("status")
    table.add_column("ms", justify="right")
    table.add_column("tries", justify="right")
    table.add_column("detail", overflow="fold")
    steps = sorted(result.steps.values(), key=lambda s: s.status is StepStatus.SUCCEEDED)
    for step in steps[:max_rows]:
        detail = ""
        if step.error:
            detail = f"{step.error.type}: {step.error.message}"
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
    if len(steps) > max_rows:
        table.caption = f"{len(steps) - max_rows} more steps not shown (use --json for all)"
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
