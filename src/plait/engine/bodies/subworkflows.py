"""``workflow:``: another workflow's plan, run once as a child with its own names (its
inputs, its workflow name); its nodes are ``STEP/child_step``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from plait.compiler.inputs import bind_inputs
from plait.engine.bodies.base import BodyRunner
from plait.engine.finished import Place
from plait.engine.state import Frame
from plait.errors import InputError, PlaitError, StepFailed, StepTimedOut
from plait.status import RunStatus, StepStatus

if TYPE_CHECKING:
    from plait.engine.protocols import Host


class SubworkflowRunner(BodyRunner):
    """``workflow:``: another workflow's plan, run once as a child that sees only its own
    steps, its inputs (the step's ``input``, checked against what it declares), its
    workflow name, and the run's ``run`` and ``env``."""

    def new_place(self) -> Place:
        # `sub/fetch`, `sub<3>/fetch`: the child's prefix is this node's id
        node_id = self.state.node_id
        return self.run.session.records.place(f"{node_id}/", "", "", node_id, self.node.body)

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
            raise StepFailed(f"{what}: {exc.plain}", type="InputError") from None
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

    def ended(self, key: int, child: Host) -> None:
        node = self.node
        if child.status is RunStatus.SUCCEEDED:
            try:
                output = workflow_outputs(child)
            except PlaitError as exc:
                self.fail(StepFailed(f"outputs: {exc.plain}", step=node.id, type=exc.type_name))
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


def workflow_outputs(child: Host) -> Any:
    """A sub-workflow's outputs, as a run's: its ``outputs:``, else its terminal steps'."""
    plan = child.plan
    if plan.outputs is None:
        return {child.states[i].node.id: child.states[i].output for i in plan.terminals}
    return plan.outputs.render(child.scope)
