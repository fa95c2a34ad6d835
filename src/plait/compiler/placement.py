"""Which executor a step asks for (issue 7), and the checks of ``executor`` and
``isolation`` keys.

    step ``executor:``  >  ``isolation: process``  >  its map's or loop's  >  None

``None`` leaves the choice to the run: ``--executor`` or ``executor=`` if given, else
the workflow's ``executor:``, else ``local``. A map or loop passes its ``executor`` on to
the steps of its body.
"""

from __future__ import annotations

from collections.abc import Callable

from plait.definition.executor import ExecutorSpec
from plait.definition.models import StepDef

PROCESS = ExecutorSpec("process")

Report = Callable[[str, str | None, str | None], None]


def step_executor(step: StepDef, inherited: ExecutorSpec | None) -> ExecutorSpec | None:
    """The executor ``step`` (or the body of a map or loop) asks for."""
    if step.executor is not None:
        return step.executor
    if step.isolation == "process" or _python_isolation(step) == "process":
        return PROCESS
    return inherited


def check_placement(step: StepDef, problem: Report) -> None:
    """Report misplaced ``executor``/``isolation`` keys, with the step and the key."""
    if step.kind == "group" and step.executor is not None:
        problem(
            "'executor' goes on a task, or on a map or loop for its body; set it on the "
            "group's members",
            step.id,
            "executor",
        )
    if step.isolation is not None and step.kind != "task":
        problem("'isolation' goes on a task step", step.id, "isolation")
    isolation = _python_isolation(step)
    if isolation is not None and isolation != "process":
        problem(
            f"'isolation' of the python tool is 'process' (a child process that a timeout "
            f"or a cancel kills), not {isolation!r}",
            step.id,
            "input.isolation",
        )
    asked = step.isolation or isolation
    if asked == "process" and step.executor is not None and step.executor.type != "process":
        problem(
            f"'isolation: process' runs the step in a child process, but 'executor' says "
            f"{step.executor}; keep one",
            step.id,
            "isolation",
        )


def _python_isolation(step: StepDef) -> object:
    """``isolation`` in a ``python`` step's input, when written there."""
    if step.tool != "python" or not isinstance(step.input, dict):
        return None
    return step.input.get("isolation")
