"""``json_size``: a value weighed as its JSON text, without writing the text, stopping
once over the limit (issue 19)."""

from __future__ import annotations

import enum
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plait.expressions.values import json_size

FAR = 10**12

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=40) | st.dictionaries(st.text(max_size=10), inner, max_size=20)
    ),
    max_leaves=60,
)
plain = st.recursive(  # ASCII text without escapes, null and booleans: counted exactly
    st.none()
    | st.booleans()
    | st.text(st.characters(min_codepoint=32, max_codepoint=126, exclude_characters='"\\')),
    lambda inner: (
        st.lists(inner, max_size=40)
        | st.dictionaries(st.text("abcxyz", max_size=10), inner, max_size=20)
    ),
    max_leaves=60,
)


@given(values)
@settings(max_examples=100, deadline=None)
def test_never_more_than_the_json_text(value: Any) -> None:
    assert json_size(value, FAR) <= len(json.dumps(value))


@given(plain)
@settings(max_examples=100, deadline=None)
def test_exact_for_plain_text_lists_and_mappings(value: Any) -> None:
    assert json_size(value, FAR) == len(json.dumps(value))


@given(values, st.integers(min_value=1, max_value=500))
@settings(max_examples=100, deadline=None)
def test_over_the_limit_exactly_when_the_full_count_is(value: Any, limit: int) -> None:
    full = json_size(value, FAR)
    assert (json_size(value, limit) > limit) == (full > limit)


@pytest.mark.parametrize(
    "value",
    [
        [None] * 100,
        ["abc"] * 100,
        list(range(-50, 500)),
        [1.5] * 40,
        [True, False] * 20,
        [False] * 20,
        {f"k{i}": i for i in range(100)},
        {i: "v" for i in range(100)},
        [{"id": i, "tags": ["a", "b"], "v": None} for i in range(50)],
    ],
)
def test_containers_weighed_in_bulk_stay_a_lower_bound(value: Any) -> None:
    assert json_size(value, FAR) <= len(json.dumps(value))


def test_a_list_doubled_40_times_is_refused_after_about_limit_steps() -> None:
    doubled: list[Any] = ["x"]
    for _ in range(40):
        doubled = [doubled, doubled]  # 2**40 leaves as text, 41 lists in memory
    assert json_size(doubled, 10_000) > 10_000


def test_a_list_that_holds_itself_is_endless() -> None:
    endless: list[Any] = [1]
    endless.append(endless)
    assert json_size(endless, 10_000) > 10_000


def test_a_huge_flat_container_is_refused_before_it_is_walked() -> None:
    assert json_size([[]] * 10_000_000, 1000) > 1000
    assert json_size(dict.fromkeys(range(1_000_000)), 1000) > 1000


def test_any_depth_without_recursion() -> None:
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    assert json_size(deep, FAR) == len("[" * 100_001 + "]" * 100_001)


class Colour(enum.IntEnum):
    RED = 12345


def test_subclasses_sets_and_objects() -> None:
    assert json_size([Colour.RED] * 3, FAR) <= len(json.dumps([Colour.RED] * 3))
    assert json_size({1, 2, 3}, FAR) == len("[1, 2, 3]")
    assert json_size(b"\0" * 1000, FAR) >= 1000  # not JSON: its size in memory
    assert json_size(object(), FAR) >= 1
