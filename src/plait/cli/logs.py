"""``plait runs logs RUN_ID [STEP]``: what each step's code logged, attempt by attempt.

The logs are the records kept by ``engine/steplogs.py`` (``step_executions.logs``). A
``shell`` step's stdout and stderr are not copied into its logs: they are its output
(``exit_code``, ``stdout``, ``stderr``), shown here after its logs.
"""

from __future__ import annotations

import difflib
from typing import Annotated, Any

import typer
from rich.text import Text

from plait.cli.common import JsonOption, StoreOption, fail, open_store_or_exit, out, print_json
from plait.errors import StoreError
from plait.store.records import StepRecord, loads

_SHELL_KEYS = frozenset({"exit_code", "stdout", "stderr"})


def runs_logs(
    run_id: Annotated[str, typer.Argument(help="The run's id (or a unique prefix of it).")],
    step: Annotated[
        str | None, typer.Argument(help="Only this step (its id, or a node id: 'shrink<1>').")
    ] = None,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """What a run's steps logged (and a shell step printed), attempt by attempt."""
    opened = open_store_or_exit(store)
    try:
        record = opened.get_run(run_id)
        steps = opened.get_steps(record.id)
    except StoreError as exc:
        raise fail(exc.plain) from None
    finally:
        opened.close()
    if step is not None:
        chosen = [s for s in steps if step in (s.node_id, s.step_id)]
        if not chosen:
            raise _unknown_step(step, record.id, steps)
        steps = chosen
    entries = [entry for s in steps if (entry := _entry(s)) is not None]
    if as_json:
        print_json(entries)
        return
    if not entries:
        what = f"step '{step}' of run {record.id}" if step else f"run {record.id}"
        out.print(f"{what}: no step logged anything", markup=False, soft_wrap=True)
    for entry in entries:
        _print(entry)


def _entry(step: StepRecord) -> dict[str, Any] | None:
    entry: dict[str, Any] = {
        "step": step.node_id,
        "attempt": step.attempt,
        "status": step.status,
        "logs": step.logs,
    }
    output = loads(step.output) if step.output is not None else None
    if isinstance(output, dict) and output.keys() >= _SHELL_KEYS:
        entry["stdout"], entry["stderr"] = output["stdout"], output["stderr"]
    if step.logs is None and not entry.get("stdout") and not entry.get("stderr"):
        return None
    return entry


def _print(entry: dict[str, Any]) -> None:
    head = f"── {entry['step']}  attempt {entry['attempt']}  {entry['status']}"
    out.print(Text(head, "bold"), soft_wrap=True)
    for key in ("logs", "stdout", "stderr"):
        text = entry.get(key)
        if text:
            if key != "logs":
                out.print(Text(f"{key}:", "dim"))
            out.print(Text(text.rstrip("\n")), soft_wrap=True)


def _unknown_step(step: str, run_id: str, steps: list[StepRecord]) -> typer.Exit:
    names = sorted({s.step_id for s in steps} | {s.node_id for s in steps})
    close = difflib.get_close_matches(step, names, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return fail(f"run {run_id} has no step '{step}'{hint}")
