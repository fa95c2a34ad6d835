"""What a tool may know about the step it runs for."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from plait.secrets import NO_SECRETS, Secrets

T = TypeVar("T")

ThreadRunner = Callable[[Callable[[], Any]], Awaitable[Any]]


class StepContext:
    """Handed to a tool that asks for it (a ``ctx`` parameter, or any built-in tool).

    ``run_in_thread`` runs a blocking callable in the run's bounded thread pool, so that
    tools never block the event loop. ``secrets`` are the run's (``plait.secrets``): a
    tool that cuts a text it returns or raises masks it first (``secrets.tail(text,
    n)``), since a cut secret is no longer recognised where the run writes it.
    """

    __slots__ = (
        "_run_in_thread",
        "attempt",
        "node_id",
        "resources",
        "run_id",
        "secrets",
        "step_id",
        "trace",
        "workflow",
        "workflow_dir",
    )

    def __init__(
        self,
        *,
        run_id: str,
        workflow: str,
        step_id: str,
        node_id: str,
        attempt: int,
        workflow_dir: Path | None,
        run_in_thread: ThreadRunner,
        resources: dict[str, Any],
        secrets: Secrets = NO_SECRETS,
        trace: Callable[[], str | None] | None = None,
    ) -> None:
        self.run_id = run_id
        self.workflow = workflow
        self.step_id = step_id
        self.node_id = node_id
        self.attempt = attempt
        self.workflow_dir = workflow_dir
        self._run_in_thread = run_in_thread
        # Shared by every step of one run (connection pools and the like).
        self.resources = resources
        self.secrets = secrets
        self.trace = trace  # gives the attempt's trace context, when the run is traced

    @property
    def traceparent(self) -> str | None:
        """The W3C ``traceparent`` of this attempt's span when the run is traced, else
        None (issue 13): a tool that calls another service sends it on, as the http
        tool does. Asked for, the span is opened now rather than when the step ends."""
        return None if self.trace is None else self.trace()

    async def run_in_thread(self, fn: Callable[[], T]) -> T:
        result: T = await self._run_in_thread(fn)
        return result


log = logging.getLogger("plait.tools")


async def close_resources(resources: dict[str, Any]) -> None:
    """Close what tools left in a run's ``resources`` (``aclose()`` or ``close()``), newest
    first, when the run ends. A failing close is logged, never raised: the run's outcome
    is already decided."""
    for key in reversed(list(resources)):
        value = resources.pop(key)
        closer = getattr(value, "aclose", None) or getattr(value, "close", None)
        if closer is None:
            continue
        try:
            result = closer()
            if inspect.isawaitable(result):
                await result
        except Exception:  # a close must not change the run's result
            log.warning("closing run resource %r failed", key, exc_info=True)
