"""The ``plait`` command: run, validate, graph; runs list/show/logs, resume, cancel; stats.

Exit status: 0 the run succeeded; 1 it failed, timed out or was cancelled; 2 the file
or the command line is invalid (nothing was run); 143 SIGTERM cancelled the run; 130
or 143 a second signal exited at once (``_Stop``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from plait.api import Workflow, load
from plait.cli.common import (
    EXIT_INVALID,
    EXIT_OK,
    EXIT_RUN_FAILED,
    JsonOption,
    OneLineErrors,
    StoreOption,
    err,
    fail,
    open_store_or_exit,
    out,
    print_json,
)
from plait.cli.events import EventsOption, runs_events, with_events
from plait.cli.logs import runs_logs
from plait.cli.progress import (
    PLAIN_INTERVAL,
    PROGRESS_INTERVAL_ENV,
    Progress,
    render_runs,
    render_summary,
)
from plait.cli.stats import stats
from plait.compiler.plan import Plan
from plait.compiler.render import RENDERERS
from plait.definition.executor import ExecutorSpec
from plait.definition.limits import parse_size
from plait.definition.loader import read_document
from plait.definition.models import check_env_name
from plait.definition.policy import DEFAULT_POLICY, Policy, make_policy
from plait.durable import prepare_resume, request_cancel, result_from_store
from plait.engine import steplogs
from plait.engine.result import RunResult, duration_ms, from_iso
from plait.engine.run import Run
from plait.errors import LoadError, Problem, StoreError, ValidationError, WorkflowError
from plait.executors.select import check_available
from plait.observability import OTEL_HINT, attach_resumed
from plait.status import RunStatus
from plait.store import Store
from plait.store.records import damage_of

app = typer.Typer(
    name="plait",
    help="Run workflows of many parallel steps, fast and under control.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=OneLineErrors,
)

runs_app = typer.Typer(help="Recorded runs.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")
runs_app.command("logs")(runs_logs)  # what steps logged (cli/logs.py)
app.command("stats")(stats)  # metrics across recorded runs (cli/stats.py)
runs_app.command("events")(runs_events)  # a run's event log (cli/events.py)

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

AllowPythonOption = Annotated[
    list[str] | None,
    typer.Option(
        "--allow-python",
        metavar="MODULE[,MODULE]",
        help="Let python steps call only functions of these modules (mypkg allows "
        "mypkg.sub too); any other is refused at validation. Repeat or separate with commas.",
        show_default=False,
    ),
]
AllowWorkflowDirOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--allow-workflow-dir",
        metavar="DIR",
        help="Let workflow: files come from this folder too (by default only from the "
        "folder of the file that names them, or below); repeat for more.",
        show_default=False,
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


MAX_LIST = 1_000_000  # runs `plait runs list` prints at most: far more than a screen


def _env_names(names: list[str] | None) -> list[str]:
    """``--allow-env`` names, each a valid environment variable name, or exit status 2."""
    for name in names or ():
        try:
            check_env_name(name)
        except ValueError as exc:
            raise fail(f"--allow-env: {exc}") from None
    return list(names or ())


TraceOption = Annotated[
    bool,
    typer.Option(
        "--trace",
        help="Trace the run with OpenTelemetry (plait[otel]), exported as the standard "
        "OTEL_* environment says (OTEL_TRACES_EXPORTER=otlp|console|none, ...); a "
        "workflow with 'tracing:' is traced without it.",
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
QuietOption = Annotated[
    bool,
    typer.Option("--quiet", "-q", help="No progress while the run goes (the summary still)."),
]


def _tracer_provider(wanted: bool, plan: Plan) -> Any:
    """``--trace`` or the workflow's ``tracing:``: a provider set up from the ``OTEL_*``
    environment, or None. Raises ``WorkflowError`` if OpenTelemetry or the exporter
    named is not installed."""
    if not wanted and plan.tracing is None:
        return None
    try:
        from plait.observability.tracing import provider_from_env
    except ImportError:
        raise WorkflowError(Problem(OTEL_HINT, plan.file)) from None
    return provider_from_env()


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
    return fail(_plain(exc))


def _plain(exc: StoreError | WorkflowError) -> str:
    """One line: the error's own words (``PlaitError.plain``), after its file if a
    definition problem names one; a problem at a step or key keeps its full location."""
    if isinstance(exc, WorkflowError) and len(exc.problems) == 1:
        problem = exc.problems[0]
        if problem.step is None and problem.key is None:
            return f"{problem.file}: {exc.plain}" if problem.file else exc.plain
    if isinstance(exc, WorkflowError):
        return "; ".join(problem.render() for problem in exc.problems) or exc.plain
    return exc.plain


def _policy(allow_python: list[str] | None, allow_dirs: list[Path] | None) -> Policy:
    """``--allow-python`` and ``--allow-workflow-dir``, or exit status 2."""
    try:
        return make_policy(allow_python, allow_dirs)
    except ValueError as exc:
        raise _fail_store(WorkflowError(f"--allow-python: {exc}")) from None


def _load(file: Path, policy: Policy = DEFAULT_POLICY) -> Workflow:
    try:
        wf = load(
            file,
            allow_python=policy.python_modules,
            allow_workflow_dirs=policy.workflow_dirs,
        )
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
    allow_python: AllowPythonOption = None,
    allow_workflow_dir: AllowWorkflowDirOption = None,
    trace: TraceOption = False,
    events: EventsOption = None,
    max_output_size: MaxOutputSizeOption = None,
    max_run_size: MaxRunSizeOption = None,
    quiet: QuietOption = False,
) -> None:
    """Run a workflow and record it; show live progress on a terminal (a plain line
    every few seconds and at each failure elsewhere; none with --quiet)."""
    spec = _executor(executor)
    limits = _size("--max-output-size", max_output_size), _size("--max-run-size", max_run_size)
    wf = _load(file, _policy(allow_python, allow_workflow_dir))
    try:
        provider = _tracer_provider(trace, wf.plan)
    except WorkflowError as exc:
        raise _fail_store(exc) from None
    the_store = with_events(open_store_or_exit(store), events)
    try:
        values, text_keys = _parse_inputs(input or [], input_file)
        the_run = wf.create_run(
            values,
            text_inputs=text_keys,
            store=the_store,
            allow_env=_env_names(allow_env),
            executor=spec,
            tracer_provider=provider,
            max_output_size=limits[0],
            max_run_size=limits[1],
        )
    except WorkflowError as exc:
        raise _fail_invalid(exc) from None
    _finish(the_run, as_json, provider, quiet)


def _finish(the_run: Run, as_json: bool, provider: Any = None, quiet: bool = False) -> None:
    """Execute, print the result, exit with the run's status. A tracer provider is
    shut down (its spans exported) before anything is printed."""
    _capture_step_logs()
    progress = None if as_json or quiet else _progress(the_run)
    before = set(_step_threads())
    stop = _Stop(the_run)
    try:
        result = asyncio.run(_execute(the_run, progress, stop))
    except StoreError as exc:
        raise _fail_store(exc) from None
    finally:
        if provider is not None:
            provider.shutdown()
    with _exit_on_signal():
        _print_result(result, as_json, the_run.plan)
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
        code = stop.exit_code or (EXIT_OK if ok else EXIT_RUN_FAILED)
        if _left_running(before):
            # A sync tool whose step timed out or was cancelled is still running in a
            # thread that cannot be killed; its result is discarded. Do not let the
            # interpreter's exit wait for it: the run is over and recorded.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    raise typer.Exit(code)


def _capture_step_logs() -> None:
    """What steps log, at ``$PLAIT_LOG_LEVEL`` (default INFO) and above, is kept."""
    try:
        level = steplogs.level_named(os.environ.get(steplogs.LEVEL_VAR) or "INFO")
    except ValueError as exc:
        raise fail(str(exc)) from None
    steplogs.capture_for_process(level)


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


def _print_result(result: RunResult, as_json: bool, plan: Plan | None = None) -> None:
    if as_json:
        print_json(result.to_document())
    else:
        render_summary(out, result, plan=plan)


def _progress(the_run: Run) -> Progress:
    """The live view on a terminal; elsewhere plain lines every few seconds
    (``PLAIT_PROGRESS_INTERVAL`` seconds, 5 unless set) and at each failure."""
    if err.is_terminal:
        return Progress(err, the_run)
    text = os.environ.get(PROGRESS_INTERVAL_ENV, "")
    interval = PLAIN_INTERVAL
    if text.strip():
        try:
            interval = float(text)
        except ValueError:
            interval = -1.0
        if not 0 < interval < 86_400:
            raise fail(f"{PROGRESS_INTERVAL_ENV}: a number of seconds above 0, not {text!r}")
    return Progress(err, the_run, plain=True, interval=interval)


# The signals that stop a run, and how plait names them. SIGTERM is what a container
# runtime, systemd or Kubernetes sends; it does what Ctrl-C does (issue 19).
STOP_SIGNALS = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}


class _Stop:
    """The first stop signal cancels the run cleanly; a second exits at once with
    128 + its number (130 for SIGINT, 143 for SIGTERM), as a shell reports a process
    that a signal ended."""

    def __init__(self, the_run: Run) -> None:
        self.run = the_run
        self.first: signal.Signals | None = None

    def __call__(self, signum: signal.Signals) -> None:
        if self.first is not None:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(128 + signum)
        self.first = signum
        if signum == signal.SIGINT:
            note = "cancelling the run (Ctrl-C again to exit at once)"
        else:
            note = "SIGTERM: cancelling the run (a second SIGTERM or Ctrl-C exits at once)"
        err.print(note, style="yellow", markup=False)
        self.run.cancel(f"cancelled by {STOP_SIGNALS[signum]}")

    @property
    def exit_code(self) -> int | None:
        """A run SIGTERM cancelled exits 143 (what a supervisor expects of a process it
        terminated); one Ctrl-C cancelled exits 1, as any cancelled run."""
        return 128 + signal.SIGTERM if self.first == signal.SIGTERM else None


# What add_signal_handler raises where a loop cannot take signals: a platform without
# them (Windows: NotImplementedError), a thread that is not the main one (ValueError),
# a closed loop (RuntimeError). The run then goes on without SIGINT/SIGTERM handling.
_NO_SIGNAL_HANDLERS = (NotImplementedError, RuntimeError, ValueError)


async def _execute(the_run: Run, progress: Progress | None, stop: _Stop) -> RunResult:
    """Run with SIGINT and SIGTERM handled (``_Stop``)."""
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        with contextlib.suppress(*_NO_SIGNAL_HANDLERS):
            loop.add_signal_handler(signum, stop, signum)
    try:
        if progress is not None:
            async with progress:
                return await the_run.execute()
        return await the_run.execute()
    finally:
        for signum in STOP_SIGNALS:
            with contextlib.suppress(*_NO_SIGNAL_HANDLERS):
                loop.remove_signal_handler(signum)


@contextlib.contextmanager
def _exit_on_signal() -> Iterator[None]:
    """Once the run has ended (and is recorded), a stop signal exits at once: no
    ``KeyboardInterrupt`` traceback while the result is printed or a step's thread is
    waited for. The handlers in place before are put back."""
    previous: dict[signal.Signals, Any] = {}
    try:
        for signum in STOP_SIGNALS:
            previous[signum] = signal.signal(signum, _exit_now)
    except ValueError:  # not the main thread: leave the handlers alone
        pass
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _exit_now(signum: int, _frame: object) -> None:
    os._exit(128 + signum)


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(help="The workflow file (YAML or JSON).")],
    allow_python: AllowPythonOption = None,
    allow_workflow_dir: AllowWorkflowDirOption = None,
) -> None:
    """Check a workflow file and report every problem with its location."""
    wf = _load(file, _policy(allow_python, allow_workflow_dir))
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
    allow_python: AllowPythonOption = None,
    allow_workflow_dir: AllowWorkflowDirOption = None,
) -> None:
    """Print the compiled DAG as Mermaid or Graphviz dot."""
    wf = _load(file, _policy(allow_python, allow_workflow_dir))
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
    allow_python: AllowPythonOption = None,
    allow_workflow_dir: AllowWorkflowDirOption = None,
    trace: TraceOption = False,
    events: EventsOption = None,
    quiet: QuietOption = False,
) -> None:
    """Go on with an interrupted run: steps that succeeded are reused, not run again.
    ``--executor`` may differ from the first attempt's; ``--allow-env``,
    ``--allow-python`` and ``--allow-workflow-dir`` are not recorded: give them again.
    A traced resume goes on in the trace of the run's first attempt."""
    spec = _executor(executor)
    policy = _policy(allow_python, allow_workflow_dir)
    the_store = with_events(open_store_or_exit(store), events)
    try:
        _refuse_damaged(the_store, run_id, "resumed")
        values, text_keys = _parse_inputs(input or [], None)
        the_run = prepare_resume(
            run_id,
            the_store,
            inputs=values,
            text_inputs=text_keys,
            from_failure=from_failure,
            allow_changed=allow_changed,
            executor=spec,
            allow_env=_env_names(allow_env),
            policy=policy,
        )
    except (LoadError, ValidationError) as exc:  # the recorded workflow, or the file now
        raise fail(f"run {run_id} cannot be resumed: its workflow: {_plain(exc)}") from None
    except (WorkflowError, StoreError) as exc:
        raise _fail_store(exc) from None
    try:
        provider = _tracer_provider(trace, the_run.plan)
        attach_resumed(the_run, the_store, tracer_provider=provider)
    except (WorkflowError, StoreError) as exc:
        with contextlib.suppress(StoreError):  # nothing ran: give the run's lease back
            owner = the_store.get_run(the_run.run_id).lease_owner
            if owner is not None:
                the_store.release_lease(the_run.run_id, owner)
        raise _fail_store(exc) from None
    _finish(the_run, as_json, provider, quiet)


def _refuse_damaged(store: Store, run_id: str, what: str, steps: bool = True) -> None:
    """A run whose row (or, to be resumed, a step's row) the store holds damaged is not
    resumed or cancelled: plait cannot know what it would redo or overwrite."""
    record = store.get_run(run_id)
    damage = damage_of(record)
    if damage is None and steps:
        damage = next(filter(None, map(damage_of, store.get_steps(record.id))), None)
    if damage is not None:
        raise WorkflowError(f"run {record.id} cannot be {what}: {damage}")


@app.command()
def cancel(
    run_id: Annotated[str, typer.Argument(help="The run's id (or a unique prefix of it).")],
    store: StoreOption = None,
) -> None:
    """Cancel a running or paused run, from any terminal."""
    the_store = open_store_or_exit(store)
    try:
        _refuse_damaged(the_store, run_id, "cancelled", steps=False)
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
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=MAX_LIST, help="At most this many.")
    ] = 20,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Recorded runs, newest first."""
    the_store = open_store_or_exit(store)
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
                "duration_ms": duration_ms(from_iso(r.started_at), from_iso(r.finished_at)),
                "damage": damage_of(r),
            }
            for r in records
        ]
        print_json(rows)
    else:
        render_runs(out, records)


@runs_app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(help="The run's id (or a unique prefix of it).")],
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """One recorded run: its steps, groups, outputs (the run document with --json)."""
    the_store = open_store_or_exit(store)
    try:
        result = result_from_store(the_store, run_id)
    except StoreError as exc:
        raise _fail_store(exc) from None
    _print_result(result, as_json)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
