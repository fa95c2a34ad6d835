"""The ``plait`` command: run, validate, graph; runs list/show, resume, cancel; stats.

Exit status: 0 the run succeeded; 1 it failed, timed out or was cancelled; 2 the file
or the command line is invalid (nothing was run).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import threading
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from plait.api import Workflow, load
from plait.cli.progress import Progress, render_runs, render_summary
from plait.cli.stats import stats
from plait.compiler.render import RENDERERS
from plait.definition.executor import ExecutorSpec
from plait.definition.limits import parse_size
from plait.definition.loader import read_document
from plait.durable import prepare_resume, request_cancel, result_from_store
from plait.engine.result import RunResult, from_iso
from plait.engine.run import Run
from plait.errors import Problem, StoreError, WorkflowError
from plait.executors.select import check_available
from plait.status import RunStatus
from plait.store import Store, open_store, store_url

app = typer.Typer(
    name="plait",
    help="Run workflows of many parallel steps, fast and under control.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, highlight=False)
out = Console(highlight=False)

runs_app = typer.Typer(help="Recorded runs.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")
app.command("stats")(stats)  # metrics across recorded runs (cli/stats.py)

EXIT_OK, EXIT_RUN_FAILED, EXIT_INVALID = 0, 1, 2

StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        envvar="PLAIT_STORE",
        help="Where runs are recorded: a file path (SQLite), postgresql://..., or memory://. "
        "Default: .plait/plait.db here.",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]
InputOption = Annotated[
    list[str] | None,
    typer.Option("--input", "-i", help="An input as NAME=VALUE; repeat for more."),
]
AllowEnvOption = Annotated[
    list[str] | None,
    typer.Option(
        "--allow-env",
        help="Let ${env.NAME} read this environment variable (masked in records); repeat for more.",
    ),
]

ExecutorOption = Annotated[
    str | None,
    typer.Option(
        "--executor",
        help="Where steps run unless a step says otherwise: local, process, dask (a local "
        "cluster) or dask://HOST:PORT. Default: the workflow's 'executor', else local.",
        show_default=False,
    ),
]


MaxOutputSizeOption = Annotated[
    str | None,
    typer.Option(
        "--max-output-size",
        help="Fail a step whose output is larger, as JSON: bytes or a size such as 64MiB. "
        "Default: the workflow's limits.maxOutputSize, else 16MiB.",
        show_default=False,
    ),
]
MaxRunSizeOption = Annotated[
    str | None,
    typer.Option(
        "--max-run-size",
        help="Fail the run when its steps' outputs add up to more: bytes or a size such as "
        "4GiB. Default: the workflow's limits.maxRunSize, else 1GiB.",
        show_default=False,
    ),
]


def _size(flag: str, text: str | None) -> int | None:
    """``--max-output-size`` or ``--max-run-size``, in bytes, or exit status 2."""
    if text is None:
        return None
    try:
        return parse_size(text)
    except ValueError as exc:
        raise _fail_store(WorkflowError(f"{flag}: {exc}")) from None


def _executor(text: str | None) -> ExecutorSpec | None:
    """``--executor``, parsed and available (dask installed), or exit status 2."""
    if text is None:
        return None
    try:
        spec = ExecutorSpec.parse(text)
        check_available([spec])
    except ValueError as exc:
        raise _fail_store(WorkflowError(f"--executor: {exc}")) from None
    except WorkflowError as exc:
        raise _fail_store(exc) from None
    return spec


class GraphFormat(StrEnum):
    mermaid = "mermaid"
    dot = "dot"


def _fail_invalid(exc: WorkflowError) -> typer.Exit:
    for problem in exc.problems:
        # Text, not markup: a user's text such as "[/x]" would break or vanish as markup.
        err.print(Text.assemble(("error", "red"), f": {problem.render()}"), soft_wrap=True)
    count = len(exc.problems)
    err.print(f"{count} problem{'s' if count != 1 else ''} found; nothing was run.")
    return typer.Exit(EXIT_INVALID)


def _fail_store(exc: StoreError | WorkflowError) -> typer.Exit:
    """One line, exit status 2: the store, or a run that cannot be resumed or cancelled."""
    err.print(Text.assemble(("error", "red"), f": {_plain(exc)}"), soft_wrap=True)
    return typer.Exit(EXIT_INVALID)


def _plain(exc: StoreError | WorkflowError) -> str:
    """One line: the error's own words (``PlaitError.plain``), after its file if a
    definition problem names one; a problem at a step or key keeps its full location."""
    if isinstance(exc, WorkflowError) and len(exc.problems) == 1:
        problem = exc.problems[0]
        if problem.step is None and problem.key is None:
            return f"{problem.file}: {exc.plain}" if problem.file else exc.plain
    return str(exc) if isinstance(exc, WorkflowError) else exc.plain


def _open(url: str | None) -> Store:
    try:
        return open_store(store_url(url))
    except StoreError as exc:
        raise _fail_store(exc) from None


def _load(file: Path) -> Workflow:
    try:
        wf = load(file)
        wf.validate()
    except WorkflowError as exc:
        raise _fail_invalid(exc) from None
    return wf


def _parse_inputs(pairs: list[str], input_file: Path | None) -> tuple[dict[str, Any], set[str]]:
    """Inputs from ``--input-file`` (typed) and ``--input K=V`` (text, typed later)."""
    values: dict[str, Any] = {}
    if input_file is not None:
        data, _ = read_document(input_file)
        if not isinstance(data, dict):
            raise WorkflowError(
                Problem("an input file holds a mapping of input names to values", str(input_file))
            )
        values.update(data)
    text_keys: set[str] = set()
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise WorkflowError(Problem(f"--input takes NAME=VALUE, not {pair!r}"))
        values[key.strip()] = value
        text_keys.add(key.strip())
    return values, text_keys


@app.command()
def run(
    file: Annotated[Path, typer.Argument(help="The workflow file (YAML or JSON).")],
    input: InputOption = None,
    input_file: Annotated[
        Path | None, typer.Option("--input-file", help="A YAML or JSON file of inputs.")
    ] = None,
    store: StoreOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the run document as JSON on stdout.")
    ] = False,
    allow_env: AllowEnvOption = None,
    executor: ExecutorOption = None,
    max_output_size: MaxOutputSizeOption = None,
    max_run_size: MaxRunSizeOption = None,
) -> None:
    """Run a workflow and record it; show live progress on a terminal."""
    spec = _executor(executor)
    limits = _size("--max-output-size", max_output_size), _size("--max-run-size", max_run_size)
    wf = _load(file)
    the_store = _open(store)
    try:
        values, text_keys = _parse_inputs(input or [], input_file)
        the_run = wf.create_run(
            values,
            text_inputs=text_keys,
            store=the_store,
            allow_env=allow_env or (),
            executor=spec,
            max_output_size=limits[0],
            max_run_size=limits[1],
        )
    except WorkflowError as exc:
        raise _fail_invalid(exc) from None
    _finish(the_run, as_json)


def _finish(the_run: Run, as_json: bool) -> None:
    """Execute, print the result, exit with the run's status."""
    show_progress = not as_json and err.is_terminal
    before = set(_step_threads())
    try:
        result = asyncio.run(_execute(the_run, show_progress))
    except StoreError as exc:
        raise _fail_store(exc) from None
    _print_result(result, as_json)
    if result.status is RunStatus.PAUSED:
        signals = the_run.waiting_for
        err.print(
            f"paused, waiting for signal {', '.join(signals)}; go on with: plait resume "
            f"{result.run_id} --input {signals[0] if signals else 'NAME'}=VALUE",
            markup=False,
            soft_wrap=True,
        )
    # A paused run did nothing wrong: it waits for a signal (plait resume gives it).
    ok = result.status in (RunStatus.SUCCEEDED, RunStatus.PAUSED)
    code = EXIT_OK if ok else EXIT_RUN_FAILED
    if _left_running(before):
        # A sync tool whose step timed out or was cancelled is still running in a thread
        # that cannot be killed; its result is discarded. Do not let the interpreter's
        # exit wait for it: the run is over and recorded.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    raise typer.Exit(code)


def _step_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("plait-step") and t.is_alive()]


def _left_running(before: set[threading.Thread]) -> bool:
    """Whether this run left a step thread busy. Idle workers of its pool end within
    moments of its shutdown; threads that were there before the run are not its own."""
    for thread in _step_threads():
        if thread not in before:
            thread.join(timeout=0.5)
            if thread.is_alive():
                return True
    return False


def _print_result(result: RunResult, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(result.to_document(), default=_json_default) + "\n")
        sys.stdout.flush()
    else:
        render_summary(out, result)


async def _execute(the_run: Run, show_progress: bool) -> RunResult:
    """Run with Ctrl-C handled: the first cancels the run cleanly, a second exits at once."""
    loop = asyncio.get_running_loop()
    interrupts = 0

    def on_interrupt() -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts > 1:
            os._exit(130)
        err.print("[yellow]cancelling the run (Ctrl-C again to exit at once)[/yellow]")
        the_run.cancel("cancelled by Ctrl-C")

    with contextlib.suppress(NotImplementedError, RuntimeError):  # no signals here
        loop.add_signal_handler(signal.SIGINT, on_interrupt)
    progress = Progress(err, the_run) if show_progress else None
    try:
        if progress is not None:
            async with progress:
                return await the_run.execute()
        return await the_run.execute()
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGINT)


def _json_default(value: Any) -> Any:
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return repr(value)


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(help="The workflow file (YAML or JSON).")],
) -> None:
    """Check a workflow file and report every problem with its location."""
    wf = _load(file)
    plan = wf.plan
    groups = len(plan.groups())
    out.print(
        f"{file}: ok: workflow '{plan.name}', {len(plan.nodes) - groups} tasks, {groups} groups",
        markup=False,
        soft_wrap=True,
    )


@app.command()
def graph(
    file: Annotated[Path, typer.Argument(help="The workflow file (YAML or JSON).")],
    format: Annotated[
        GraphFormat, typer.Option("--format", "-f", help="mermaid or dot.")
    ] = GraphFormat.mermaid,
) -> None:
    """Print the compiled DAG as Mermaid or Graphviz dot."""
    wf = _load(file)
    sys.stdout.write(RENDERERS[format.value](wf.plan))


@app.command()
def resume(
    run_id: Annotated[str, typer.Argument(help="The run's id (or a unique prefix of it).")],
    input: InputOption = None,
    from_failure: Annotated[
        bool,
        typer.Option("--from-failure", help="Go on with a failed, timed-out or cancelled run."),
    ] = False,
    allow_changed: Annotated[
        bool,
        typer.Option("--allow-changed", help="Use the workflow file even if it changed."),
    ] = False,
    store: StoreOption = None,
    as_json: JsonOption = False,
    allow_env: AllowEnvOption = None,
    executor: ExecutorOption = None,
) -> None:
    """Go on with an interrupted run: steps that succeeded are reused, not run again.
    ``--executor`` may differ from the first attempt's."""
    spec = _executor(executor)
    the_store = _open(store)
    try:
        values, text_keys = _parse_inputs(input or [], None)
        the_run = prepare_resume(
            run_id,
            the_store,
            inputs=values,
            text_inputs=text_keys,
            from_failure=from_failure,
            allow_changed=allow_changed,
            executor=spec,
            allow_env=allow_env or (),
        )
    except (WorkflowError, StoreError) as exc:
        raise _fail_store(exc) from None
    _finish(the_run, as_json)


@app.command()
def cancel(
    run_id: Annotated[str, typer.Argument(help="The run's id (or a unique prefix of it).")],
    store: StoreOption = None,
) -> None:
    """Cancel a running or paused run, from any terminal."""
    the_store = _open(store)
    try:
        message = request_cancel(run_id, the_store)
    except (WorkflowError, StoreError) as exc:
        raise _fail_store(exc) from None
    out.print(message, markup=False, soft_wrap=True)


@runs_app.command("list")
def runs_list(
    status: Annotated[
        RunStatus | None, typer.Option("--status", help="Only runs with this status.")
    ] = None,
    workflow: Annotated[
        str | None, typer.Option("--workflow", help="Only runs of this workflow.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 20,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Recorded runs, newest first."""
    the_store = _open(store)
    try:
        records = the_store.list_runs(
            status=status.value if status is not None else None, workflow=workflow, limit=limit
        )
    except StoreError as exc:
        raise _fail_store(exc) from None
    if as_json:
        rows = [
            {
                "run_id": r.id,
                "workflow": r.workflow,
                "status": r.status,
                "created_at": r.created_at,
                "started_at": r.started_at,
                "finished_at": r.finished_at,
                "duration_ms": _duration_ms(r.started_at, r.finished_at),
            }
            for r in records
        ]
        sys.stdout.write(json.dumps(rows) + "\n")
    else:
        render_runs(out, records)


def _duration_ms(start: str | None, end: str | None) -> float | None:
    begin, finish = from_iso(start), from_iso(end)
    if begin is None or finish is None:
        return None
    return round((finish - begin) * 1000.0, 3)


@runs_app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(help="The run's id (or a unique prefix of it).")],
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """One recorded run: its steps, groups, outputs (the run document with --json)."""
    the_store = _open(store)
    try:
        result = result_from_store(the_store, run_id)
    except StoreError as exc:
        raise _fail_store(exc) from None
    _print_result(result, as_json)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
