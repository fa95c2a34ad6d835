"""``parallel:``: a map runs its body once per item, as branches ``id<0>``, ``id<1>``, ...

Branches go through a sliding window (``maxConcurrent``): a branch starts the moment
another ends, and branches are created only as they start, so memory grows with the
window, not with the number of items. The map's ``Join`` decides it as a group's would.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from plait.engine.bodies.base import BodyRunner, branch_output, count_of, items_of
from plait.engine.joins import Join
from plait.engine.state import Frame
from plait.engine.strategies import Decision
from plait.errors import PlaitError, RunError, StepFailed
from plait.status import RunStatus, StepStatus

if TYPE_CHECKING:
    from plait.engine.protocols import Host

MAX_ITEMS = 10_000_000


class MapRunner(BodyRunner):
    """``parallel:``: one branch per item, a sliding window, a wait strategy."""

    mark = "<>"

    def begin(self) -> None:
        node = self.node
        scope = self.run.scope_for(self.state)
        if node.items is not None:
            self.items: list[Any] = items_of(self, node.items.render(scope))
        else:
            assert node.count is not None
            count = count_of(self, node.count.render(scope))
            if count > MAX_ITEMS:
                raise StepFailed(
                    f"map '{node.id}': 'count' {count} is over {MAX_ITEMS}", type="InvalidItems"
                )
            self.items = list(range(count))
        self.total = len(self.items)
        self.next = 0
        self.join = Join(
            node.strategy, self.total, label=f"map '{node.id}'", noun="branch", step=node.id
        )
        self.limit = node.max_concurrent or self.total or 1

    def step(self) -> None:
        if self.total == 0:  # whatever the strategy: no branch, no failure
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

    def release(self) -> None:
        # No branch starts after a decision; a running one holds the list in its names.
        # (A count of 1,000,000 is 36 MB of ints the rest of the run need not keep.)
        self.items = []

    def ended(self, key: int, child: Host) -> None:
        status, output, error = branch_ending(child)
        if status is StepStatus.SUCCEEDED:
            try:
                output = branch_output(child)
            except PlaitError as exc:
                status = StepStatus.FAILED
                error = StepFailed(f"output: {exc.plain}", step=self.node.id, type=exc.type_name)
        join = self.join
        decision = join.ended(
            key,
            status,
            continue_on_error=self.node.continue_on_error,
            output=output,
            error=error,
        )
        if decision is not Decision.WAIT:
            won = join.winner
            self.settle(join, None if won is None else f"{self.state.node_id}<{won}>")


_BRANCH_STATUS = {
    RunStatus.SUCCEEDED: StepStatus.SUCCEEDED,
    RunStatus.FAILED: StepStatus.FAILED,
    RunStatus.TIMED_OUT: StepStatus.TIMED_OUT,
}


def branch_ending(child: Host) -> tuple[StepStatus, Any, RunError | None]:
    """How a branch ended, as a member of its map's join: its run's status, except that
    a branch whose every step was skipped never produced a result (it is ``skipped``,
    as a group member skipped by its ``when`` is)."""
    status = _BRANCH_STATUS.get(child.status, StepStatus.CANCELLED)
    if status is StepStatus.SUCCEEDED and all(
        st.status is StepStatus.SKIPPED for st in child.states
    ):
        status = StepStatus.SKIPPED
    return status, None, child.error
