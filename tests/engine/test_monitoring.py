"""Logs (issue 5): ``plait.pool`` and ``plait.parallel`` records with structured
``extra`` fields, and nothing built when the loggers are off."""

from __future__ import annotations

import logging

import pytest

import plait
from helpers.probe import group, workflow
from plait.engine import monitor


def events(caplog: pytest.LogCaptureFixture, logger: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == logger]


async def test_slot_grant_and_release_are_debug_records(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="plait.pool")
    wf = workflow({"id": "s", "tool": "echo", "input": 1, "pool": "api"}, pools={"api": {}})
    await wf.run()
    granted, released = events(caplog, "plait.pool")
    assert (granted.levelno, granted.event, granted.pool, granted.step) == (  # type: ignore[attr-defined]
        logging.DEBUG,
        "slot_granted",
        "api",
        "s",
    )
    assert granted.wait >= 0  # type: ignore[attr-defined]
    assert (released.event, released.step, released.reason) == ("slot_released", "s", "succeeded")  # type: ignore[attr-defined]
    assert released.duration >= 0  # type: ignore[attr-defined]
    assert "pool 'api': slot granted to 's'" in granted.getMessage()


async def test_a_full_queue_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="plait.pool")
    wf = workflow(
        {"id": "a", "tool": "sleep", "input": {"duration": 10}},
        {"id": "b", "tool": "noop"},
        parallelConfig={"maxConcurrent": 1, "queueSize": 0},
    )
    result = await wf.run()
    assert result.steps["b"].error["type"] == "PoolFull"  # type: ignore[index]
    (full,) = events(caplog, "plait.pool")
    assert (full.levelno, full.event, full.pool, full.step) == (  # type: ignore[attr-defined]
        logging.WARNING,
        "queue_full",
        "default",
        "b",
    )


@pytest.mark.looptime
async def test_breaker_transitions_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="plait.pool")
    fail = {"tool": "fail", "pool": "api", "continueOnError": True}
    wf = workflow(
        {"id": "f1", **fail},
        {"id": "pause", "tool": "sleep", "input": {"duration": "2s"}, "dependsOn": ["f1"]},
        {"id": "ok", "tool": "echo", "pool": "api", "dependsOn": ["pause"]},
        pools={"api": {"circuitBreaker": {"failureThreshold": 1, "resetTimeout": "1s"}}},
    )
    await wf.run()
    records = events(caplog, "plait.pool")
    assert [(r.event, r.levelno) for r in records] == [  # type: ignore[attr-defined]
        ("breaker_open", logging.WARNING),
        ("breaker_half_open", logging.INFO),
        ("breaker_closed", logging.INFO),
    ]
    assert {r.pool for r in records} == {"api"}  # type: ignore[attr-defined]
    assert records[0].getMessage() == "pool 'api': circuit open (was closed)"


async def test_an_adaptive_limit_change_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="plait.pool")
    wf = workflow(
        {"id": "f", "tool": "fail", "pool": "api"},
        pools={"api": {"maxConcurrent": {"auto": True, "initial": 8}}},
    )
    await wf.run()
    (changed,) = events(caplog, "plait.pool")
    assert (changed.event, changed.limit, changed.previous, changed.reason) == (  # type: ignore[attr-defined]
        "limit_lowered",
        4,
        8,
        "error",
    )


async def test_groups_and_maps_log_their_start_and_end(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="plait.parallel")
    wf = workflow(
        group("g", ["a", "b"], waitStrategy="any"),
        {"id": "a", "tool": "echo", "input": 1},
        {"id": "b", "tool": "fail"},
        {"id": "m", "parallel": {"count": 2, "steps": [{"id": "t", "tool": "noop"}]}},
    )
    await wf.run()
    seen = {(r.event, r.group) for r in events(caplog, "plait.parallel")}  # type: ignore[attr-defined]
    assert seen == {
        ("group_started", "g"),
        ("group_ended", "g"),
        ("group_started", "m"),
        ("group_ended", "m"),
    }
    ended = {r.group: r for r in events(caplog, "plait.parallel") if r.event == "group_ended"}  # type: ignore[attr-defined]
    assert (ended["g"].kind, ended["g"].status, ended["g"].winner) == ("group", "succeeded", "a")  # type: ignore[attr-defined]
    assert ended["m"].kind == "map"  # type: ignore[attr-defined]
    assert ended["m"].duration >= 0  # type: ignore[attr-defined]


async def test_nothing_is_built_when_the_loggers_are_off(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.WARNING, logger="plait")

    def must_not_run(*args: object) -> None:
        raise AssertionError("a record was built for a disabled logger")

    for name in ("slot_granted", "slot_released", "parallel_started", "parallel_ended"):
        monkeypatch.setattr(monitor, name, must_not_run)
    wf = workflow(
        group("g", ["a"]),
        {"id": "a", "tool": "noop"},
        {"id": "m", "parallel": {"count": 2, "steps": [{"id": "t", "tool": "noop"}]}},
    )
    result = await wf.run()
    assert result.status is plait.RunStatus.SUCCEEDED
