"""``limits:`` (issue 19): sizes as users write them, and bad ones refused at validation."""

from __future__ import annotations

import pytest

import plait
from plait.definition.limits import DEFAULT_LIMITS, GIB, MIB, Limits, format_size, parse_size
from plait.errors import ValidationError


@pytest.mark.parametrize(
    ("written", "size"),
    [
        (1024, 1024),
        ("1024", 1024),
        ("100B", 100),
        ("16MiB", 16 * MIB),
        ("16 mib", 16 * MIB),
        ("1.5KiB", 1536),
        ("2GB", 2_000_000_000),
        (" 64 KB ", 64_000),
        ("1TiB", 1024 * GIB),
        (2.0, 2),
    ],
)
def test_a_size_is_bytes_or_a_number_with_a_unit(written: object, size: int) -> None:
    assert parse_size(written) == size


@pytest.mark.parametrize(
    ("written", "message"),
    [
        (0, "at least 1 byte"),
        (-1, "at least 1 byte"),
        ("-5MiB", "at least 1 byte"),
        ("0B", "at least 1 byte"),
        ("2TiB", "more than 1 TiB"),
        (10**30, "more than 1 TiB"),
        ("9" * 5000, "more than 1 TiB"),
        ("16 parsecs", "bad size"),
        ("1e3", "bad size"),
        ("MiB", "bad size"),
        ("0.5B", "whole number of bytes"),
        (1.5, "whole number of bytes"),
        (float("inf"), "whole number of bytes"),
        (True, "a size is a number of bytes"),
        (None, "a size is a number of bytes"),
        ([16], "a size is a number of bytes"),
    ],
)
def test_a_bad_size_says_why(written: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_size(written)


def test_sizes_read_back_in_messages() -> None:
    assert format_size(16 * MIB) == "16 MiB"
    assert format_size(GIB) == "1 GiB"
    assert format_size(1536) == "1,536 B"
    assert format_size(3 * 1024) == "3 KiB"


def test_limits_default_to_16_mib_and_1_gib() -> None:
    wf = plait.Workflow.from_dict({"name": "w", "steps": [{"id": "a", "tool": "noop"}]})
    assert wf.plan.limits == DEFAULT_LIMITS == Limits(16 * MIB, GIB)


@pytest.mark.parametrize("spelling", ["maxOutputSize", "max_output_size"])
def test_limits_are_read_from_the_workflow(spelling: str) -> None:
    wf = plait.Workflow.from_dict(
        {"name": "w", "limits": {spelling: "1KiB", "maxRunSize": 10_000}, "steps": []}
    )
    assert wf.plan.limits == Limits(1024, 10_000)


@pytest.mark.parametrize(
    ("limits", "problem"),
    [
        ({"maxOutputSize": -1}, "key 'limits.maxOutputSize': a size limit must be at least 1 byte"),
        ({"maxRunSize": "5 TiB"}, "key 'limits.maxRunSize': size '5 TiB' is more than 1 TiB"),
        ({"maxSteps": 5}, "key 'limits.maxSteps': unknown key"),
        ("16MiB", "key 'limits'"),
    ],
)
def test_bad_limits_are_validation_errors(limits: object, problem: str) -> None:
    wf = plait.Workflow.from_dict({"name": "w", "limits": limits, "steps": []})
    with pytest.raises(ValidationError) as caught:
        wf.validate()
    assert problem in str(caught.value)
