"""Durations: a number is milliseconds; a string takes a unit (SPEC §1)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plait.definition import StepDef, parse_duration


@pytest.mark.parametrize(
    ("written", "seconds"),
    [
        ("250ms", 0.25),
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("1.5s", 1.5),
        (" 10 s ", 10.0),
        (1500, 1.5),
        (0, 0.0),
        (2.5, 0.0025),
    ],
)
def test_duration_is_parsed_to_seconds(written: object, seconds: float) -> None:
    assert parse_duration(written) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "written",
    ["5x", "s", "", "-5s", "1e3s", "ten seconds", -1, True, None, [5], "9000h"],
)
def test_bad_duration_is_rejected(written: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(written)


@given(st.integers(min_value=0, max_value=10**9))
def test_a_number_and_the_same_number_of_ms_agree(ms: int) -> None:
    assert parse_duration(ms) == parse_duration(f"{ms}ms") == pytest.approx(ms / 1000)


def test_step_timeout_number_is_milliseconds() -> None:
    step = StepDef.model_validate({"id": "a", "tool": "noop", "timeout": 1500})
    assert step.timeout == pytest.approx(1.5)


def test_step_timeout_string_takes_its_unit() -> None:
    step = StepDef.model_validate({"id": "a", "tool": "noop", "timeout": "5m"})
    assert step.timeout == pytest.approx(300.0)
