"""Maps, loops and sub-workflows: a body of steps run as child runs of the run (SPEC §1).

A map runs its body once per item, as branches ``id<0>``, ``id<1>``, ..., through a
sliding window (``maxConcurrent``): a branch starts the moment another ends, and
branches are created only as they start, so memory grows with the window, not with
the number of items. A loop runs its body once per pass, strictly one after another.
A ``workflow:`` step runs another workflow's plan once, as a child with its own names
(its inputs, its workflow name); its nodes are ``STEP/child_step``.

    map/loop node starts ─▶ scope.start() ─▶ child Run per branch / pass
    child ends ─▶ scope.branch_ended() ─▶ tally (map) or next pass (loop) ─▶ end node

A body's branch or pass is a ``Run`` made by ``Run.child``: it shares the run's
pools, executor, recorder and task set, so limits, recording and "nothing leaks"
hold inside bodies exactly as outside. Neither scope holds a worker slot.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from plait.compiler.inputs import bind_inputs
from plait.compiler.plan import NodeKind
from plait.definition.models import WaitStrategy
from plait.engine.deadlines import Deadline
from plait.engine.state import Frame, FrameScope, ResultScope, StepState
from plait.engine.strategies import Outcome, Tally, Verdict, strategy_for
from plait.errors import InputError, PlaitError, RunError, StepFailed, StepTimedOut
from plait.status import RunStatus, StepStatus

if TYPE_CHECKING:
    from plait.engine.protocols import Host as Run

MAX_ITEMS = 10_000_000


class LoopLimitExceeded(StepFailed):
    type = "LoopLimitExceeded"


class _FrameScope(ABC):
    """What maps and loops share: the node, its timer, stopping the live children.
    A subclass says how the body begins, what starts next, and what a child's end means."""

    def __init__(self, run: Run, state: StepState) -> None:
        self.run = run
        self.state = state
        self.node = state.node
        self.live: dict[int, Run] = {}
        self.decided = False
        self.timer: Deadline | None = None
        self._busy = False  # a trampoline: children that end at once never recurse
        self._again = False
        self._begun = False

    def start(self) -> None:
        node = self.node
        if node.timeout is not None:
            self.timer = self.run.session.deadlines.after(node.timeout, self._timed_out)
        self.advance()

    @abstractmethod
    def begin(self) -> None:
        """Evaluate what drives the body (items, count) in the enclosing scope."""

    @abstractmethod
    def step(self) -> None:
        """Start what may start now, or end the node when nothing more will."""

    @abstractmethod
    def ended(self, key: int, child: Run) -> None:
        """A live child (branch or pass ``key``) ended, the node still undecided."""

    def advance(self) -> None:
        """Run ``step`` until it has nothing more to do; a child that ends inside it only
        asks for another round, so a body that ends at once never recurses."""
        if self._busy:
            self._again = True
            return
        self._busy = True
        try:
            again = True
            while again and not self.decided:
                self._again = False
                try:
                    if not self._begun:
                        self._begun = True
                        self.begin()
                    self.step()
                except PlaitError as exc:
                    self.fail(StepFailed(_text(exc), step=self.state.node_id, type=_type(exc)))
                except Exception as exc:  # a bug must end the node, never hang the run
                    message = f"{type(exc).__name__}: {exc}"
                    self.fail(StepFailed(message, step=self.state.node_id, type="InternalError"))
                again = self._again
        finally:
            self._busy = False

    def stop(self, child_status: StepStatus, reason: str) -> None:
        """End every live child (the node was cancelled, timed out or decided)."""
        self.decided = True
        if self.timer is not None:
            self.timer.cancel()
        status = (
            RunStatus.TIMED_OUT if child_status is StepStatus.TIMED_OUT else RunStatus.CANCELLED
        )
        for child in list(self.live.values()):
            child.abort(status, reason)
        self.live.clear()

    def _timed_out(self) -> None:
        if self.decided or self.state.done:
            return
        message = f"{self.node.kind.value} '{self.node.id}' timed out after {self.node.timeout:g}s"
        self.stop(StepStatus.TIMED_OUT, message)
        self.run.end(
            self.state, StepStatus.TIMED_OUT, error=StepTimedOut(message, step=self.node.id)
        )

    def fail(self, error: RunError) -> None:
        if self.decided:
            return
        self.stop(StepStatus.CANCELLED, f"{self.node.kind.value} '{self.node.id}' failed")
        self.run.end(self.state, StepStatus.FAILED, error=error)

    def succeed(self, output: Any) -> None:
        if self.decided:
            return
        self.stop(StepStatus.CANCELLED, f"{self.node.kind.value} '{self.node.id}' succeeded")
        node = self.node
        if node.output is not None:
            try:
                output = node.output.render(ResultScope(self.run.scope_for(self.state), output))
            except PlaitError as exc:
                self.run.end(
                    self.state,
                    StepStatus.FAILED,
                    error=StepFailed(f"output: {_text(exc)}", step=node.id, type=_type(exc)),
                )
                return
        self.run.end(self.state, StepStatus.SUCCEEDED, output=output)

    def spawn(self, key: int, frame: Frame, names: dict[str, Any]) -> Run:
        outer = self.run.scope_for(self.state)

        def child_ended(child: Run) -> None:
            if self.live.pop(key, None) is not None and not self.decided:
                self.ended(key, child)
                self.advance()

        child = self.run.child(frame.plan, frame, names, outer, child_ended)
        self.live[key] = child
        child.start()
        return child


def branch_output(child: Run) -> Any:
    """A branch's or pass's output: the body's ``output:``, else its last step's."""
    plan = child.plan
    if plan.outputs is not None:
        return plan.outputs.render(child.scope)
    return child.states[-1].output if child.states else None


class MapScope(_FrameScope):
    """``parallel:``: one branch per item, a sliding window, a wait strategy."""

    def begin(self) -> None:
        node = self.node
        scope = self.run.scope_for(self.state)
        if node.items is not None:
            self.items: list[Any] = _items(self, node.items.render(scope))
        else:
            assert node.count is not None
            count = _count(self, node.count.render(scope))
            if count > MAX_ITEMS:
                raise StepFailed(
                    f"map '{node.id}': 'count' {count} is over {MAX_ITEMS}", type="InvalidItems"
                )
            self.items = list(range(count))
        self.total = len(self.items)
        self.outputs: list[Any] = [None] * self.total
        self.next = 0
        self.strategy = strategy_for(node.strategy)
        self.tally = Tally(total=self.total)
        self.limit = node.max_concurrent or self.total or 1
        frame = self.state.frame
        self.suffix = frame.suffix if frame is not None else ""
        self.prefix = frame.prefix if frame is not None else ""

    def step(self) -> None:
        if self.total == 0:
            self.succeed([])
            return
        while not self.decided and self.next < self.total and len(self.live) < self.limit:
            i = self.next
            self.next += 1
            frame = Frame(
                self.node.body,  # type: ignore[arg-type]
                f"{self.suffix}<{i}>",
                self.state.node_id,
                branch=i,
                join=self.node.strategy.value,
                prefix=self.prefix,
            )
            names = {"parallel": {"index": i, "item": self.items[i], "items": self.items}}
            self.spawn(i, frame, names)

    def ended(self, key: int, child: Run) -> None:
        status = child.status
        if status is RunStatus.SUCCEEDED:
            try:
                self.outputs[key] = branch_output(child)
                outcome = Outcome.SUCCEEDED
            except PlaitError as exc:
                child.error = StepFailed(f"output: {_text(exc)}", step=self.node.id)
                outcome = Outcome.FAILED
        elif status in (RunStatus.FAILED, RunStatus.TIMED_OUT):
            outcome = Outcome.SETTLED if self.node.continue_on_error else Outcome.FAILED
        else:
            outcome = Outcome.NEUTRAL
        self.tally.count(outcome)
        verdict = self.strategy.on_end(outcome, self.tally)
        if verdict is Verdict.SUCCEED:
            if self.node.strategy in (WaitStrategy.ANY, WaitStrategy.RACE):
                self.state.winner = f"{self.prefix}{self.node.id}{self.suffix}<{key}>"
                self.succeed(self.outputs[key])
            else:
                self.succeed(self.outputs)
        elif verdict is Verdict.FAIL:
            error = child.error
            where = f"map '{self.node.id}': branch {key}"
            if self.node.strategy is WaitStrategy.ANY or error is None:
                self.fail(StepFailed(f"{where}: every branch failed", step=self.node.id))
            else:
                self.fail(
                    StepFailed(
                        f"{where} failed: {error.message}", step=self.node.id, type=error.type
                    )
                )


class LoopScope(_FrameScope):
    """``loop:``: passes strictly in order; an error in a pass stops the loop."""

    def begin(self) -> None:
        node = self.node
        scope = self.run.scope_for(self.state)
        self.items: list[Any] | None = None
        self.count: int | None = None
        if node.items is not None:
            self.items = _items(self, node.items.render(scope))
            self.count = len(self.items)
        elif node.count is not None:
            self.count = _count(self, node.count.render(scope))
        if self.count is not None and self.count > node.max_iterations:
            raise LoopLimitExceeded(
                f"loop '{node.id}' would run {self.count} passes, over its maxIterations "
                f"({node.max_iterations}); raise maxIterations",
                step=node.id,
            )
        self.index = 0
        self.results: list[Any] = []
        self.last: Run | None = None
        frame = self.state.frame
        self.suffix = frame.suffix if frame is not None else ""
        self.prefix = frame.prefix if frame is not None else ""

    def _names(self) -> dict[str, Any]:
        item = self.items[self.index] if self.items is not None else None
        return {
            "loop": {
                "index": self.index,
                "item": item,
                "items": self.items,
                "results": list(self.results),
            }
        }

    def _holds(self) -> bool:
        """The condition of a while/doWhile, in the scope of the pass just ended."""
        node = self.node
        assert node.condition is not None
        names = self._names()
        outer = self.run.scope_for(self.state)
        if self.last is not None:
            scope = FrameScope(self.last.plan, self.last.states, names, outer)
        else:  # before the first pass, the body's steps have no output yet
            assert node.body is not None
            fresh = [StepState(n) for n in node.body.nodes]
            scope = FrameScope(node.body, fresh, names, outer)
        return bool(node.condition.render(scope))

    def step(self) -> None:
        if self.live:
            return
        node = self.node
        kind = node.loop_type
        if kind in ("for", "forEach"):
            more = self.index < (self.count or 0)
        elif kind == "while":
            more = self._holds()
        else:  # doWhile: the condition is checked after each pass
            more = self.index == 0 or self._holds()
        if not more:
            self.succeed(self.results)
            return
        if self.index >= node.max_iterations:
            raise LoopLimitExceeded(
                f"loop '{node.id}' reached maxIterations ({node.max_iterations}) with its "
                "condition still true",
                step=node.id,
            )
        frame = Frame(
            node.body,  # type: ignore[arg-type]
            f"{self.suffix}[{self.index}]",
            self.state.node_id,
            iteration=self.index,
            prefix=self.prefix,
        )
        self.spawn(self.index, frame, self._names())

    def ended(self, key: int, child: Run) -> None:
        if child.status is not RunStatus.SUCCEEDED:
            error = child.error
            message = error.message if error is not None else child.status.value
            self.fail(
                StepFailed(
                    f"loop '{self.node.id}': pass {key} failed: {message}",
                    step=self.node.id,
                    type=error.type if error is not None else "StepFailed",
                )
            )
            return
        try:
            self.results.append(branch_output(child))
        except PlaitError as exc:
            self.fail(StepFailed(f"output: {_text(exc)}", step=self.node.id, type=_type(exc)))
            return
        self.last = child
        self.index += 1


class WorkflowScope(_FrameScope):
    """``workflow:``: another workflow's plan, run once as a child that sees only its own
    steps, its inputs (the step's ``input``, checked against what it declares), its
    workflow name, and the run's ``run`` and ``env``."""

    def begin(self) -> None:
        node = self.node
        assert node.body is not None
        value = node.input.render(self.run.scope_for(self.state))
        what = f"workflow step '{node.id}' ({node.body.name})"
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise StepFailed(
                f"{what}: 'input' must give a mapping of the workflow's inputs, not "
                f"{type(value).__name__}",
                type="InputError",
            )
        try:
            self.inputs = bind_inputs(node.body, value)
        except InputError as exc:
            raise StepFailed(f"{what}: {_text(exc)}", type="InputError") from None
        self.spawned = False

    def step(self) -> None:
        if self.spawned:
            return
        self.spawned = True
        body = self.node.body
        assert body is not None
        node_id = self.state.node_id
        frame = Frame(body, "", node_id, prefix=f"{node_id}/")
        self.spawn(0, frame, {"inputs": self.inputs, "workflow": {"name": body.name}})

    def ended(self, key: int, child: Run) -> None:
        node = self.node
        if child.status is RunStatus.SUCCEEDED:
            try:
                output = workflow_outputs(child)
            except PlaitError as exc:
                self.fail(StepFailed(f"outputs: {_text(exc)}", step=node.id, type=_type(exc)))
                return
            self.succeed(output)
            return
        error = child.error
        message = error.message if error is not None else child.status.value
        failed = StepFailed(
            f"workflow step '{node.id}' ({child.plan.name}) {child.status.value}: {message}",
            step=node.id,
            type=error.type if error is not None else "StepFailed",
        )
        if child.status is RunStatus.TIMED_OUT and not self.decided:
            self.stop(StepStatus.TIMED_OUT, failed.message)
            self.run.end(
                self.state,
                StepStatus.TIMED_OUT,
                error=StepTimedOut(failed.message, step=node.id),
            )
            return
        self.fail(failed)


def workflow_outputs(child: Run) -> Any:
    """A sub-workflow's outputs, as a run's: its ``outputs:``, else its terminal steps'."""
    plan = child.plan
    if plan.outputs is None:
        return {child.states[i].node.id: child.states[i].output for i in plan.terminals}
    return plan.outputs.render(child.scope)


class GroupContext:
    """What a dynamic group's callable is given: ``results.get(STEP)`` (a step's output,
    as seed 001's ``ctx.results.get('fetch_items')``), ``inputs`` and ``run_id``."""

    __slots__ = ("inputs", "results", "run_id")

    def __init__(self, scope: Any, inputs: dict[str, Any], run_id: str) -> None:
        self.results = _Results(scope)
        self.inputs = inputs
        self.run_id = run_id


class _Results:
    __slots__ = ("_scope",)

    def __init__(self, scope: Any) -> None:
        self._scope = scope

    def get(self, step_id: str, default: Any = None) -> Any:
        try:
            found = self._scope.lookup(step_id)
        except (KeyError, IndexError):
            return default
        return found.output if isinstance(found, StepState) else default

    def __getitem__(self, step_id: str) -> Any:
        found = self._scope.lookup(step_id)
        if not isinstance(found, StepState):
            raise KeyError(step_id)
        return found.output


class DynamicGroupScope(_FrameScope):
    """A group whose ``steps`` is a callable of the run context (seed 001's dynamic
    parallel groups, Python API). When the group starts, the callable gives the members
    as step definitions; each is compiled then and run as a branch through the group's
    window (``maxConcurrent``) and wait strategy. Members keep their own ids (``x``,
    ``x<3>`` inside a map branch); the output is a group's."""

    def begin(self) -> None:
        from plait.compiler.compile import compile_members

        node = self.node
        run = self.run
        what = f"dynamic group '{node.group_id}'"
        try:
            session = run.session
            context = GroupContext(run.scope_for(self.state), session.inputs, session.run_id)
            entries = node.dynamic(context)  # type: ignore[misc]
        except PlaitError:
            raise
        except Exception as exc:
            raise StepFailed(
                f"{what}: its steps callable raised {type(exc).__name__}: {exc}",
                type="DynamicGroupError",
            ) from exc
        if not isinstance(entries, list | tuple):
            raise StepFailed(
                f"{what}: its steps callable must return a list of step definitions, not "
                f"{type(entries).__name__}",
                type="DynamicGroupError",
            )
        visible = frozenset(run.plan.index) | frozenset(run.session.plan.index)
        try:
            self.plans = compile_members(list(entries), run.plan, visible, run.frame is not None)
        except PlaitError as exc:
            raise StepFailed(f"{what}: {_text(exc)}", type="DynamicGroupError") from None
        frame = self.state.frame
        self.suffix = frame.suffix if frame is not None else ""
        self.prefix = frame.prefix if frame is not None else ""
        self.total = len(self.plans)
        self.next = 0
        self.outputs: dict[int, Any] = {}  # by member index
        self.members: list[StepState] = []
        self.strategy = strategy_for(node.strategy)
        self.tally = Tally(total=self.total)
        self.limit = node.max_concurrent or self.total or 1

    def step(self) -> None:
        if self.total == 0:
            if self.node.strategy in (WaitStrategy.ANY, WaitStrategy.RACE):
                message = f"dynamic group '{self.node.group_id}': its callable gave no steps"
                self.fail(StepFailed(message, step=self.node.id, type="DynamicGroupError"))
            else:
                self.succeed({})
            return
        while not self.decided and self.next < self.total and len(self.live) < self.limit:
            i = self.next
            self.next += 1
            frame = Frame(
                self.plans[i],
                self.suffix,
                self.state.node_id,
                join=self.node.strategy.value,
                prefix=self.prefix,
            )
            child = self.spawn(i, frame, {})
            self.members.append(child.states[0])

    def ended(self, key: int, child: Run) -> None:
        member = child.states[0]
        status = child.status
        if status is RunStatus.SUCCEEDED:
            self.outputs[key] = member.output
            outcome = Outcome.SUCCEEDED
        elif status in (RunStatus.FAILED, RunStatus.TIMED_OUT):
            outcome = Outcome.FAILED
        else:
            outcome = Outcome.NEUTRAL
        self.tally.count(outcome)
        verdict = self.strategy.on_end(outcome, self.tally)
        node = self.node
        if verdict is Verdict.SUCCEED:
            if node.strategy in (WaitStrategy.ANY, WaitStrategy.RACE):
                self.state.winner = member.node_id
                self.succeed(member.output)
            else:  # member id -> output, in the order the callable gave them
                ids = [m.node.id for m in self.members]
                self.succeed({ids[k]: self.outputs[k] for k in sorted(self.outputs)})
        elif verdict is Verdict.FAIL:
            error = child.error
            where = f"group '{node.group_id}'"
            if node.strategy is WaitStrategy.ANY or error is None:
                self.fail(StepFailed(f"{where}: every member failed", step=node.id))
            else:
                self.fail(
                    StepFailed(
                        f"{where}: member '{member.node.id}' failed: {error.message}",
                        step=node.id,
                        type=error.type,
                    )
                )


def scope_for_node(run: Run, state: StepState) -> _FrameScope:
    """The scope that runs a map, a loop or a sub-workflow node."""
    kind = state.node.kind
    if kind is NodeKind.MAP:
        return MapScope(run, state)
    if kind is NodeKind.LOOP:
        return LoopScope(run, state)
    if kind is NodeKind.GROUP:
        return DynamicGroupScope(run, state)
    return WorkflowScope(run, state)


def _items(scope: _FrameScope, value: Any) -> list[Any]:
    if not isinstance(value, list | tuple):
        what = f"{scope.node.kind.value} '{scope.node.id}'"
        raise _bad(f"{what}: 'items' must give a list, not {type(value).__name__}")
    return list(value)


def _count(scope: _FrameScope, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        what = f"{scope.node.kind.value} '{scope.node.id}'"
        raise _bad(f"{what}: 'count' must be a whole number ≥ 0: {value!r}")
    return value


def _bad(message: str) -> StepFailed:
    return StepFailed(message, type="InvalidItems")


def _text(exc: PlaitError) -> str:
    if isinstance(exc, RunError):
        return exc.message
    return "; ".join(p.message for p in getattr(exc, "problems", ())) or str(exc)


def _type(exc: PlaitError) -> str:
    if isinstance(exc, RunError):
        return exc.type
    return type(exc).__name__
