"""The wait strategies as a table: after each member's outcome, WAIT, SUCCEED or FAIL."""

from __future__ import annotations

import pytest

from plait.definition.models import WaitStrategy
from plait.engine.strategies import STRATEGIES, Decision, Outcome, Tally, strategy_for

S, F, X, N = Outcome.SUCCEEDED, Outcome.FAILED, Outcome.SETTLED, Outcome.NEUTRAL
WAIT, SUCCEED, FAIL = Decision.WAIT, Decision.SUCCEED, Decision.FAIL


@pytest.mark.parametrize(
    ("strategy", "outcomes", "decisions"),
    [
        # three members; the decision after each outcome, in the order they ended
        ("all", [S, S, S], [WAIT, WAIT, SUCCEED]),
        ("all", [S, F], [WAIT, FAIL]),
        ("all", [X, N, S], [WAIT, WAIT, SUCCEED]),  # absorbed and neutral: no failure
        ("all", [N, N, N], [WAIT, WAIT, SUCCEED]),
        ("any", [F, S], [WAIT, SUCCEED]),
        ("any", [X, N, S], [WAIT, WAIT, SUCCEED]),
        ("any", [F, X, N], [WAIT, WAIT, FAIL]),  # nobody succeeded
        ("allSettled", [F, F, F], [WAIT, WAIT, SUCCEED]),
        ("allSettled", [S, X, N], [WAIT, WAIT, SUCCEED]),
        ("race", [S], [SUCCEED]),
        ("race", [F], [FAIL]),
        ("race", [X], [FAIL]),  # ended first, without a result
        ("race", [N, S], [WAIT, SUCCEED]),
        ("race", [N, N, N], [WAIT, WAIT, FAIL]),  # nobody ended with a result
    ],
)
def test_strategy_table(strategy: str, outcomes: list[Outcome], decisions: list[Decision]) -> None:
    policy = strategy_for(strategy)
    tally = Tally(total=3)
    got = []
    for outcome in outcomes:
        tally.count(outcome)
        got.append(policy.on_end(outcome, tally))
    assert got == decisions


@pytest.mark.parametrize(
    ("strategy", "decision"),
    [("all", SUCCEED), ("allSettled", SUCCEED), ("any", FAIL), ("race", FAIL)],
)
def test_with_no_members_a_strategy_decides_from_the_empty_tally(
    strategy: str, decision: Decision
) -> None:
    assert strategy_for(strategy).on_all_ended(Tally(total=0)) is decision


def test_the_tally_counts_successes_and_failures_only() -> None:
    tally = Tally(total=4)
    for outcome in (S, F, X, N):
        tally.count(outcome)
    assert (tally.ended, tally.succeeded, tally.failed, tally.all_ended) == (4, 1, 1, True)


def test_every_wait_strategy_has_one_policy_under_its_spellings() -> None:
    assert set(STRATEGIES) == set(WaitStrategy)
    assert strategy_for("allSettled") is strategy_for(WaitStrategy.ALL_SETTLED)
    assert type(strategy_for("any")).__name__ == "AnyOf"  # not typing.Any's name


def test_an_unknown_strategy_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown wait strategy 'first'; expected one of all"):
        strategy_for("first")
