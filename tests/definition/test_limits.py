"""Ids of absurd length and numbers out of range are refused at validation, each with
its step and key (issue 19): ids and names up to 200 characters, ``retry.jitter`` from
0 to 1, counts up to 10,000,000, concurrency up to 1,000,000, environment variable
names as a shell spells them."""

from __future__ import annotations

from typing import Any

import pytest

from plait.definition.loader import parse_definition
from plait.definition.models import MAX_NAME
from plait.errors import Problem

LONG = "s" * (MAX_NAME + 1)
JUST = "s" * MAX_NAME


def problems_of(data: dict[str, Any]) -> list[Problem]:
    return parse_definition({"name": "w", "steps": [], **data}).problems


def one(data: dict[str, Any]) -> Problem:
    problems = problems_of(data)
    assert len(problems) == 1, problems
    return problems[0]


def step(**keys: Any) -> dict[str, Any]:
    return {"steps": [{"id": "a", "tool": "noop", **keys}]}


@pytest.mark.parametrize(
    ("data", "key", "words"),
    [
        ({"name": LONG}, "name", "at most 200 characters"),
        ({"steps": [{"id": LONG, "tool": "noop"}]}, "id", "at most 200 characters"),
        (
            {"steps": [{"id": "g", "parallelGroup": {"id": LONG, "steps": []}}]},
            "parallelGroup.id",
            "at most 200 characters",
        ),
        ({"steps": [{"id": "w", "wait": LONG}]}, "wait", "at most 200 characters"),
        ({"inputs": {LONG: 1}}, "inputs", "longer than 200 characters"),
        ({"inputs": {"": 1}}, "inputs", "text of 1 to 200 characters"),
        ({"pools": {LONG: {}}}, "pools", "longer than 200 characters"),
        (step(retry={"retryOn": [LONG]}), "retry.retryOn[0]", "at most 200 characters"),
    ],
)
def test_an_id_or_name_too_long_is_refused(data: dict[str, Any], key: str, words: str) -> None:
    problem = one(data)
    assert problem.key == key
    assert words in problem.message


def test_an_id_of_exactly_the_limit_is_fine() -> None:
    assert problems_of({"name": JUST, "steps": [{"id": JUST, "tool": "noop"}]}) == []
    assert problems_of({"inputs": {JUST: 1}}) == []


@pytest.mark.parametrize("jitter", [-0.1, 1.5, 5, float("nan"), float("inf")])
def test_jitter_outside_0_to_1_is_refused(jitter: float) -> None:
    problem = one(step(retry={"jitter": jitter}))
    assert (problem.step, problem.key) == ("a", "retry.jitter")
    assert "jitter is a fraction from 0 to 1" in problem.message


@pytest.mark.parametrize("jitter", [0, 0.0, 0.5, 1, True, False])
def test_jitter_in_range_is_fine(jitter: object) -> None:
    assert problems_of(step(retry={"jitter": jitter})) == []


@pytest.mark.parametrize(
    ("data", "key"),
    [
        (step(retry={"maxAttempts": 0}), "retry.maxAttempts"),
        (step(retry={"maxAttempts": 10**30}), "retry.maxAttempts"),
        (step(retry={"backoff": {"multiplier": 0.5}}), "retry.backoff.multiplier"),
        (step(retry={"backoff": {"initial": -1}}), "retry.backoff.initial"),
        (step(timeout=-5), "timeout"),
        (step(timeout="-5s"), "timeout"),
        ({"parallelConfig": {"maxConcurrent": -1}}, "parallelConfig.maxConcurrent"),
        ({"parallelConfig": {"maxConcurrent": 0}}, "parallelConfig.maxConcurrent"),
        ({"parallelConfig": {"queueSize": -1}}, "parallelConfig.queueSize"),
        ({"parallelConfig": {"queueSize": 10**30}}, "parallelConfig.queueSize"),
        ({"parallelConfig": {"timeout": -1}}, "parallelConfig.timeout"),
        ({"parallelConfig": {"rate": -1}}, "parallelConfig.rate"),
        ({"parallelConfig": {"burst": 0}}, "parallelConfig.burst"),
        ({"maxDuration": -1}, "maxDuration"),
        (
            {"steps": [{"id": "g", "parallelGroup": {"steps": [], "maxConcurrent": 10**20}}]},
            "parallelGroup.maxConcurrent",
        ),
        (
            {"steps": [{"id": "g", "type": "parallel", "parallel_steps": [], "maxParallelism": 0}]},
            "maxParallelism",
        ),
        (
            {
                "steps": [
                    {
                        "id": "m",
                        "parallel": {"count": 10**20, "steps": [{"id": "x", "tool": "noop"}]},
                    }
                ]
            },
            "parallel",
        ),
        (
            {
                "steps": [
                    {"id": "m", "parallel": {"count": -1, "steps": [{"id": "x", "tool": "noop"}]}}
                ]
            },
            "parallel",
        ),
        (
            {
                "steps": [
                    {
                        "id": "m",
                        "parallel": {
                            "items": [],
                            "maxConcurrent": 0,
                            "steps": [{"id": "x", "tool": "noop"}],
                        },
                    }
                ]
            },
            "parallel.maxConcurrent",
        ),
        (
            {
                "steps": [
                    {
                        "id": "l",
                        "loop": {
                            "type": "for",
                            "count": 10**11,
                            "steps": [{"id": "x", "tool": "noop"}],
                        },
                    }
                ]
            },
            "loop",
        ),
        (
            {
                "steps": [
                    {
                        "id": "l",
                        "loop": {
                            "type": "while",
                            "condition": True,
                            "maxIterations": 0,
                            "steps": [{"id": "x", "tool": "noop"}],
                        },
                    }
                ]
            },
            "loop.maxIterations",
        ),
        (
            {"circuitBreakers": {"http": {"failureThreshold": 0}}},
            "circuitBreakers.http.failureThreshold",
        ),
    ],
)
def test_a_number_out_of_range_is_refused(data: dict[str, Any], key: str) -> None:
    problem = one(data)
    assert problem.key == key, problem


@pytest.mark.parametrize("name", ["not valid", "1ABC", "A-B", "A=B", "", "É", "A\x00B", LONG])
def test_an_environment_name_that_is_not_one_is_refused(name: str) -> None:
    for env in ([name], {name: "x"}):
        problem = one({"env": env})
        assert problem.key == "env"
        assert "environment variable name" in problem.message


def test_environment_names_a_shell_accepts_are_fine() -> None:
    assert problems_of({"env": ["API_TOKEN", "_x", "a1"]}) == []
    assert problems_of({"env": {"REGION": "eu", "DEBUG": {"required": False}}}) == []
