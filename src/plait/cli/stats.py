"""``plait stats [WORKFLOW]``: how runs and their groups fared, across recorded runs."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from plait.cli.common import JsonOption, StoreOption, fail, open_store_or_exit, out, print_json
from plait.errors import StoreError
from plait.store.stats import Metrics, WorkflowMetrics, workflow_metrics


def stats(
    workflow: Annotated[
        str | None, typer.Argument(help="Only this workflow (its name). Default: every one.")
    ] = None,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Per workflow, its runs and each group and map across recorded runs: executions,
    average duration, failure rate."""
    opened = open_store_or_exit(store)
    try:
        found = workflow_metrics(opened, workflow)
    except StoreError as exc:
        raise fail(exc.plain) from None
    finally:
        opened.close()
    if as_json:
        print_json({"workflows": {m.workflow: m.to_dict() for m in found}})
        return
    render_stats(out, found, workflow)


def render_stats(console: Console, found: list[WorkflowMetrics], workflow: str | None) -> None:
    if not found:
        which = f" of workflow {workflow!r}" if workflow is not None else ""
        console.print(f"no finished runs{which} recorded", markup=False)
        return
    # Rows the store holds damaged get a column only when there are some (issue 19).
    damaged = any(m.damaged for e in found for m in (e.runs, *e.groups.values()))
    table = Table()
    columns = ["workflow", "group", "executions", "avg duration", "failure rate", "cancelled"]
    for column in columns + (["damaged"] if damaged else []):
        numeric = column not in ("workflow", "group")
        table.add_column(column, justify="right" if numeric else "left")
    for entry in found:
        table.add_row(
            Text(entry.workflow), Text("(runs)", style="dim"), *_cells(entry.runs, damaged)
        )
        for name, metrics in sorted(entry.groups.items()):
            table.add_row("", Text(name), *_cells(metrics, damaged))
    console.print(table)


def _cells(metrics: Metrics, damaged: bool) -> list[str]:
    average, rate = metrics.average_duration, metrics.failure_rate
    cells = [
        str(metrics.executions),
        "" if average is None else _duration(average),
        "" if rate is None else f"{rate:.1f}%",
        str(metrics.cancelled) if metrics.cancelled else "",
    ]
    if damaged:
        cells.append(str(metrics.damaged) if metrics.damaged else "")
    return cells


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"
