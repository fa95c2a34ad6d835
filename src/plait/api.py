"""The Python API: load or build a workflow, then run it.

wf = plait.load("workflow.yaml")
result = await wf.run(inputs={"user_id": 7})

wf = (plait.Workflow("fetch")
      .task("users", tool=fetch_users, input={"limit": 5})
      .task("orders", tool="echo", input={"n": 1})
      .group("fetch_all", ["users", "orders"], wait_strategy="any"))
result = plait.run_sync(wf)
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import json
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from plait.compiler import Plan, bind_env, bind_inputs, compile_loaded
from plait.compiler.subworkflows import register_workflow as register_subworkflow
from plait.definition.executor import ExecutorSpec
from plait.definition.loader import Loaded, load_definition, parse_definition
from plait.definition.policy import DEFAULT_POLICY, Policy, make_policy
from plait.durable import (
    Definition,
    as_store,
    new_run,
    prepare_resume,
    request_cancel,
    result_from_store,
)
from plait.engine.result import RunResult
from plait.engine.run import Run
from plait.errors import ValidationError, WorkflowError
from plait.executors.base import Executor
from plait.executors.select import check_available, parse_choice, specs_used
from plait.observability import attach, attach_resumed
from plait.store import Store

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider
    from prometheus_client import CollectorRegistry

# Where steps run (issue 7): an Executor, or 'process', 'dask://HOST:PORT', a mapping...
ExecutorArg = Executor | ExecutorSpec | str | Mapping[str, Any] | None
# What a workflow may reach (issue 19): modules "a,b" or ["a", "b"]; folders
AllowPython = Collection[str] | str | None
AllowDirs = Collection[str | Path] | None


class Workflow:
    """A workflow definition, from a file or built in code, compiled on first use."""

    def __init__(self, name: str, *, description: str | None = None, **settings: Any) -> None:
        """``settings`` are the file's top-level keys in snake_case or camelCase:
        ``inputs``, ``parallel_config``, ``pools``, ``max_duration``, ``outputs``, ``steps``."""
        self._data: dict[str, Any] = {"name": name, "steps": [], **settings}
        if description is not None:
            self._data["description"] = description
        self._file: str | None = None
        self._source: str | None = None
        self._loaded: Loaded | None = None
        self._policy = DEFAULT_POLICY
        self._plans: dict[Policy, Plan] = {}
        self._definition: Definition | None = None

    # -- making one ------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, file: str | None = None) -> Workflow:
        """A workflow from the same mapping a YAML or JSON file holds."""
        wf = cls.__new__(cls)
        wf._data = dict(data)
        wf._file = file
        wf._source = None
        wf._loaded = None
        wf._policy = DEFAULT_POLICY
        wf._plans = {}
        wf._definition = None
        return wf

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        *,
        allow_python: AllowPython = None,
        allow_workflow_dirs: AllowDirs = None,
    ) -> Workflow:
        """Load and compile a file (see ``plait.load``)."""
        policy = make_policy(allow_python, allow_workflow_dirs)
        loaded = load_definition(path)
        wf = cls.__new__(cls)
        wf._data = {}
        wf._file = str(path)
        wf._source = loaded.source
        wf._loaded = loaded
        wf._policy = policy
        wf._plans = {}
        wf._definition = None
        wf.plan_for(policy)
        return wf

    def step(self, id: str, **keys: Any) -> Self:
        """Add a step of any kind, with the keys a file would give it."""
        self._require_built_in_code()
        self._data.setdefault("steps", []).append({"id": id, **keys})
        self._plans = {}
        self._definition = None
        return self

    def task(self, id: str, tool: str | Callable[..., Any], input: Any = None, **keys: Any) -> Self:
        """Add a task: ``tool`` is a registered name or any function (sync or async)."""
        return self.step(id, tool=tool, input=input, **keys)

    def group(
        self,
        id: str,
        steps: list[str],
        *,
        wait_strategy: str = "all",
        max_concurrent: int | None = None,
        continue_on_error: bool = False,
        timeout: float | str | None = None,
        **keys: Any,
    ) -> Self:
        """Add a parallel group of the named member steps."""
        group: dict[str, Any] = {
            "steps": list(steps),
            "wait_strategy": wait_strategy,
            "continue_on_error": continue_on_error,
        }
        if max_concurrent is not None:
            group["max_concurrent"] = max_concurrent
        if timeout is not None:
            group["timeout"] = timeout
        return self.step(id, parallel_group=group, **keys)

    def _require_built_in_code(self) -> None:
        if self._file is not None and not self._data:
            raise TypeError("a workflow loaded from a file cannot be changed; edit the file")

    # -- compiling --------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.plan.name

    @property
    def file(self) -> str | None:
        return self._file

    @property
    def source(self) -> str | None:
        """The text of the file this workflow was loaded from, if any."""
        return self._source

    @property
    def plan(self) -> Plan:
        """The compiled DAG. Raises ``ValidationError`` listing every problem."""
        return self.plan_for(self._policy)

    def plan_for(self, policy: Policy) -> Plan:
        """The DAG compiled under ``policy`` (the modules and folders it may reach):
        once per policy. Raises ``ValidationError`` listing every problem."""
        plan = self._plans.get(policy)
        if plan is None:
            loaded: Loaded = self._loaded or parse_definition(
                copy.copy(self._data), file=self._file
            )
            plan = self._plans[policy] = compile_loaded(loaded, policy=policy)
        return plan

    def _policy_with(self, allow_python: AllowPython, allow_workflow_dirs: AllowDirs) -> Policy:
        return self._policy.override(
            allow_python=allow_python, allow_workflow_dirs=allow_workflow_dirs
        )

    def validate(self) -> None:
        """Compile now; raise ``ValidationError`` if anything is wrong."""
        _ = self.plan

    def definition(self, plan: Plan | None = None) -> Definition:
        """The text recorded with each run (the file's, or the built data as JSON)."""
        plan = plan if plan is not None else self.plan
        if self._definition is None:
            if self._source is not None:
                file = str(Path(self._file).resolve()) if self._file is not None else None
                self._definition = Definition.of(self._source, file, plan)
            else:
                text = json.dumps(self._data, sort_keys=True, default=_describe)
                self._definition = Definition.of(text, None, plan)
        return self._definition

    # -- running --------------------------------------------------------------------

    def create_run(
        self,
        inputs: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
        executor: ExecutorArg = None,
        text_inputs: Collection[str] = (),
        store: Store | str | Path | None = None,
        allow_env: Collection[str] = (),
        allow_python: AllowPython = None,
        allow_workflow_dirs: AllowDirs = None,
        tracer_provider: TracerProvider | None = None,
        metrics: CollectorRegistry | None = None,
        max_output_size: int | str | None = None,
        max_run_size: int | str | None = None,
    ) -> Run:
        """A run ready to ``execute()``; keep it to ``cancel()`` from elsewhere.

        Inputs named in ``text_inputs`` are text to convert by their declared type, as
        ``--input n=5`` on the command line gives the integer 5. With ``store`` (a
        ``Store`` or a URL), the run and every step execution are recorded there.
        ``${env.NAME}`` reads the variables declared under ``env:`` and those named in
        ``allow_env``; their values are masked in what the run records and reports.
        ``allow_python`` (modules) limits what ``python`` steps may call, and
        ``allow_workflow_dirs`` (folders) where ``workflow:`` files may come from
        besides the including file's folder; given, they replace what ``load`` was
        given. A step beyond them is a ``ValidationError`` (docs/security.md).
        With ``tracer_provider`` (OpenTelemetry, ``plait[otel]``) the run is traced
        there, as it is in the global provider if the workflow says ``tracing:``; with
        ``metrics`` (a Prometheus ``CollectorRegistry``) it reports into that registry
        (docs/observability.md).
        ``max_output_size`` and ``max_run_size`` (bytes, or a size such as ``"64MiB"``)
        override the workflow's ``limits:`` for this run.
        """
        plan = self.plan_for(self._policy_with(allow_python, allow_workflow_dirs))
        plan = _with_limits(plan, max_output_size, max_run_size)
        bound = bind_inputs(plan, inputs or {}, text_keys=text_inputs)
        executor = parse_choice(executor)
        check_available(specs_used(plan, executor), self._file)
        env = bind_env(plan, allow_env)
        if store is None:
            the_run = Run(plan, bound, run_id=run_id, executor=executor, env=env)
        else:
            the_run = new_run(
                plan,
                bound,
                self.definition(plan),
                as_store(store),
                run_id=run_id,
                executor=executor,
                env=env,
            )
        attach(the_run, tracer_provider=tracer_provider, metrics=metrics)
        return the_run

    async def run(
        self,
        inputs: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
        executor: ExecutorArg = None,
        store: Store | str | Path | None = None,
        allow_env: Collection[str] = (),
        allow_python: AllowPython = None,
        allow_workflow_dirs: AllowDirs = None,
        tracer_provider: TracerProvider | None = None,
        metrics: CollectorRegistry | None = None,
        max_output_size: int | str | None = None,
        max_run_size: int | str | None = None,
    ) -> RunResult:
        """Run the workflow to its end and return the result (it never raises for a
        failed run: look at ``result.status``). ``store`` records it (default: not).
        The other keywords are ``create_run``'s."""
        async with _opened(store) as opened:
            the_run = self.create_run(
                inputs,
                run_id=run_id,
                executor=executor,
                store=opened,
                allow_env=allow_env,
                allow_python=allow_python,
                allow_workflow_dirs=allow_workflow_dirs,
                tracer_provider=tracer_provider,
                metrics=metrics,
                max_output_size=max_output_size,
                max_run_size=max_run_size,
            )
            return await the_run.execute()

    def __repr__(self) -> str:
        try:
            name = self.plan.name
        except ValidationError:
            name = self._data.get("name", "?")
        return f"<Workflow {name!r}>"


def _with_limits(plan: Plan, max_output_size: object, max_run_size: object) -> Plan:
    """``plan`` with the limits a caller gives for one run (a ``WorkflowError`` naming
    the argument for a bad size)."""
    if max_output_size is None and max_run_size is None:
        return plan
    limits = plan.limits
    for name, value in (("max_output_size", max_output_size), ("max_run_size", max_run_size)):
        try:
            limits = limits.replace(**{name: value})
        except ValueError as exc:
            raise WorkflowError(f"{name}: {exc}") from None
    return dataclasses.replace(plan, limits=limits)


def _describe(value: Any) -> str:
    name = getattr(value, "__qualname__", None)
    module = getattr(value, "__module__", None)
    return f"{module}:{name}" if name and module else repr(value)


async def resume(
    run_id: str,
    *,
    store: Store | str | Path | None = None,
    inputs: Mapping[str, Any] | None = None,
    from_failure: bool = False,
    allow_changed: bool = False,
    workflow: Workflow | None = None,
    executor: ExecutorArg = None,
    allow_env: Collection[str] = (),
    signals: Mapping[str, Any] | None = None,
    allow_python: AllowPython = None,
    allow_workflow_dirs: AllowDirs = None,
    tracer_provider: TracerProvider | None = None,
    metrics: CollectorRegistry | None = None,
) -> RunResult:
    """Go on with an interrupted run (its process died) or, with ``from_failure``, a
    failed one: every step that succeeded keeps its output and is not run again.
    ``workflow`` supplies the definition for a run built in code (with functions as
    tools); a run from a file is resumed from the file, or its recorded text. A paused
    run goes on with ``signals`` (signal name -> value for its ``wait`` steps).
    ``allow_env``, ``allow_python`` and ``allow_workflow_dirs`` are not recorded: give
    them as on the first attempt. A traced resume goes on in the trace of the run's
    first attempt (``Workflow.create_run`` says how to trace and measure)."""
    if workflow is not None:
        policy = workflow._policy_with(allow_python, allow_workflow_dirs)
    else:
        policy = make_policy(allow_python, allow_workflow_dirs)
    async with _opened(store, default=True) as opened:
        assert opened is not None
        the_run = await asyncio.to_thread(
            prepare_resume,
            run_id,
            opened,
            inputs=inputs,
            from_failure=from_failure,
            allow_changed=allow_changed,
            plan=workflow.plan_for(policy) if workflow is not None else None,
            executor=parse_choice(executor),
            allow_env=allow_env,
            signals=signals,
            policy=policy,
        )
        await asyncio.to_thread(
            attach_resumed, the_run, opened, tracer_provider=tracer_provider, metrics=metrics
        )
        return await the_run.execute()


@contextlib.asynccontextmanager
async def _opened(
    store: Store | str | Path | None, *, default: bool = False
) -> AsyncIterator[Store | None]:
    """A store given as a URL is opened off the event loop, and closed after."""
    if store is None and not default:
        yield None
        return
    if store is not None and not isinstance(store, str | Path):
        yield store
        return
    opened = await asyncio.to_thread(as_store, store)
    try:
        yield opened
    finally:
        opened.close()


def cancel(run_id: str, *, store: Store | str | Path | None = None) -> str:
    """Cancel a recorded run from any process; returns what happened, in words."""
    return request_cancel(run_id, as_store(store))


def get_run(run_id: str, *, store: Store | str | Path | None = None) -> RunResult:
    """A recorded run's result, rebuilt from the store (its run document:
    ``.to_document()``)."""
    return result_from_store(as_store(store), run_id)


def register_workflow(workflow: Workflow | str | Path, name: str | None = None) -> str:
    """Make ``workflow: NAME`` in any workflow run this one (a ``Workflow``, or a file).
    ``name`` defaults to the workflow's own name. Returns the name."""
    wf = workflow if isinstance(workflow, Workflow) else load(workflow)
    key = name or wf.name
    register_subworkflow(key, wf.plan_for)  # under the policy of the file that names it
    return key


def load(
    path: str | Path,
    *,
    allow_python: AllowPython = None,
    allow_workflow_dirs: AllowDirs = None,
) -> Workflow:
    """Load a YAML or JSON workflow file. Raises ``LoadError`` or ``ValidationError``
    (both ``WorkflowError``) listing every problem, with file, step and key.

    ``allow_python``: the only modules ``python`` steps may call (``"a,b"`` or a list;
    ``mypkg`` allows ``mypkg.sub``). ``allow_workflow_dirs``: folders ``workflow:`` files
    may come from besides the including file's own. See docs/security.md."""
    return Workflow.from_file(
        path, allow_python=allow_python, allow_workflow_dirs=allow_workflow_dirs
    )


def run_sync(
    workflow: Workflow | str | Path,
    inputs: Mapping[str, Any] | None = None,
    **options: Any,
) -> RunResult:
    """Run a workflow from synchronous code (not from inside a running event loop).
    ``options`` are ``Workflow.run``'s (``allow_python`` and ``allow_workflow_dirs``
    apply to loading a file too)."""
    if isinstance(workflow, Workflow):
        wf = workflow
    else:
        wf = load(
            workflow,
            allow_python=options.get("allow_python"),
            allow_workflow_dirs=options.get("allow_workflow_dirs"),
        )
    return asyncio.run(wf.run(inputs, **options))
