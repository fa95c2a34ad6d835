"""Dynamic groups (seed 001, Python API): a group whose ``steps`` is a callable of the
run context. When the group starts, the callable gives the members as step definitions;
each is compiled then and run as a one-step child, through the group's window
(``maxConcurrent``) and its ``Join``, so it decides as a static group would."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from plait.engine.bodies.base import BodyRunner
from plait.engine.joins import Join
from plait.engine.state import Frame, StepState
from plait.engine.strategies import Decision
from plait.errors import PlaitError, StepFailed

if TYPE_CHECKING:
    from plait.engine.protocols import Host


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


class DynamicGroupRunner(BodyRunner):
    """Members keep their own ids (``x``, ``x<3>`` inside a map branch); the output, the
    winner and the error are a group's. ``members`` are the states of the members
    started so far (the group's record lists them)."""

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
            raise StepFailed(f"{what}: {exc.plain}", type="DynamicGroupError") from None
        self.total = len(self.plans)
        self.next = 0
        self.members: list[StepState] = []
        ids = [plan.nodes[0].id for plan in self.plans]
        self.join = Join(
            node.strategy, self.total, ids=ids, label=f"group '{node.group_id}'", step=node.id
        )
        self.limit = node.max_concurrent or self.total or 1

    def step(self) -> None:
        if self.total == 0:
            if self.join.start() is Decision.FAIL:  # any, race: nothing can win
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

    def ended(self, key: int, child: Host) -> None:
        member = child.states[0]  # (``members`` may not list it yet: it can end at once)
        join = self.join
        decision = join.ended(
            key,
            member.status,
            continue_on_error=member.node.continue_on_error,
            output=member.output,
            error=member.error,
        )
        if decision is not Decision.WAIT:
            # The winner is the member that decided, if any: this one.
            self.settle(join, None if join.winner is None else member.node_id)
