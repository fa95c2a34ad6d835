"""What a run's step outputs weigh, against its ``limits`` (``definition/limits.py``).

Every success passes here once, in ``Graph.end``, before anything keeps its output::

    output ─▶ json_size (stops once over maxOutputSize: a value built by doubling is
              refused after ~limit steps, never encoded) ─▶ with a store: the JSON text
              it keeps, whose length is the exact size ─▶ the run's total so far

A step over ``maxOutputSize`` fails (``OutputTooLarge``) and the run goes on as for any
failure. A step that takes the run's total past ``maxRunSize`` fails (``RunTooLarge``)
and its graph then fails the whole run. Without a store nothing is encoded: the size
is ``json_size``'s count, which is the JSON length for text, lists and mappings, and a
little less for numbers and escapes.
"""

from __future__ import annotations

from typing import Any

from plait.definition.limits import Limits, format_size
from plait.errors import OutputTooLarge, RunError, RunTooLarge, StepFailed
from plait.expressions.values import json_size
from plait.store.records import dumps

_SMALL = (int, float, bool)


class Meter:
    """The sizes of one run's outputs: each against ``max_output_size``, their sum
    against ``max_run_size``. Mutated only by the run's event loop."""

    __slots__ = ("limits", "total")

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.total = 0  # bytes of every output weighed so far

    def weigh(self, step_id: str, output: Any) -> RunError | None:
        """A success without a store: its size, counted; None if within the limits."""
        if output is None or type(output) in _SMALL:
            return None  # a few bytes: never over, and not worth counting
        limit = self.limits.max_output_size
        size = json_size(output, limit)
        if size > limit:
            return self._too_large(step_id, size, exact=False)
        return self._add(step_id, size)

    def encode(self, step_id: str, output: Any) -> tuple[str | None, RunError | None]:
        """A success with a store: the JSON text to keep, or why the step fails (its
        output is too large, or not JSON). A value is weighed before it is encoded: a
        structure that repeats a list by reference would otherwise be written out in
        full (2**40 copies) before its length could be read."""
        if output is None:
            return "null", None
        limit = self.limits.max_output_size
        if type(output) not in _SMALL and (size := json_size(output, limit)) > limit:
            return None, self._too_large(step_id, size, exact=False)
        try:
            text = dumps(output)
        except (TypeError, ValueError, RecursionError) as exc:
            message = f"step '{step_id}' output cannot be stored as JSON: {exc}"
            return None, StepFailed(message, step=step_id, type="OutputNotSerializable")
        if len(text) > limit:
            return None, self._too_large(step_id, len(text), exact=True)
        return text, self._add(step_id, len(text))

    def _add(self, step_id: str, size: int) -> RunError | None:
        total = self.total + size
        limit = self.limits.max_run_size
        if total > limit:
            message = (
                f"step '{step_id}' output ({size:,} bytes) takes the run's outputs to "
                f"{total:,} bytes, over the limit of {format_size(limit)}; raise maxRunSize "
                "(limits: in the workflow, --max-run-size, or max_run_size=)"
            )
            return RunTooLarge(message, step=step_id)
        self.total = total
        return None

    def _too_large(self, step_id: str, size: int, *, exact: bool) -> RunError:
        limit = self.limits.max_output_size
        weight = f"{size:,} bytes" if exact else f"{size:,} bytes or more"
        message = (
            f"step '{step_id}' output is {weight} as JSON, over the limit of "
            f"{format_size(limit)}; raise maxOutputSize (limits: in the workflow, "
            "--max-output-size, or max_output_size=)"
        )
        return OutputTooLarge(message, step=step_id)
