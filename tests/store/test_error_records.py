"""Step errors in the store, on every backend: each attempt's row keeps its error with
the user's traceback and cause, and a run read back gives the same structure."""

from __future__ import annotations

import json
import os

import plait
from plait.store import Store

HERE = os.path.basename(__file__)
PLAIT_DIR = os.path.dirname(plait.__file__)


class Flaky:
    """Fails with a chained ``ConnectionResetError`` until its third call."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls < 3:
            try:
                raise TimeoutError(f"read {self.calls} timed out")
            except TimeoutError as exc:
                raise ConnectionResetError(f"attempt {self.calls} reset") from exc
        return "ok"


def parse_record(text: str) -> int:
    return int(text)


async def test_every_attempts_error_is_kept_with_its_traceback(store: Store) -> None:
    retry = {"maxAttempts": 3, "backoff": {"initial": 0}, "retryOn": ["OSError"]}
    wf = plait.Workflow("w").task("f", tool=Flaky(), retry=retry)
    result = await wf.run(store=store)
    assert result.status is plait.RunStatus.SUCCEEDED
    rows = sorted(
        (s for s in store.get_steps(result.run_id) if s.node_id == "f"), key=lambda s: s.attempt
    )
    assert [(r.attempt, r.status) for r in rows] == [(1, "failed"), (2, "failed"), (3, "succeeded")]
    for attempt, row in enumerate(rows[:2], 1):
        assert row.error is not None
        error = json.loads(row.error)
        assert error["type"] == "ConnectionResetError"
        assert error["message"] == f"attempt {attempt} reset"
        assert error["cause"] == {"type": "TimeoutError", "message": f"read {attempt} timed out"}
        assert f'{HERE}", line' in error["traceback"]
        assert "in __call__" in error["traceback"]
        assert PLAIT_DIR not in error["traceback"]
    assert rows[2].error is None
    rebuilt = plait.get_run(result.run_id, store=store)
    assert rebuilt.steps["f"].attempt_errors == result.steps["f"].attempt_errors
    assert rebuilt.steps["f"].attempt_errors[0].traceback is not None


async def test_a_failed_step_reads_back_as_it_ended(store: Store) -> None:
    wf = plait.Workflow("w").task("parse", tool=parse_record, input={"text": "x1"})
    result = await wf.run(store=store)
    assert result.status is plait.RunStatus.FAILED
    rebuilt = plait.get_run(result.run_id, store=store)
    error = rebuilt.steps["parse"].error
    assert error is not None
    assert error == result.steps["parse"].error
    assert (error.type, error.step) == ("ValueError", "parse")
    assert error.traceback is not None
    assert f'{HERE}", line' in error.traceback
    assert "in parse_record" in error.traceback
    assert rebuilt.error == result.error
    assert rebuilt.to_document() == result.to_document()


async def test_rows_written_before_errors_had_tracebacks_still_read(store: Store) -> None:
    """An older plait wrote three keys; the others read as None (no migration)."""
    result = (
        await plait.Workflow("w").task("t", tool="fail", input={"type": "Old"}).run(store=store)
    )
    [row] = store.get_steps(result.run_id)
    # (a second attempt's row: the store never rewrites how an attempt ended)
    old = row._replace(attempt=2, error=json.dumps({"type": "Old", "message": "m", "step": "t"}))
    store.write([old])
    error = plait.get_run(result.run_id, store=store).steps["t"].error
    assert error is not None
    assert (error.type, error.message, error.traceback, error.details) == ("Old", "m", None, None)
