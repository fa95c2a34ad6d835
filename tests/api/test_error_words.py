"""An error's own words (``PlaitError.plain``) and type (``type_name``): what a step
records when a plait error ends it, without a ``WorkflowError``'s location."""

from __future__ import annotations

import pytest

from plait.errors import (
    ExpressionError,
    Problem,
    StepFailed,
    StepTimedOut,
    StoreError,
    WorkflowError,
    plain,
    type_name,
)


@pytest.mark.parametrize(
    ("error", "words", "kind"),
    [
        (StepFailed("boom", type="Boom"), "boom", "Boom"),
        (StepTimedOut("too slow"), "too slow", "TimeoutError"),
        (StepFailed(""), "StepFailed", "StepFailed"),
        (ExpressionError("unknown name 'error'"), "unknown name 'error'", "ExpressionError"),
        (
            WorkflowError([Problem("a", file="f.yaml", step="s"), Problem("b", key="k")]),
            "a; b",
            "WorkflowError",
        ),
        (StoreError("disk full"), "disk full", "StoreError"),
        (ValueError("bad"), "bad", "ValueError"),
        (KeyError(), "KeyError", "KeyError"),
    ],
)
def test_an_error_s_own_words_and_type(error: BaseException, words: str, kind: str) -> None:
    assert (plain(error), type_name(error)) == (words, kind)


def test_str_keeps_the_location_plain_drops_it() -> None:
    error = ExpressionError("unknown name 'error'")
    assert str(error) == "<workflow>: unknown name 'error'"
    assert error.plain == "unknown name 'error'"
