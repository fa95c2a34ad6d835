"""Definition → Plan: resolve ids, desugar both group spellings and ``next_step``, and
check everything that can be checked before a run. Every problem is collected, then
raised together as one ``ValidationError``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

from plait.compiler.inputs import check_type
from plait.compiler.placement import check_placement, step_executor
from plait.compiler.plan import (
    DEFAULT_POOL,
    EnvSpec,
    InputSpec,
    Node,
    NodeKind,
    Plan,
    PoolSpec,
    RetryPolicy,
    TracingSpec,
)
from plait.compiler.reliability import pool_adaptive, pool_breaker, pool_limit, tool_breakers
from plait.compiler.subworkflows import resolve as resolve_workflow
from plait.compiler.validate import FRAME_FIELDS, check_references, find_cycle
from plait.definition.executor import ExecutorSpec
from plait.definition.limits import Limits
from plait.definition.loader import Loaded, parse_definition
from plait.definition.models import (
    GroupDef,
    PoolDef,
    StepDef,
    TracingDef,
    WaitStrategy,
    WorkflowDef,
)
from plait.definition.no_gc import paused_gc
from plait.definition.policy import DEFAULT_POLICY, Policy
from plait.errors import (
    CycleError,
    ExpressionError,
    Problem,
    UnknownToolError,
    ValidationError,
    WorkflowError,
    did_you_mean,
)
from plait.expressions.template import Template, compile_template
from plait.tools.checks import StaticInput, check_declared
from plait.tools.registry import Tool, ToolRegistry, default_registry


@dataclass
class _Builder:
    """Working state of one compilation."""

    definition: WorkflowDef
    file: str | None
    registry: ToolRegistry
    known_bad: set[str]
    policy: Policy = DEFAULT_POLICY  # what whoever runs the workflow allows it to reach
    problems: list[Problem] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)  # group id -> its step id
    group_of: dict[str, str] = field(default_factory=dict)  # member id -> group step id
    members: dict[str, list[str]] = field(default_factory=dict)
    deps: dict[str, list[str]] = field(default_factory=dict)
    routed: dict[str, set[str]] = field(default_factory=dict)  # step -> targets it routes
    handlers: set[str] = field(default_factory=set)  # steps some onError routes to
    # inside a map or loop body: the enclosing scopes' step ids, and `parallel`/`loop`
    outer_ids: frozenset[str] = frozenset()
    frames: dict[str, tuple[str, ...]] = field(default_factory=dict)
    taken: set[str] = field(default_factory=set)  # every step id of the workflow, bodies too
    free: set[str] = field(default_factory=set)  # enclosing steps this body reads
    # every ${env.NAME} of the workflow, bodies too: NAME -> where it is first read
    env_reads: dict[str, tuple[str | None, str]] = field(default_factory=dict)
    # what sub-workflows and waits add to the root plan: their env, the signals waited for
    sub_env: dict[str, EnvSpec] = field(default_factory=dict)
    signals: set[str] = field(default_factory=set)
    bodies: dict[str, Plan] = field(default_factory=dict)
    executor: ExecutorSpec | None = None  # a map's or loop's, for the steps of its body

    def problem(self, message: str, step: str | None = None, key: str | None = None) -> None:
        self.problems.append(Problem(message, self.file, step, key))

    def suggest(self, name: str) -> str:
        """A did-you-mean among the step and group ids this scope can name."""
        return did_you_mean(name, self.step_names())

    def step_names(self) -> frozenset[str]:
        """The names an expression here may use as step ids (hyphens and all): every
        step id seen so far, this scope's group ids and the enclosing scopes' ids."""
        return frozenset(self.taken) | self.aliases.keys() | self.outer_ids

    def resolve_id(self, name: str) -> str | None:
        if name in self.index:
            return name
        return self.aliases.get(name)


def compile_loaded(
    loaded: Loaded, registry: ToolRegistry | None = None, *, policy: Policy = DEFAULT_POLICY
) -> Plan:
    """Compile a loaded file; raise ``ValidationError`` with its problems and ours."""
    if loaded.definition is None:
        raise ValidationError(loaded.located(loaded.problems))
    try:
        return compile_definition(
            loaded.definition,
            file=loaded.file,
            registry=registry,
            earlier=loaded.problems,
            known_bad=loaded.bad_step_ids,
            policy=policy,
        )
    except ValidationError as exc:
        exc.relocate(loaded.located(exc.problems))
        raise


def compile_definition(
    definition: WorkflowDef,
    *,
    file: str | None = None,
    registry: ToolRegistry | None = None,
    earlier: list[Problem] | None = None,
    known_bad: set[str] | None = None,
    policy: Policy = DEFAULT_POLICY,
) -> Plan:
    """``policy``: the Python modules and sub-workflow folders the workflow may reach
    (``--allow-python``, ``--allow-workflow-dir``); refused reaches are problems."""
    with paused_gc():
        return _compile(definition, file, registry, earlier, known_bad, policy)


def _compile(
    definition: WorkflowDef,
    file: str | None,
    registry: ToolRegistry | None,
    earlier: list[Problem] | None,
    known_bad: set[str] | None,
    policy: Policy,
) -> Plan:
    b = _Builder(definition, file, registry or default_registry, known_bad or set(), policy)
    b.problems.extend(earlier or [])
    plan = _compile_steps(b, definition.steps, definition.outputs, definition.name)
    breakers = tool_breakers(definition, b.registry, b.problems, file)
    if b.problems:
        raise ValidationError(b.problems)
    return dataclasses.replace(plan, breakers=breakers) if breakers else plan


def _compile_steps(b: _Builder, steps: list[StepDef], outputs: Any, name: str) -> Plan:
    """Compile one scope: the workflow's steps, or (recursively) a map's or loop's body.
    Problems go to ``b.problems``; the plan is built even when there are some, so that
    every problem of every body is found in one pass."""
    definition = b.definition
    file = b.file
    _index_steps(b, steps)
    _collect_groups(b, steps)
    _collect_deps(b, steps)
    templates = _compile_templates(b, steps, outputs)
    pools = _pools(b, definition)
    _check_steps(b, steps, pools)
    _check_tool_inputs(b, steps, templates)
    if not b.outer_ids:
        _check_input_defaults(b, definition)
    check_references(
        b.problems,
        definition,
        templates,
        b.index,
        b.aliases,
        b.known_bad,
        file,
        b.handlers,
        b.outer_ids,
        b.frames,
    )
    _compile_bodies(b, steps, templates)
    _compile_workflows(b, steps)
    # Look for a cycle even when other problems were found: every problem is reported.
    cycle = find_cycle(b.index, b.deps, b.members)
    if cycle and not b.problems and not b.outer_ids:
        raise CycleError(cycle, file)
    if cycle:
        b.problems.extend(CycleError(cycle, file).problems)
    if b.problems:
        return _EMPTY_PLAN
    return _build_plan(b, steps, templates, pools, outputs, name)


_EMPTY_PLAN = Plan("", None, (), {}, {}, {}, None, (), None)


def _compile_bodies(
    b: _Builder, steps: list[StepDef], templates: dict[tuple[str, str], Template]
) -> None:
    """Compile each map's and loop's body as a plan of its own. A body sees the steps of
    every enclosing scope: what it reads of this scope makes the map or loop depend on
    it (the value must exist before a branch starts)."""
    visible = b.outer_ids | frozenset(b.index)
    for step in steps:
        if step.parallel is None and step.loop is None:
            continue
        frame = "parallel" if step.parallel is not None else "loop"
        body_def = step.parallel if step.parallel is not None else step.loop
        assert body_def is not None
        inner = _Builder(
            b.definition,
            b.file,
            b.registry,
            b.known_bad,
            b.policy,
            problems=b.problems,
            outer_ids=visible,
            frames={**b.frames, frame: FRAME_FIELDS[frame]},
            taken=b.taken,
            executor=step_executor(step, b.executor),
            env_reads=b.env_reads,
            sub_env=b.sub_env,
            signals=b.signals,
        )
        name = f"{b.definition.name}/{step.id}"
        plan = _compile_steps(inner, body_def.steps, body_def.output, name)
        if step.loop is not None and step.loop.condition is not None:
            cond = condition(step.loop.condition)
            template = _body_template(inner, step.id, "loop.condition", cond)
            if template is not None:
                templates[(step.id, "loop.condition")] = template
        b.bodies[step.id] = plan
        for name in inner.free:
            dep = b.resolve_id(name)
            if dep is None:
                b.free.add(name)  # from a scope further out
            elif dep != step.id and dep not in b.deps[step.id]:
                b.deps[step.id].append(dep)


def compile_members(
    entries: list[Any],
    plan: Plan,
    visible: frozenset[str],
    in_body: bool,
    registry: ToolRegistry | None = None,
) -> list[Plan]:
    """A dynamic group's members, as its callable gave them (step definitions): each
    compiled as a one-step body that sees ``visible`` (the enclosing steps), the run's
    inputs and, inside a map or loop, ``parallel``/``loop``. Raises ``ValidationError``
    listing every problem (a member's id may not be a step id already in use)."""
    data = {
        "name": plan.name,
        "inputs": {name: {"type": spec.type} for name, spec in plan.inputs.items()},
        "pools": {name: {} for name in plan.pools if name != DEFAULT_POOL},
        "steps": list(entries),
    }
    loaded = parse_definition(data, file=plan.file)
    if loaded.definition is None:
        raise ValidationError(loaded.problems)
    definition = loaded.definition
    problems: list[Problem] = []
    plans: list[Plan] = []
    taken = set(visible)  # each member's id joins it: two members may not share an id
    for step in definition.steps:
        b = _Builder(
            definition,
            plan.file,
            registry or default_registry,
            set(),
            plan.policy,
            problems=problems,
            outer_ids=visible,
            frames=dict(FRAME_FIELDS) if in_body else {},
            taken=taken,
        )
        plans.append(_compile_steps(b, [step], None, plan.name))
    if problems:
        raise ValidationError(problems)
    return plans


def _compile_workflows(b: _Builder, steps: list[StepDef]) -> None:
    """Each ``workflow:`` step's plan, compiled with its own file's problems."""
    for step in steps:
        if step.wait is not None:
            b.signals.add(step.wait.signal)
        if step.workflow is None:
            continue
        try:
            plan = resolve_workflow(step.workflow, b.file, b.policy, compile_loaded)
        except WorkflowError as exc:
            for problem in exc.problems:
                if problem.file is None:  # about the reference itself: this file's step
                    problem = Problem(problem.message, b.file, step.id, "workflow")
                b.problems.append(problem)
            continue
        b.bodies[step.id] = plan
        for name, where in plan.env_reads.items():
            b.env_reads.setdefault(name, where)
        b.sub_env.update(plan.env)
        b.signals.update(plan.signals)


def _body_template(b: _Builder, step_id: str, key: str, value: Any) -> Template | None:
    """A template of a map or loop that its body's names are visible to (a loop's
    ``condition``): compiled and checked in the body's builder."""
    if value is None:
        return None
    try:
        template = compile_template(value, b.step_names())
    except ExpressionError as exc:
        for problem in exc.problems:
            b.problem(problem.message, step_id, key)
        return None
    check_references(
        b.problems,
        b.definition,
        {(step_id, key): template},
        b.index,
        b.aliases,
        b.known_bad,
        b.file,
        frozenset(),
        b.outer_ids,
        b.frames,
    )
    _note_free(b, template, step_id, key)
    return template


def _note_free(b: _Builder, template: Template, step_id: str | None, key: str) -> None:
    """Note the enclosing steps a body reads, and the environment variables read."""
    for expr in template.expressions():
        for root, keys in expr.names():
            if root in b.outer_ids and root not in b.index:
                b.free.add(root)
            elif root == "env" and keys and isinstance(keys[0], str):
                b.env_reads.setdefault(keys[0], (step_id, key))


# Names that ${...} resolves before step ids: a step so named could never be referenced.
RESERVED_IDS = frozenset(
    {"inputs", "run", "workflow", "env", "loop", "parallel", "result", "error"}
)


def _index_steps(b: _Builder, steps: list[StepDef]) -> None:
    for step in steps:
        if step.id in RESERVED_IDS:
            b.problem(
                f"'{step.id}' is a reserved name in ${{...}} expressions; choose another step id",
                step.id,
                "id",
            )
        if step.id in b.index or step.id in b.known_bad or step.id in b.taken:
            b.problem(f"duplicate step id '{step.id}'", step.id, "id")
            continue
        b.index[step.id] = len(b.index)
        b.taken.add(step.id)
    for step in steps:
        group = step.group()
        if group is None or group.id is None or group.id == step.id:
            continue
        if group.id in b.index or group.id in b.aliases:
            b.problem(
                f"group id '{group.id}' is already used by another step or group",
                step.id,
                "parallelGroup.id",
            )
            continue
        b.aliases[group.id] = step.id


def _collect_groups(b: _Builder, steps: list[StepDef]) -> None:
    for step in steps:
        group = step.group()
        if group is None:
            continue
        key = "parallelGroup.steps" if step.parallel_group is not None else "parallel_steps"
        names: list[str] = group.steps if isinstance(group.steps, list) else []
        resolved: list[str] = []
        for name in names:
            member = b.resolve_id(name)
            if member is None:
                if name not in b.known_bad:
                    b.problem(f"unknown step '{name}'{b.suggest(name)}", step.id, key)
                continue
            if member == step.id:
                b.problem("a group cannot contain itself", step.id, key)
                continue
            if member in resolved:
                b.problem(f"step '{member}' is listed twice", step.id, key)
                continue
            if member in b.group_of:
                b.problem(
                    f"step '{member}' is already a member of group '{b.group_of[member]}'; "
                    "a step belongs to one group at most",
                    step.id,
                    key,
                )
                continue
            b.group_of[member] = step.id
            resolved.append(member)
        b.members[step.id] = resolved
        if group.dynamic:
            continue  # its members are known when it starts
        if not names and group.wait_strategy in (WaitStrategy.ANY, WaitStrategy.RACE):
            b.problem(
                f"an empty '{group.wait_strategy.value}' group can never succeed; list at least "
                "one member or use 'all'",
                step.id,
                key,
            )


def _collect_deps(b: _Builder, steps: list[StepDef]) -> None:
    for step in steps:
        b.deps.setdefault(step.id, [])
    for step in steps:
        for name in step.depends_on:
            dep = b.resolve_id(name)
            if dep is None:
                if name not in b.known_bad:
                    b.problem(f"unknown step '{name}'{b.suggest(name)}", step.id, "dependsOn")
            elif dep == step.id:
                b.problem("a step cannot depend on itself", step.id, "dependsOn")
            elif dep not in b.deps[step.id]:
                b.deps[step.id].append(dep)
        for name in step.next_steps():
            target = b.resolve_id(name)
            if target is None:
                if name not in b.known_bad:
                    b.problem(f"unknown step '{name}'{b.suggest(name)}", step.id, "next_step")
            elif target == step.id:
                b.problem("a step cannot be its own next step", step.id, "next_step")
            elif step.id not in b.deps[target]:
                b.deps[target].append(step.id)
        for key, target in _routes(step):
            resolved = b.resolve_id(target)
            if resolved is None:
                if target not in b.known_bad:
                    b.problem(f"unknown step '{target}'{b.suggest(target)}", step.id, key)
            elif resolved == step.id:
                b.problem("a step cannot route to itself", step.id, key)
            else:
                b.routed.setdefault(step.id, set()).add(resolved)
                if step.id not in b.deps[resolved]:
                    b.deps[resolved].append(step.id)
                if key == "onError":
                    b.handlers.add(resolved)


def _routes(step: StepDef) -> list[tuple[str, str]]:
    """(key, target id) of every route out of a step: switch cases and ``onError``."""
    found = [
        (f"switch[{i}]", target)
        for i, case in enumerate(step.switch or [])
        for target in case.targets()
    ]
    if step.on_error is not None:
        found.append(("onError", step.on_error))
    return found


def condition(value: Any) -> Any:
    """A ``when``-like value: a string with no ``${...}`` is one whole expression."""
    if isinstance(value, str) and "${" not in value:
        return "${" + value + "}"
    return value


def _compile_templates(
    b: _Builder, steps: list[StepDef], outputs: Any
) -> dict[tuple[str, str], Template]:
    """Compile ``input``/``output`` of each step and the workflow's ``outputs``.

    A reference to another step's output is also a dependency on that step: the value
    cannot exist before the step ends.
    """
    templates: dict[tuple[str, str], Template] = {}
    sources: list[tuple[str | None, str, Any]] = [(s.id, "input", s.input) for s in steps]
    sources += [(s.id, "output", s.output) for s in steps if s.output is not None]
    sources += [(s.id, "when", condition(s.when)) for s in steps if s.when is not None]
    sources += [
        (s.id, f"switch[{i}].when", condition(case.when))
        for s in steps
        for i, case in enumerate(s.switch or [])
        if case.default is None
    ]
    for s in steps:
        source = s.parallel if s.parallel is not None else s.loop
        if source is not None:  # evaluated in the enclosing scope, before any branch
            sources += [
                (s.id, f"{'parallel' if s.parallel else 'loop'}.{key}", condition(value))
                for key in ("items", "count")
                if (value := getattr(source, key)) is not None
            ]
    sources.append((None, "outputs", outputs))
    names = b.step_names()
    for step_id, key, value in sources:
        try:
            template = compile_template(value, names)
        except ExpressionError as exc:
            for problem in exc.problems:
                b.problem(problem.message, step_id, key)
            continue
        templates[(step_id or "", key)] = template
        _note_free(b, template, step_id, key)
        if step_id is None:
            continue
        # A group's own `output:` reads its members after they ended: no edge for those.
        inside = _descendants(b, step_id) if key == "output" else set()
        for expr in template.expressions():
            for root, _ in expr.names():
                dep = b.resolve_id(root)
                if dep is None or dep == step_id or dep in inside or dep in b.deps[step_id]:
                    continue
                b.deps[step_id].append(dep)
    return templates


def _descendants(b: _Builder, group_id: str) -> set[str]:
    found: set[str] = set()
    stack = list(b.members.get(group_id, []))
    while stack:
        member = stack.pop()
        if member not in found:
            found.add(member)
            stack.extend(b.members.get(member, []))
    return found


def _pools(b: _Builder, definition: WorkflowDef) -> dict[str, PoolSpec]:
    pools = {DEFAULT_POOL: _pool_spec(DEFAULT_POOL, definition.parallel_config)}
    for name, pool in definition.pools.items():
        if name == DEFAULT_POOL and b.outer_ids:
            continue  # reported once, for the workflow
        if name == DEFAULT_POOL:
            b.problem(
                f"'{DEFAULT_POOL}' is the global pool; configure it under 'parallelConfig'",
                None,
                f"pools.{name}",
            )
            continue
        pools[name] = _pool_spec(name, pool)
    return pools


def _pool_spec(name: str, pool: PoolDef) -> PoolSpec:
    limit, breaker, adaptive = pool_limit(pool), pool_breaker(pool), pool_adaptive(pool)
    return PoolSpec(
        name, limit, pool.queue_size, pool.timeout, pool.rate, pool.burst or 1, breaker, adaptive
    )


def _check_steps(b: _Builder, steps: list[StepDef], pools: dict[str, PoolSpec]) -> None:
    for step in steps:
        if step.pool is not None and step.pool not in pools:
            known = ", ".join(sorted(pools))
            hint = did_you_mean(step.pool, pools)
            b.problem(
                f"unknown pool '{step.pool}'{hint or f'; pools are: {known}'}", step.id, "pool"
            )
        if isinstance(step.tool, str):
            try:
                b.registry.get(step.tool)
            except UnknownToolError:
                hint = did_you_mean(step.tool, b.registry)
                b.problem(
                    f"unknown tool '{step.tool}'{hint}"
                    if hint
                    else f"unknown tool "
                    f"'{step.tool}'; register it with @plait.tool, install a package that "
                    "provides it, or call a function with the 'python' tool",
                    step.id,
                    "tool",
                )
        if step.kind != "task" and step.retry is not None:
            b.problem(f"'retry' applies to task steps, not a {step.kind}", step.id, "retry")
        if step.on_error is not None and step.continue_on_error:
            b.problem(
                "a step has either 'onError' (route its failure) or 'continueOnError', not both",
                step.id,
                "onError",
            )
        check_placement(step, b.problem)


def _check_tool_inputs(
    b: _Builder, steps: list[StepDef], templates: dict[tuple[str, str], Template]
) -> None:
    """Each tool's own check of its steps' inputs as written (``Tool.check``): what a run
    input may not decide, such as a shell script or a SQL text (issue 19); and the keys
    and kinds of value the tool declares (``Tool.inputs``), with a did-you-mean."""
    folder = Path(b.file).resolve().parent if b.file else None
    for step in steps:
        if not isinstance(step.tool, str | Tool):
            continue
        try:
            tool = _tool(b, step)
        except UnknownToolError:
            continue  # reported by _check_steps
        template = templates.get((step.id, "input"))
        if tool is None or template is None:
            continue
        given = StaticInput(template, b.policy, folder)
        findings = check_declared(tool.name, tool.inputs, given) if tool.inputs else iter(())
        for key, message in chain(findings, tool.check(given) if tool.check else ()):
            b.problem(message, step.id, f"input.{key}" if key else "input")


def _check_input_defaults(b: _Builder, definition: WorkflowDef) -> None:
    for name, spec in definition.inputs.items():
        if spec.default is None:
            continue
        try:
            check_type(InputSpec(name, spec.type, spec.default, spec.is_required), spec.default)
        except ValueError as exc:
            b.problem(f"bad default: {exc}", None, f"inputs.{name}.default")


def _tool(b: _Builder, step: StepDef) -> Tool | None:
    if isinstance(step.tool, str):
        return b.registry.get(step.tool)
    if callable(step.tool):
        tool: Callable[..., Any] = step.tool
        return tool if isinstance(tool, Tool) else Tool.from_callable(tool)
    return None


def _retry(step: StepDef) -> RetryPolicy | None:
    r = step.retry
    if r is None or r.max_attempts <= 1:
        return None
    jitter = 1.0 if r.jitter is True else float(r.jitter or 0.0)
    return RetryPolicy(
        max_attempts=r.max_attempts,
        initial=r.backoff.initial or 0.0,
        multiplier=r.backoff.multiplier,
        max_delay=r.backoff.max if r.backoff.max is not None else float("inf"),
        jitter=min(max(jitter, 0.0), 1.0),
        retry_on=frozenset(r.retry_on) if r.retry_on is not None else None,
        deadline=r.deadline,
    )


def _build_plan(
    b: _Builder,
    steps: list[StepDef],
    templates: dict[tuple[str, str], Template],
    pools: dict[str, PoolSpec],
    outputs: Any,
    name: str,
) -> Plan:
    index = b.index
    out: dict[str, list[int]] = {s.id: [] for s in steps}
    for step in steps:
        for dep in b.deps[step.id]:
            out[dep].append(index[step.id])
    nodes = []
    for step in steps:
        group: GroupDef | None = step.group()
        parent = b.group_of.get(step.id)
        common: dict[str, Any] = {
            "index": index[step.id],
            "id": step.id,
            "deps": tuple(index[d] for d in b.deps[step.id]),
            "out": tuple(out[step.id]),
            "group": index[parent] if parent is not None else None,
            "pool": step.pool or DEFAULT_POOL,
            "continue_on_error": step.continue_on_error,
            "when": templates.get((step.id, "when")),
            "routed": frozenset(index[t] for t in b.routed.get(step.id, ())),
            "on_error": (index[b.resolve_id(step.on_error) or ""],) if step.on_error else (),
            "executor": step_executor(step, b.executor),
        }
        if step.parallel is not None:
            m = step.parallel
            common["continue_on_error"] = step.continue_on_error or m.continue_on_error
            node = Node(
                kind=NodeKind.MAP,
                timeout=step.timeout,
                body=b.bodies[step.id],
                items=templates.get((step.id, "parallel.items")),
                count=templates.get((step.id, "parallel.count")),
                strategy=m.wait_strategy,
                max_concurrent=m.max_concurrent,
                output=templates.get((step.id, "output")),
                **common,
            )
        elif step.loop is not None:
            loop = step.loop
            node = Node(
                kind=NodeKind.LOOP,
                timeout=step.timeout,
                body=b.bodies[step.id],
                loop_type=loop.type.value,
                items=templates.get((step.id, "loop.items")),
                count=templates.get((step.id, "loop.count")),
                condition=templates.get((step.id, "loop.condition")),
                max_iterations=loop.limit,
                output=templates.get((step.id, "output")),
                **common,
            )
        elif step.switch is not None:
            node = Node(
                kind=NodeKind.SWITCH,
                cases=tuple(
                    (
                        templates.get((step.id, f"switch[{i}].when")),
                        tuple(index[b.resolve_id(t) or ""] for t in case.targets()),
                    )
                    for i, case in enumerate(step.switch)
                ),
                **common,
            )
        elif step.workflow is not None:
            node = Node(
                kind=NodeKind.WORKFLOW,
                timeout=step.timeout,
                body=b.bodies[step.id],
                input=templates[(step.id, "input")],
                output=templates.get((step.id, "output")),
                **common,
            )
        elif step.wait is not None:
            node = Node(
                kind=NodeKind.WAIT,
                timeout=step.timeout,
                signal=step.wait.signal,
                output=templates.get((step.id, "output")),
                **common,
            )
        elif group is None:
            node = Node(
                kind=NodeKind.TASK,
                timeout=step.timeout,
                tool=_tool(b, step),
                input=templates[(step.id, "input")],
                output=templates.get((step.id, "output")),
                retry=_retry(step),
                **common,
            )
        else:
            common["continue_on_error"] = step.continue_on_error or group.continue_on_error
            node = Node(
                kind=NodeKind.GROUP,
                timeout=group.timeout if group.timeout is not None else step.timeout,
                members=tuple(index[m] for m in b.members.get(step.id, [])),
                dynamic=group.steps if callable(group.steps) else None,
                group_id=group.id or step.id,
                strategy=group.wait_strategy,
                max_concurrent=group.max_concurrent,
                output=templates.get((step.id, "output")),
                **common,
            )
        nodes.append(node)
    definition = b.definition
    terminals = tuple(n.index for n in nodes if n.group is None and not n.out)
    folder = Path(b.file).resolve().parent if b.file else None
    return Plan(
        name=name,
        description=definition.description,
        nodes=tuple(nodes),
        index={**index, **{alias: index[sid] for alias, sid in b.aliases.items()}},
        pools=pools,
        inputs={
            name: InputSpec(name, spec.type, spec.default, spec.is_required)
            for name, spec in definition.inputs.items()
        },
        outputs=templates.get(("", "outputs")) if outputs is not None else None,
        terminals=terminals,
        max_duration=definition.max_duration,
        file=b.file,
        folder=folder,
        executor=definition.executor,
        env={
            **b.sub_env,
            **{
                name: EnvSpec(name, spec.default, spec.is_required, spec.secret)
                for name, spec in definition.env.items()
            },
        },
        env_reads=b.env_reads,
        signals=frozenset(b.signals),
        policy=b.policy,
        tracing=_tracing(definition.tracing),
        limits=Limits(definition.limits.max_output_size, definition.limits.max_run_size),
    )


def _tracing(tracing: TracingDef | None) -> TracingSpec | None:
    if tracing is None:
        return None
    return TracingSpec(tracing.sample_ratio, tracing.min_step_duration or 0.0)
