"""Structured step errors (issue 12): the traceback of the step's own code, its cause,
``StepError``'s status and details, and ``retryOn`` matching by class hierarchy."""

from __future__ import annotations

import os
import pickle
import textwrap
from pathlib import Path
from typing import Any

import pytest

import plait
from plait.errors import RunError, StepFailed, step_error_from

PLAIT_DIR = os.path.dirname(plait.__file__)
HERE = os.path.basename(__file__)


def _lookup(table: dict[str, int], key: str) -> int:
    return table[key]


def fetch_config(name: str) -> int:
    try:
        return _lookup({}, name)
    except KeyError as exc:
        raise RuntimeError(f"no setting {name!r}") from exc


def _line_of(text: str) -> int:
    """The line of this file that holds ``text`` (so no test hard-codes a number)."""
    lines = Path(__file__).read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line and "_line_of" not in line)


def _only_user_frames(traceback: str) -> None:
    assert PLAIT_DIR not in traceback
    assert "concurrent/futures" not in traceback  # the thread pool that called the function


async def test_a_failing_function_keeps_its_traceback_and_its_cause() -> None:
    result = await plait.Workflow("w").task("load", tool=fetch_config, input={"name": "x"}).run()
    error = result.steps["load"].error
    assert error is not None
    assert (error.type, error.message, error.step) == ("RuntimeError", "no setting 'x'", "load")
    assert error.cause == {"type": "KeyError", "message": "'x'"}
    assert error.traceback is not None
    raise_line = _line_of('raise RuntimeError(f"no setting')
    assert f'{HERE}", line {raise_line}, in fetch_config' in error.traceback
    assert error.traceback.endswith("RuntimeError: no setting 'x'")
    _only_user_frames(error.traceback)
    # The run's error is the same structure, and the document holds it as JSON.
    assert result.error == error
    document = result.to_document()
    assert document["steps"]["load"]["error"] == error.to_dict()
    assert document["error"]["traceback"] == error.traceback


async def test_a_python_tool_step_from_a_file_names_the_users_file_line_and_function(
    tmp_path: Path,
) -> None:
    (tmp_path / "jobs_tb.py").write_text(
        textwrap.dedent(
            """\
            def inner(rows):
                return rows["missing"]


            def outer():
                return inner({})
            """
        )
    )
    (tmp_path / "wf.yaml").write_text(
        "name: w\nsteps:\n  - {id: a, tool: python, input: {function: 'jobs_tb:outer'}}\n"
    )
    result = await plait.load(tmp_path / "wf.yaml").run()
    error = result.steps["a"].error
    assert error is not None
    assert (error.type, error.message) == ("KeyError", "'missing'")
    assert error.traceback is not None
    assert 'jobs_tb.py", line 6, in outer' in error.traceback
    assert 'jobs_tb.py", line 2, in inner' in error.traceback
    assert error.traceback.index("in outer") < error.traceback.index("in inner")
    _only_user_frames(error.traceback)
    assert error.cause is None


async def test_errors_made_by_plait_itself_have_no_traceback() -> None:
    wf = plait.Workflow("w").task("t", tool="sleep", input={"duration": "1s"}, timeout="10ms")
    result = await wf.run()
    error = result.steps["t"].error
    assert error is not None
    assert (error.type, error.traceback, error.cause) == ("TimeoutError", None, None)


# -- StepError ---------------------------------------------------------------------


class QuotaExceeded(plait.StepError):
    """A user's own kind of step error: its type is its class name."""


class DailyQuotaExceeded(QuotaExceeded):
    pass


async def test_step_error_status_and_details_reach_an_on_error_handler() -> None:
    async def charge() -> None:
        raise plait.StepError(
            "payment refused", type="PaymentRefused", status=402, details={"code": "card_declined"}
        )

    wf = (
        plait.Workflow("w")
        .task("charge", tool=charge, onError="explain")
        .task(
            "explain",
            tool="echo",
            input={
                "type": "${error.type}",
                "status": "${error.status}",
                "code": "${error.details.code}",
                "title": "${error.message}",
            },
        )
    )
    result = await wf.run()
    assert result.status is plait.RunStatus.SUCCEEDED
    assert result.steps["explain"].output == {
        "type": "PaymentRefused",
        "status": 402,
        "code": "card_declined",
        "title": "payment refused",
    }
    error = result.steps["charge"].error
    assert error is not None
    assert (error.status, error.details) == (402, {"code": "card_declined"})
    assert error.traceback is not None
    assert f'{HERE}", line' in error.traceback
    assert "in charge" in error.traceback


async def test_retry_on_a_step_error_type_and_on_its_parent_class() -> None:
    calls: list[str] = []

    async def limited(kind: str) -> str:
        calls.append(kind)
        if calls.count(kind) == 1:
            raise DailyQuotaExceeded("over", status=429) if kind == "daily" else QuotaExceeded()
        return "ok"

    retry = {"maxAttempts": 2, "backoff": {"initial": 0}}
    wf = (
        plait.Workflow("w")
        .task(
            "by_type",
            tool=limited,
            input={"kind": "q"},
            retry=retry | {"retryOn": ["QuotaExceeded"]},
        )
        .task(
            "by_parent",
            tool=limited,
            input={"kind": "daily"},
            retry=retry | {"retryOn": ["QuotaExceeded"]},
        )
        .task(
            "other",
            tool=limited,
            input={"kind": "x"},
            retry=retry | {"retryOn": ["DailyQuotaExceeded"]},
            continueOnError=True,
        )
    )
    result = await wf.run()
    assert result.steps["by_type"].attempts == 2
    assert result.steps["by_parent"].attempts == 2
    [first] = result.steps["by_parent"].attempt_errors
    assert (first.type, first.status) == ("DailyQuotaExceeded", 429)
    assert result.steps["other"].attempts == 1  # a QuotaExceeded is no DailyQuotaExceeded
    assert result.steps["other"].error is not None
    assert result.steps["other"].error.type == "QuotaExceeded"


def test_tool_error_is_the_former_name_of_step_error() -> None:
    error = plait.ToolError("x")
    assert isinstance(error, plait.StepError)
    assert (error.type, error.types) == ("ToolError", ("ToolError",))
    assert plait.StepError("x").type == "StepError"
    assert plait.StepError(type="Quota").message == "Quota"  # the title defaults to the type
    assert "StepError" in plait.__all__
    assert "ErrorInfo" in plait.__all__


# -- retryOn by class hierarchy ------------------------------------------------------


async def test_retry_on_os_error_retries_connection_reset_but_not_value_error() -> None:
    raised: dict[str, int] = {}

    def flaky(kind: str) -> str:
        raised[kind] = raised.get(kind, 0) + 1
        if raised[kind] == 1:
            if kind == "timeout":
                raise TimeoutError("the step's own code timed out")  # an OSError too
            raise ConnectionResetError("peer reset") if kind == "reset" else ValueError("bad")
        return "ok"

    retry = {"maxAttempts": 3, "backoff": {"initial": 0}, "retryOn": ["OSError"]}
    wf = (
        plait.Workflow("w")
        .task("reset", tool=flaky, input={"kind": "reset"}, retry=retry)
        .task("value", tool=flaky, input={"kind": "value"}, retry=retry, continueOnError=True)
        .task("timeout", tool=flaky, input={"kind": "timeout"}, retry=retry)
    )
    result = await wf.run()
    reset = result.steps["reset"]
    assert (reset.status, reset.attempts) == (plait.StepStatus.SUCCEEDED, 2)
    [attempt] = reset.attempt_errors
    assert attempt.type == "ConnectionResetError"
    assert attempt.traceback is not None
    assert "in flaky" in attempt.traceback
    value = result.steps["value"]
    assert (value.status, value.attempts) == (plait.StepStatus.FAILED, 1)
    timeout = result.steps["timeout"]
    assert (timeout.status, timeout.attempts) == (plait.StepStatus.SUCCEEDED, 2)
    assert timeout.attempt_errors[0].traceback is not None


def test_an_exception_carries_the_names_of_its_classes() -> None:
    try:
        raise ConnectionResetError("x")
    except ConnectionResetError as exc:
        error = step_error_from(exc, step="s")
    assert error.types[:4] == ("ConnectionResetError", "ConnectionError", "OSError", "Exception")
    policy = (
        plait.Workflow.from_dict(
            {
                "name": "w",
                "steps": [
                    {"id": "s", "tool": "noop", "retry": {"maxAttempts": 2, "retryOn": ["OSError"]}}
                ],
            }
        )
        .plan.nodes[0]
        .retry
    )
    assert policy is not None
    assert policy.retries(*error.types)
    assert policy.retries("PoolFull") is False
    assert not policy.retries("ValueError", "Exception", "BaseException")


# -- across processes ----------------------------------------------------------------


def _raise_chained() -> None:
    try:
        {}["k"]
    except KeyError as exc:
        raise ValueError("bad") from exc


@pytest.mark.parametrize("make", ["converted", "step_error"])
def test_every_field_survives_pickling(make: str) -> None:
    error: RunError
    if make == "converted":
        try:
            _raise_chained()
        except ValueError as exc:
            error = step_error_from(exc, step="s")
    else:
        try:
            raise QuotaExceeded("slow down", status=429, details={"after": 3})
        except QuotaExceeded as exc:
            error = exc
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert copy.to_dict() == error.to_dict()
    assert copy.types == error.types
    assert copy.traceback is not None
    assert "_raise_chained" in copy.traceback or "test_every_field" in copy.traceback


def test_details_that_json_cannot_hold_are_kept_as_their_repr() -> None:
    error = plait.StepError("x", details={"ids": {1}, "ok": [1, "a"]})
    details: dict[str, Any] | None = error.details
    assert details == {"ids": "{1}", "ok": [1, "a"]}
    assert StepFailed("m").to_dict() == {
        "type": "StepFailed",
        "message": "m",
        "step": None,
        "status": None,
        "details": None,
        "cause": None,
        "traceback": None,
    }
