"""``loop:``: a body run once per pass, strictly one pass after another (``id[0]``, ...)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from plait.engine.bodies.base import BodyRunner, branch_output, count_of, items_of
from plait.engine.state import Frame, FrameScope, StepState
from plait.errors import PlaitError, StepFailed
from plait.status import RunStatus

if TYPE_CHECKING:
    from plait.engine.protocols import Host


class LoopLimitExceeded(StepFailed):
    type = "LoopLimitExceeded"


class LoopRunner(BodyRunner):
    """``loop:``: passes strictly in order; an error in a pass stops the loop."""

    mark = "[]"

    def begin(self) -> None:
        node = self.node
        scope = self.run.scope_for(self.state)
        self.items: list[Any] | None = None
        self.count: int | None = None
        if node.items is not None:
            self.items = items_of(self, node.items.render(scope))
            self.count = len(self.items)
        elif node.count is not None:
            self.count = count_of(self, node.count.render(scope))
        if self.count is not None and self.count > node.max_iterations:
            raise LoopLimitExceeded(
                f"loop '{node.id}' would run {self.count} passes, over its maxIterations "
                f"({node.max_iterations}); raise maxIterations",
                step=node.id,
            )
        self.index = 0
        self.results: list[Any] = []
        self.last: Host | None = None

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

    def ended(self, key: int, child: Host) -> None:
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
            self.fail(StepFailed(f"output: {exc.plain}", step=self.node.id, type=exc.type_name))
            return
        self.last = child
        self.index += 1
